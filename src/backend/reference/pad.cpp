// Pad (opsets 1..19): modes constant, reflect, edge and wrap (19); pads from the attribute (<11)
// or input 1 with optional axes (18); negative pads crop. Each output dim gets an index map
// out -> in (-1 = constant); rows of the innermost dim copy their interior with one memcpy and
// map only the padded ends element by element.
#include <algorithm>
#include <cstring>
#include <string>

#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/shape_op_params.h"

namespace shoal {

namespace {

int64_t map_index(int64_t x, int64_t dim, const std::string& mode) {
  if (x >= 0 && x < dim) return x;
  if (mode == "constant") return -1;
  if (mode == "edge") return x < 0 ? 0 : dim - 1;
  if (mode == "wrap") return ((x % dim) + dim) % dim;
  // reflect (mirror without repeating the edge), folded for pads longer than the dim
  if (dim == 1) return 0;
  const int64_t period = 2 * (dim - 1);
  int64_t m = ((x % period) + period) % period;
  return m < dim ? m : period - m;
}

}  // namespace

void ref_Pad(RefArgs& a) {
  const Tensor& in = a.in[0];
  Tensor& out = a.out[0];
  const Node& n = a.node;
  const std::string label = kernel_label(n);
  const std::string mode = n.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap") {
    fail(ErrorCode::kUnsupported, "{}: pad mode '{}' is not supported", label, mode);
  }
  std::vector<int64_t> pads;
  std::vector<int64_t> axes;
  const size_t es = dtype_size(in.dtype());
  alignas(16) unsigned char value_bytes[16] = {};  // the constant, in the tensor's dtype
  Tensor value = Tensor::borrow(in.dtype(), {}, value_bytes);
  if (es > sizeof(value_bytes)) {
    fail(ErrorCode::kUnsupported, "{}: {} elements", label, dtype_name(in.dtype()));
  }
  if (a.opset < 11) {
    pads = n.attr_ints(a.opset < 2 ? "paddings" : "pads");
    value.set_f64(0, n.attr_float("value", 0.f));
  } else {
    pads = a.in.at(1).to_i64_vector();
    if (a.in.size() > 2 && a.in[2].defined() && a.in[2].numel() > 0) {
      if (a.in[2].dtype() != in.dtype()) {
        fail(ErrorCode::kInvalidModel, "{}: constant_value is {}, data is {}", label,
             dtype_name(a.in[2].dtype()), dtype_name(in.dtype()));
      }
      std::memcpy(value.raw(), a.in[2].raw(), es);
    }
    if (a.opset >= 18 && a.in.size() > 3 && a.in[3].defined()) axes = a.in[3].to_i64_vector();
  }
  const PadParams p = pad_params(in.dims(), pads, axes, label);
  if (p.out_dims != out.dims()) {
    fail(ErrorCode::kInternal, "{}: output {} but the pads give {}", label, dims_str(out.dims()),
         dims_str(p.out_dims));
  }
  if (out.numel() == 0) return;
  const size_t r = in.dims().size();
  if (r == 0) {
    std::memcpy(out.raw(), in.raw(), es);
    return;
  }
  if (in.numel() == 0 && mode != "constant") {
    fail(ErrorCode::kInvalidModel, "{}: {} padding of empty input {}", label, mode,
         dims_str(in.dims()));
  }
  std::vector<std::vector<int64_t>> map(r);
  for (size_t k = 0; k < r; ++k) {
    map[k].resize(static_cast<size_t>(out.dims()[k]));
    for (int64_t o = 0; o < out.dims()[k]; ++o) {
      map[k][static_cast<size_t>(o)] = map_index(o - p.begin[k], in.dims()[k], mode);
    }
  }
  const std::vector<int64_t> is = dense_strides(in.dims());
  const int64_t olast = out.dims()[r - 1];
  const int64_t ilast = in.dims()[r - 1];
  // Interior of a row: output columns [c0, c1) copy input columns [c0 - begin, c1 - begin).
  const int64_t c0 = std::clamp<int64_t>(p.begin[r - 1], 0, olast);
  const int64_t c1 = std::clamp<int64_t>(p.begin[r - 1] + ilast, c0, olast);
  const std::vector<int64_t>& lmap = map[r - 1];
  const int64_t esz = static_cast<int64_t>(es);
  const char* src = static_cast<const char*>(in.raw());
  char* dst = static_cast<char*>(out.raw());
  const int64_t rows = out.numel() / olast;
  std::vector<int64_t> cnt(r - 1, 0);
  for (int64_t row = 0; row < rows; ++row, dst += olast * esz) {
    int64_t off = 0;
    bool is_const = false;
    for (size_t k = 0; k + 1 < r; ++k) {
      const int64_t m = map[k][static_cast<size_t>(cnt[k])];
      if (m < 0) is_const = true;
      off += m * is[k];
    }
    if (is_const) {
      fill_pattern(dst, olast, value.raw(), es);
    } else {
      const char* srow = src + off * esz;
      auto put = [&](int64_t c) {
        const int64_t m = lmap[static_cast<size_t>(c)];
        std::memcpy(dst + c * esz, m < 0 ? value.raw() : srow + m * esz, es);
      };
      for (int64_t c = 0; c < c0; ++c) put(c);
      if (c1 > c0) {
        std::memcpy(dst + c0 * esz, srow + (c0 - p.begin[r - 1]) * esz,
                    static_cast<size_t>(c1 - c0) * es);
      }
      for (int64_t c = c1; c < olast; ++c) put(c);
    }
    for (size_t k = r - 1; k-- > 0;) {
      if (++cnt[k] < out.dims()[k]) break;
      cnt[k] = 0;
    }
  }
}

}  // namespace shoal
