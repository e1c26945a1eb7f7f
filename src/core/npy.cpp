#include "core/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace shoal {
namespace {

DType dtype_from_descr(const std::string& d, const std::string& path) {
  if (d == "<f4") return DType::kF32;
  if (d == "<f8") return DType::kF64;
  if (d == "<f2") return DType::kF16;
  if (d == "<i8") return DType::kI64;
  if (d == "<i4") return DType::kI32;
  if (d == "|i1") return DType::kI8;
  if (d == "|u1") return DType::kU8;
  if (d == "|b1") return DType::kBool;
  fail(ErrorCode::kInvalidArgument, "{}: unsupported .npy dtype '{}' (use float32, int64, ...)", path,
       d);
}

const char* descr_of(DType t) {
  switch (t) {
    case DType::kF32: return "<f4";
    case DType::kF64: return "<f8";
    case DType::kF16: return "<f2";
    case DType::kI64: return "<i8";
    case DType::kI32: return "<i4";
    case DType::kI8: return "|i1";
    case DType::kU8: return "|u1";
    case DType::kBool: return "|b1";
    default: fail(ErrorCode::kInvalidArgument, "cannot write dtype {} to .npy", dtype_name(t));
  }
}

std::string header_value(const std::string& h, const std::string& key) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) return {};
  size_t c = h.find(':', k);
  if (c == std::string::npos) return {};
  size_t s = c + 1;
  while (s < h.size() && h[s] == ' ') ++s;
  if (s >= h.size()) return {};
  if (h[s] == '\'') {
    size_t e = h.find('\'', s + 1);
    return e == std::string::npos ? std::string{} : h.substr(s + 1, e - s - 1);
  }
  if (h[s] == '(') {
    size_t e = h.find(')', s);
    return e == std::string::npos ? std::string{} : h.substr(s, e - s + 1);
  }
  size_t e = h.find_first_of(",}", s);
  return h.substr(s, e == std::string::npos ? std::string::npos : e - s);
}

}  // namespace

Tensor read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::kNotFound, "cannot open '{}'", path);
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    fail(ErrorCode::kInvalidArgument, "'{}' is not a .npy file (bad magic)", path);
  }
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    uint8_t b[2];
    if (!f.read(reinterpret_cast<char*>(b), 2)) fail(ErrorCode::kInvalidArgument, "'{}': truncated", path);
    hlen = b[0] | (b[1] << 8);
  } else {
    uint8_t b[4];
    if (!f.read(reinterpret_cast<char*>(b), 4)) fail(ErrorCode::kInvalidArgument, "'{}': truncated", path);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  if (hlen > (1u << 20)) fail(ErrorCode::kInvalidArgument, "'{}': header too large", path);
  std::string h(hlen, '\0');
  if (!f.read(h.data(), hlen)) fail(ErrorCode::kInvalidArgument, "'{}': truncated header", path);
  DType dt = dtype_from_descr(header_value(h, "descr"), path);
  if (header_value(h, "fortran_order") != "False") {
    fail(ErrorCode::kInvalidArgument, "'{}': Fortran-order arrays are not supported; save with C order",
         path);
  }
  std::string shape = header_value(h, "shape");
  if (shape.size() < 2) fail(ErrorCode::kInvalidArgument, "'{}': no shape in header", path);
  Dims dims;
  std::stringstream ss(shape.substr(1, shape.size() - 2));
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = item.find_first_not_of(' ');
    if (a == std::string::npos) continue;
    try {
      dims.push_back(std::stoll(item.substr(a)));
    } catch (const std::exception&) {
      fail(ErrorCode::kInvalidArgument, "'{}': bad shape '{}'", path, shape);
    }
  }
  Tensor t(dt, dims);
  if (!f.read(static_cast<char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()))) {
    fail(ErrorCode::kInvalidArgument, "'{}': data truncated (expected {} bytes for {})", path,
         t.nbytes(), dims_str(dims));
  }
  return t;
}

void write_npy(const std::string& path, const Tensor& t) {
  std::string shape = "(";
  for (size_t i = 0; i < t.dims().size(); ++i) {
    shape += std::to_string(t.dims()[i]);
    shape += (t.dims().size() == 1 || i + 1 < t.dims().size()) ? "," : "";
    if (i + 1 < t.dims().size()) shape += " ";
  }
  shape += ")";
  std::string h = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                              descr_of(t.dtype()), shape);
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::kNotFound, "cannot write '{}'", path);
  f.write("\x93NUMPY\x01\x00", 8);
  uint16_t hl = static_cast<uint16_t>(h.size());
  char b[2] = {static_cast<char>(hl & 0xff), static_cast<char>(hl >> 8)};
  f.write(b, 2);
  f.write(h.data(), static_cast<std::streamsize>(h.size()));
  f.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
  if (!f) fail(ErrorCode::kNotFound, "write to '{}' failed", path);
}

}  // namespace shoal
