// Element types, dimensions and the host tensor (an owning or borrowed, 64-byte aligned buffer).
// Knows nothing about graphs, backends or layouts other than dense row-major.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace shoal {

enum class DType : uint8_t { kUndefined, kF32, kF64, kF16, kBF16, kI8, kU8, kI32, kI64, kBool };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);
bool dtype_is_float(DType t);

using Dims = std::vector<int64_t>;

// Number of elements; throws kLimit on overflow or a negative dim.
int64_t num_elements(const Dims& dims);
std::string dims_str(const Dims& dims);

// Largest tensor Shoal will allocate from model data (guards against hostile shapes).
inline constexpr int64_t kMaxTensorBytes = int64_t{4} << 30;

// A dense row-major tensor in host memory. Copying a Tensor shares its storage.
class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-initialised storage.
  Tensor(DType dtype, Dims dims);
  // Borrows `data` (not owned; caller keeps it alive).
  static Tensor borrow(DType dtype, Dims dims, void* data);

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }

  // Same storage, new dims with the same element count.
  Tensor reshaped(Dims dims) const;
  // Deep copy.
  Tensor clone() const;

  // Reads element i converted to double / int64 (any numeric dtype).
  double get_f64(int64_t i) const;
  int64_t get_i64(int64_t i) const;
  void set_f64(int64_t i, double v);
  // All values as int64 (for shape-like tensors).
  std::vector<int64_t> to_i64_vector() const;

 private:
  DType dtype_ = DType::kUndefined;
  Dims dims_;
  int64_t numel_ = 0;
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
};

// Converts any numeric tensor to the given dtype (rounding float->int toward zero as ONNX Cast).
Tensor cast_tensor(const Tensor& t, DType to);

float bf16_to_f32(uint16_t v);
uint16_t f32_to_bf16(float v);
float f16_to_f32(uint16_t v);
uint16_t f32_to_f16(float v);
// n values at once (F16C on x86-64 CPUs with AVX2; the same round-to-nearest-even as f32_to_f16).
void f32_to_f16_n(const float* src, uint16_t* dst, int64_t n);
void f16_to_f32_n(const uint16_t* src, float* dst, int64_t n);

}  // namespace shoal
