// Shape functions of the shape and data-movement ops (Identity ... Tile in ops.def), following the
// ONNX spec for opsets 7..19 including the attribute-to-input moves between opsets.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>

#include "core/error.h"
#include "graph/shape_inference.h"
#include "graph/shape_op_params.h"

namespace shoal {

namespace {

// ONNX TensorProto.DataType -> DType (kUndefined for types Shoal does not hold).
DType dtype_from_onnx(int64_t t) {
  switch (t) {
    case 1:
      return DType::kF32;
    case 2:
      return DType::kU8;
    case 3:
      return DType::kI8;
    case 6:
      return DType::kI32;
    case 7:
      return DType::kI64;
    case 9:
      return DType::kBool;
    case 10:
      return DType::kF16;
    case 11:
      return DType::kF64;
    case 16:
      return DType::kBF16;
    default:
      return DType::kUndefined;
  }
}

const char* onnx_dtype_name(int64_t t) {
  static const char* const kNames[] = {
      "undefined",      "float",      "uint8",          "int8",       "uint16",   "int16",
      "int32",          "int64",      "string",         "bool",       "float16",  "double",
      "uint32",         "uint64",     "complex64",      "complex128", "bfloat16", "float8e4m3fn",
      "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4",      "int4"};
  if (t < 0 || t >= static_cast<int64_t>(std::size(kNames))) return "unknown";
  return kNames[t];
}

// An optional constant int input (empty when omitted).
std::vector<int64_t> optional_ints(const InferContext& c, int i) {
  return c.has_input(i) ? c.constant_ints(i) : std::vector<int64_t>{};
}

// ONNX Reshape: 0 copies the input dim (unless allowzero), one -1 is inferred.
Dims reshape_dims(const Dims& in, const std::vector<int64_t>& shape, bool allowzero,
                  const std::string& label) {
  const int64_t n = num_elements(in);
  auto bad = [&](const std::string& why) {
    fail(ErrorCode::kInvalidModel, "{}: cannot reshape {} ({} elements) to {}{}", label,
         dims_str(in), n, dims_str(shape), why);
  };
  Dims out(shape.size());
  int64_t infer_at = -1;
  int64_t known = 1;
  bool has_zero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    if (d == -1) {
      if (infer_at >= 0) bad(": more than one -1");
      infer_at = static_cast<int64_t>(i);
      continue;
    }
    if (d < -1) bad(": negative dimension");
    if (d == 0 && !allowzero) {
      if (i >= in.size()) bad(": 0 copies a dim the input does not have");
      d = in[i];
    }
    if (d == 0) has_zero = true;
    out[i] = d;
    known = checked_mul(known, d);
  }
  if (infer_at >= 0) {
    if (has_zero && allowzero) bad(": allowzero with both 0 and -1");
    if (known == 0 || n % known != 0) bad("");
    out[static_cast<size_t>(infer_at)] = n / known;
  } else if (known != n) {
    bad("");
  }
  return out;
}

}  // namespace

void infer_Identity(InferContext& c) { c.set_output(0, c.dtype(0), c.dims(0)); }

void infer_Dropout(InferContext& c) {
  c.set_output(0, c.dtype(0), c.dims(0));
  c.set_output(1, c.opset() >= 10 ? DType::kBool : c.dtype(0), c.dims(0));
}

void infer_Constant(InferContext& c) {
  const Node& n = c.node();
  if (n.has_attr("sparse_value")) {
    fail(ErrorCode::kUnsupported, "{}: sparse_value constants are not supported", c.label());
  }
  if (n.has_attr("value_string") || n.has_attr("value_strings")) {
    fail(ErrorCode::kUnsupported, "{}: string constants are not supported", c.label());
  }
  if (n.has_attr("value")) {
    const Attribute& a = n.attrs.at("value");
    if (a.kind != Attribute::Kind::kTensor || !a.t.defined()) {
      fail(ErrorCode::kInvalidModel, "{}: attribute 'value' must be a tensor", c.label());
    }
    c.set_output(0, a.t.dtype(), a.t.dims());
  } else if (n.has_attr("value_float")) {
    c.set_output(0, DType::kF32, {});
  } else if (n.has_attr("value_floats")) {
    c.set_output(0, DType::kF32, {static_cast<int64_t>(n.attr_floats("value_floats").size())});
  } else if (n.has_attr("value_int")) {
    c.set_output(0, DType::kI64, {});
  } else if (n.has_attr("value_ints")) {
    c.set_output(0, DType::kI64, {static_cast<int64_t>(n.attr_ints("value_ints").size())});
  } else {
    fail(ErrorCode::kInvalidModel, "{}: no value attribute", c.label());
  }
}

void infer_ConstantOfShape(InferContext& c) {
  Dims dims = c.constant_ints(0);
  for (int64_t d : dims) {
    if (d < 0) {
      fail(ErrorCode::kInvalidModel, "{}: negative dimension in shape {}", c.label(),
           dims_str(dims));
    }
  }
  DType dt = DType::kF32;
  if (c.node().has_attr("value")) {
    const Attribute& a = c.node().attrs.at("value");
    if (a.kind != Attribute::Kind::kTensor || a.t.numel() != 1) {
      fail(ErrorCode::kInvalidModel, "{}: attribute 'value' must be a one-element tensor",
           c.label());
    }
    dt = a.t.dtype();
  }
  c.set_output(0, dt, std::move(dims));
}

void infer_Shape(InferContext& c) {
  const int64_t r = static_cast<int64_t>(c.dims(0).size());
  int64_t start = c.opset() >= 15 ? c.node().attr_int("start", 0) : 0;
  int64_t end = c.opset() >= 15 ? c.node().attr_int("end", r) : r;
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  c.set_output(0, DType::kI64, {std::max<int64_t>(0, end - start)});
}

void infer_Size(InferContext& c) { c.set_output(0, DType::kI64, {}); }

void infer_Cast(InferContext& c) {
  int64_t to = c.node().attr_int("to", 0);
  DType dt = dtype_from_onnx(to);
  if (dt == DType::kUndefined) {
    fail(ErrorCode::kUnsupported, "{}: cast to {} (type {}) is not supported", c.label(),
         onnx_dtype_name(to), to);
  }
  c.set_output(0, dt, c.dims(0));
}

void infer_CastLike(InferContext& c) {
  if (c.dtype(1) == DType::kUndefined) {
    fail(ErrorCode::kUnsupported, "{}: target dtype is not supported", c.label());
  }
  c.set_output(0, c.dtype(1), c.dims(0));
}

void infer_Reshape(InferContext& c) {
  std::vector<int64_t> shape = c.opset() < 5 ? c.node().attr_ints("shape") : c.constant_ints(1);
  bool allowzero = c.opset() >= 14 && c.node().attr_int("allowzero", 0) != 0;
  c.set_output(0, c.dtype(0), reshape_dims(c.dims(0), shape, allowzero, c.label()));
}

void infer_Flatten(InferContext& c) {
  const Dims& in = c.dims(0);
  const int64_t r = static_cast<int64_t>(in.size());
  int64_t axis = c.node().attr_int("axis", 1);
  if (axis < -r || axis > r) {
    fail(ErrorCode::kInvalidModel, "{}: axis {} is out of range for rank {}", c.label(), axis, r);
  }
  if (axis < 0) axis += r;
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t i = 0; i < r; ++i) {
    int64_t& acc = i < axis ? outer : inner;
    acc = checked_mul(acc, in[static_cast<size_t>(i)]);
  }
  c.set_output(0, c.dtype(0), {outer, inner});
}

void infer_Squeeze(InferContext& c) {
  const Dims& in = c.dims(0);
  const int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> axes = c.opset() < 13 ? c.node().attr_ints("axes") : optional_ints(c, 1);
  std::vector<bool> drop(in.size(), false);
  if (axes.empty()) {
    for (size_t k = 0; k < in.size(); ++k) drop[k] = in[k] == 1;
  }
  for (int64_t a : axes) {
    int64_t k = normalize_axis(a, r, c.label());
    if (in[static_cast<size_t>(k)] != 1 && in[static_cast<size_t>(k)] >= 0) {
      fail(ErrorCode::kInvalidModel, "{}: cannot squeeze axis {} of {}: its size is not 1",
           c.label(), a, dims_str(in));
    }
    drop[static_cast<size_t>(k)] = true;
  }
  Dims out;
  for (size_t k = 0; k < in.size(); ++k) {
    if (!drop[k]) out.push_back(in[k]);
  }
  c.set_output(0, c.dtype(0), std::move(out));
}

void infer_Unsqueeze(InferContext& c) {
  const Dims& in = c.dims(0);
  std::vector<int64_t> axes = c.opset() < 13 ? c.node().attr_ints("axes") : c.constant_ints(1);
  const int64_t r = static_cast<int64_t>(in.size() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(r), false);
  for (int64_t a : axes) {
    int64_t k = normalize_axis(a, r, c.label());
    if (inserted[static_cast<size_t>(k)]) {
      fail(ErrorCode::kInvalidModel, "{}: axis {} appears twice in axes {}", c.label(), a,
           dims_str(axes));
    }
    inserted[static_cast<size_t>(k)] = true;
  }
  Dims out(static_cast<size_t>(r));
  size_t j = 0;
  for (size_t k = 0; k < out.size(); ++k) out[k] = inserted[k] ? 1 : in[j++];
  c.set_output(0, c.dtype(0), std::move(out));
}

void infer_Transpose(InferContext& c) {
  const Dims& in = c.dims(0);
  const size_t r = in.size();
  std::vector<int64_t> perm = c.node().attr_ints("perm");
  if (perm.empty()) {
    for (size_t k = 0; k < r; ++k) perm.push_back(static_cast<int64_t>(r - 1 - k));
  }
  std::vector<bool> seen(r, false);
  bool ok = perm.size() == r;
  for (size_t k = 0; ok && k < r; ++k) {
    ok = perm[k] >= 0 && perm[k] < static_cast<int64_t>(r) && !seen[static_cast<size_t>(perm[k])];
    if (ok) seen[static_cast<size_t>(perm[k])] = true;
  }
  if (!ok) {
    fail(ErrorCode::kInvalidModel, "{}: perm {} is not a permutation of the {} dims of {}",
         c.label(), dims_str(perm), r, dims_str(in));
  }
  Dims out(r);
  for (size_t k = 0; k < r; ++k) out[k] = in[static_cast<size_t>(perm[k])];
  c.set_output(0, c.dtype(0), std::move(out));
}

void infer_Concat(InferContext& c) {
  const Dims& first = c.dims(0);
  const int64_t r = static_cast<int64_t>(first.size());
  if (r == 0) fail(ErrorCode::kInvalidModel, "{}: cannot concatenate scalars", c.label());
  if (!c.node().has_attr("axis") && c.opset() >= 4) {
    fail(ErrorCode::kInvalidModel, "{}: attribute 'axis' is required", c.label());
  }
  const int64_t axis = normalize_axis(c.node().attr_int("axis", 1), r, c.label());
  Dims out = first;
  out[static_cast<size_t>(axis)] = 0;
  for (int i = 0; i < c.num_inputs(); ++i) {
    const Dims& d = c.dims(i);
    bool ok = static_cast<int64_t>(d.size()) == r && c.dtype(i) == c.dtype(0);
    for (int64_t k = 0; ok && k < r; ++k) {
      ok = k == axis || d[static_cast<size_t>(k)] == first[static_cast<size_t>(k)];
    }
    if (!ok) {
      fail(ErrorCode::kInvalidModel,
           "{}: input {} {} of {} does not match input 0 {} of {} "
           "outside axis {}",
           c.label(), i, dims_str(d), dtype_name(c.dtype(i)), dims_str(first),
           dtype_name(c.dtype(0)), axis);
    }
    out[static_cast<size_t>(axis)] =
        checked_add(out[static_cast<size_t>(axis)], d[static_cast<size_t>(axis)]);
  }
  c.set_output(0, c.dtype(0), std::move(out));
}

void infer_Split(InferContext& c) {
  const Dims& in = c.dims(0);
  const int64_t r = static_cast<int64_t>(in.size());
  const int64_t axis = normalize_axis(c.node().attr_int("axis", 0), r, c.label());
  const int64_t dim = in[static_cast<size_t>(axis)];
  const int64_t n = c.num_outputs();
  std::vector<int64_t> sizes = c.opset() < 13 ? c.node().attr_ints("split") : optional_ints(c, 1);
  if (!sizes.empty()) {
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) sum = -1;
      if (sum >= 0) sum = checked_add(sum, s);
    }
    if (static_cast<int64_t>(sizes.size()) != n || sum != dim) {
      fail(ErrorCode::kInvalidModel,
           "{}: split {} does not divide dim {} ({}) of {} into {} "
           "outputs",
           c.label(), dims_str(sizes), axis, dim, dims_str(in), n);
    }
  } else if (c.opset() >= 18 && c.node().has_attr("num_outputs")) {
    int64_t k = c.node().attr_int("num_outputs", 0);
    if (k != n || k <= 0) {
      fail(ErrorCode::kInvalidModel, "{}: num_outputs {} but the node has {} outputs", c.label(), k,
           n);
    }
    int64_t chunk = (dim + k - 1) / k;  // uneven: the last chunk is smaller
    int64_t left = dim;
    for (int64_t i = 0; i < k; ++i) {
      sizes.push_back(std::min(chunk, left));
      left -= sizes.back();
    }
  } else {
    if (n <= 0 || dim % n != 0) {
      fail(ErrorCode::kInvalidModel,
           "{}: dim {} ({}) of {} does not split evenly into {} "
           "outputs",
           c.label(), axis, dim, dims_str(in), n);
    }
    sizes.assign(static_cast<size_t>(n), dim / n);
  }
  for (int64_t i = 0; i < n; ++i) {
    Dims d = in;
    d[static_cast<size_t>(axis)] = sizes[static_cast<size_t>(i)];
    c.set_output(static_cast<int>(i), c.dtype(0), std::move(d));
  }
}

void infer_Slice(InferContext& c) {
  SliceParams p;
  if (c.opset() < 10) {
    const Node& n = c.node();
    p = slice_params(c.dims(0), n.attr_ints("starts"), n.attr_ints("ends"), n.attr_ints("axes"), {},
                     c.label());
  } else {
    p = slice_params(c.dims(0), c.constant_ints(1), c.constant_ints(2), optional_ints(c, 3),
                     optional_ints(c, 4), c.label());
  }
  c.set_output(0, c.dtype(0), std::move(p.out_dims));
}

void infer_Gather(InferContext& c) {
  const Dims& data = c.dims(0);
  const Dims& idx = c.dims(1);
  const int64_t r = static_cast<int64_t>(data.size());
  if (r == 0) fail(ErrorCode::kInvalidModel, "{}: cannot gather from a scalar", c.label());
  if (c.dtype(1) != DType::kI32 && c.dtype(1) != DType::kI64) {
    fail(ErrorCode::kInvalidModel, "{}: indices must be int32 or int64, not {}", c.label(),
         dtype_name(c.dtype(1)));
  }
  const int64_t axis = normalize_axis(c.node().attr_int("axis", 0), r, c.label());
  Dims out(data.begin(), data.begin() + axis);
  out.insert(out.end(), idx.begin(), idx.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  c.set_output(0, c.dtype(0), std::move(out));
}

void infer_GatherElements(InferContext& c) {
  const Dims& data = c.dims(0);
  const Dims& idx = c.dims(1);
  const int64_t r = static_cast<int64_t>(data.size());
  if (r == 0 || idx.size() != data.size()) {
    fail(ErrorCode::kInvalidModel, "{}: indices {} must have the rank of data {} (at least 1)",
         c.label(), dims_str(idx), dims_str(data));
  }
  if (c.dtype(1) != DType::kI32 && c.dtype(1) != DType::kI64) {
    fail(ErrorCode::kInvalidModel, "{}: indices must be int32 or int64, not {}", c.label(),
         dtype_name(c.dtype(1)));
  }
  const int64_t axis = normalize_axis(c.node().attr_int("axis", 0), r, c.label());
  for (int64_t k = 0; k < r; ++k) {
    const size_t i = static_cast<size_t>(k);
    if (k != axis && data[i] >= 0 && idx[i] > data[i]) {
      fail(ErrorCode::kInvalidModel, "{}: indices {} exceed data {} along axis {}", c.label(),
           dims_str(idx), dims_str(data), k);
    }
  }
  c.set_output(0, c.dtype(0), idx);
}

// indices [..., k] pick slices of data after `batch_dims` leading dims shared with indices:
// output = data[:b] + indices[b:-1] + data[b+k:].
void infer_GatherND(InferContext& c) {
  const Dims& data = c.dims(0);
  const Dims& idx = c.dims(1);
  if (c.dtype(1) != DType::kI64) {
    fail(ErrorCode::kInvalidModel, "{}: indices must be int64, not {}", c.label(),
         dtype_name(c.dtype(1)));
  }
  const int64_t b = c.node().attr_int("batch_dims", 0);
  const int64_t r = static_cast<int64_t>(data.size()), q = static_cast<int64_t>(idx.size());
  const int64_t k = q > 0 ? idx.back() : -1;
  if (b < 0 || q < 1 || b >= q || b >= r || k < 1 || b + k > r) {
    fail(ErrorCode::kInvalidModel, "{}: indices {} with batch_dims {} do not address data {}",
         c.label(), dims_str(idx), b, dims_str(data));
  }
  for (int64_t i = 0; i < b; ++i) {
    const size_t ii = static_cast<size_t>(i);
    if (data[ii] >= 0 && idx[ii] >= 0 && data[ii] != idx[ii]) {
      fail(ErrorCode::kInvalidModel, "{}: batch dim {} differs: data {} vs indices {}", c.label(),
           i, dims_str(data), dims_str(idx));
    }
  }
  Dims out(data.begin(), data.begin() + b);
  out.insert(out.end(), idx.begin() + b, idx.end() - 1);
  out.insert(out.end(), data.begin() + b + k, data.end());
  c.set_output(0, c.dtype(0), out);
}

namespace {

// DepthToSpace / SpaceToDepth: NCHW, the block size dividing channels or the plane.
int64_t space_depth_block(const InferContext& c) {
  const Dims& x = c.dims(0);
  if (x.size() != 4) {
    fail(ErrorCode::kInvalidModel, "{}: input {} must have rank 4 (NCHW)", c.label(), dims_str(x));
  }
  const int64_t b = c.node().attr_int("blocksize", 0);
  if (b <= 0 || b > (int64_t{1} << 16)) {
    fail(ErrorCode::kInvalidModel, "{}: blocksize {} must be positive", c.label(), b);
  }
  return b;
}

}  // namespace

void infer_DepthToSpace(InferContext& c) {
  const int64_t b = space_depth_block(c);
  const Dims& x = c.dims(0);
  const std::string mode = c.node().attr_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") {
    fail(ErrorCode::kInvalidModel, "{}: mode '{}' is neither DCR nor CRD", c.label(), mode);
  }
  if (x[1] >= 0 && x[1] % (b * b) != 0) {
    fail(ErrorCode::kInvalidModel, "{}: {} channels are not a multiple of blocksize {} squared",
         c.label(), x[1], b);
  }
  c.set_output(0, c.dtype(0),
               {x[0], x[1] < 0 ? -1 : x[1] / (b * b), x[2] < 0 ? -1 : checked_mul(x[2], b),
                x[3] < 0 ? -1 : checked_mul(x[3], b)});
}

void infer_SpaceToDepth(InferContext& c) {
  const int64_t b = space_depth_block(c);
  const Dims& x = c.dims(0);
  for (size_t i = 2; i < 4; ++i) {
    if (x[i] >= 0 && x[i] % b != 0) {
      fail(ErrorCode::kInvalidModel, "{}: input {} is not divisible by blocksize {}", c.label(),
           dims_str(x), b);
    }
  }
  c.set_output(0, c.dtype(0),
               {x[0], x[1] < 0 ? -1 : checked_mul(x[1], b * b), x[2] < 0 ? -1 : x[2] / b,
                x[3] < 0 ? -1 : x[3] / b});
}

void infer_ScatterND(InferContext& c) {
  const Dims& data = c.dims(0);
  const Dims& idx = c.dims(1);
  const Dims& upd = c.dims(2);
  if (c.dtype(1) != DType::kI64) {
    fail(ErrorCode::kInvalidModel, "{}: indices must be int64, not {}", c.label(),
         dtype_name(c.dtype(1)));
  }
  if (c.dtype(2) != c.dtype(0)) {
    fail(ErrorCode::kInvalidModel, "{}: updates dtype {} differs from data dtype {}", c.label(),
         dtype_name(c.dtype(2)), dtype_name(c.dtype(0)));
  }
  const int64_t k = idx.empty() ? -1 : idx.back();
  if (k < 1 || k > static_cast<int64_t>(data.size())) {
    fail(ErrorCode::kInvalidModel, "{}: indices {} must end in 1..{} (data {})", c.label(),
         dims_str(idx), data.size(), dims_str(data));
  }
  Dims want(idx.begin(), idx.end() - 1);
  want.insert(want.end(), data.begin() + k, data.end());
  if (upd != want) {
    fail(ErrorCode::kInvalidModel, "{}: updates {} must be {} for indices {} and data {}",
         c.label(), dims_str(upd), dims_str(want), dims_str(idx), dims_str(data));
  }
  c.set_output(0, c.dtype(0), data);
}

void infer_ScatterElements(InferContext& c) {
  const Dims& data = c.dims(0);
  const Dims& idx = c.dims(1);
  if (c.dtype(1) != DType::kI32 && c.dtype(1) != DType::kI64) {
    fail(ErrorCode::kInvalidModel, "{}: indices must be int32 or int64, not {}", c.label(),
         dtype_name(c.dtype(1)));
  }
  if (data.empty() || idx.size() != data.size() || c.dims(2) != idx || c.dtype(2) != c.dtype(0)) {
    fail(ErrorCode::kInvalidModel,
         "{}: indices {} and updates {} ({}) must have the rank of data {} ({}) and match",
         c.label(), dims_str(idx), dims_str(c.dims(2)), dtype_name(c.dtype(2)), dims_str(data),
         dtype_name(c.dtype(0)));
  }
  const int64_t axis =
      normalize_axis(c.node().attr_int("axis", 0), static_cast<int64_t>(data.size()), c.label());
  for (size_t i = 0; i < data.size(); ++i) {
    if (static_cast<int64_t>(i) != axis && idx[i] > data[i]) {
      fail(ErrorCode::kInvalidModel, "{}: indices {} exceed data {}", c.label(), dims_str(idx),
           dims_str(data));
    }
  }
  c.set_output(0, c.dtype(0), data);
}

// k from the `k` attribute before opset 10, else a constant input; the outputs are values and
// int64 indices with k along the axis.
void infer_TopK(InferContext& c) {
  const Dims& x = c.dims(0);
  if (x.empty()) fail(ErrorCode::kInvalidModel, "{}: input must have rank >= 1", c.label());
  const int64_t axis =
      normalize_axis(c.node().attr_int("axis", -1), static_cast<int64_t>(x.size()), c.label());
  int64_t k = 0;
  if (c.opset() < 10) {
    k = c.node().attr_int("k", -1);
  } else {
    const std::vector<int64_t> kv = c.constant_ints(1);
    if (kv.size() != 1) {
      fail(ErrorCode::kInvalidModel, "{}: k must hold one value, got {}", c.label(), kv.size());
    }
    k = kv[0];
  }
  const int64_t len = x[static_cast<size_t>(axis)];
  if (k < 0 || (len >= 0 && k > len)) {
    fail(ErrorCode::kInvalidModel, "{}: k = {} is outside 0..{} (axis {} of {})", c.label(), k, len,
         axis, dims_str(x));
  }
  if (c.dtype(0) == DType::kBool) {
    fail(ErrorCode::kUnsupported, "{}: input dtype bool is not supported", c.label());
  }
  Dims out = x;
  out[static_cast<size_t>(axis)] = k;
  c.set_output(0, c.dtype(0), out);
  c.set_output(1, DType::kI64, out);
}

// The running sum along a scalar constant axis (exclusive / reverse attributes).
void infer_CumSum(InferContext& c) {
  const DType t = c.dtype(0);
  if (t == DType::kBool || t == DType::kUndefined) {
    fail(ErrorCode::kUnsupported, "{}: input dtype {} is not supported", c.label(), dtype_name(t));
  }
  if (num_elements(c.dims(1)) != 1 || dtype_is_float(c.dtype(1))) {
    fail(ErrorCode::kInvalidModel, "{}: axis must be an integer scalar, got {} {}", c.label(),
         dtype_name(c.dtype(1)), dims_str(c.dims(1)));
  }
  if (c.dims(0).empty()) fail(ErrorCode::kInvalidModel, "{}: input must have rank >= 1", c.label());
  c.set_output(0, t, c.dims(0));
}

// indices with a new axis of size `depth` (a compile-time constant) holding values[1] at each
// index and values[0] elsewhere.
void infer_OneHot(InferContext& c) {
  const Tensor* dt = c.constant(1);
  if (!dt) c.needs_value(1, "depth");
  // Any numeric type; a float depth is truncated.
  const double dv = dt->numel() == 1 ? dt->get_f64(0) : 0.0;
  if (!(dv >= 1 && dv <= static_cast<double>(int64_t{1} << 40))) {
    fail(ErrorCode::kInvalidModel, "{}: depth must be one positive value", c.label());
  }
  const std::vector<int64_t> depth = {static_cast<int64_t>(dv)};
  if (num_elements(c.dims(2)) != 2) {
    fail(ErrorCode::kInvalidModel, "{}: values must hold two elements (off, on), got {}", c.label(),
         dims_str(c.dims(2)));
  }
  const Dims& idx = c.dims(0);
  const int64_t r = static_cast<int64_t>(idx.size()) + 1;
  const int64_t axis = normalize_axis(c.node().attr_int("axis", -1), r, c.label());
  Dims out = idx;
  out.insert(out.begin() + axis, depth[0]);
  c.set_output(0, c.dtype(2), out);
}

void infer_Expand(InferContext& c) {
  std::vector<int64_t> shape = c.constant_ints(1);
  for (int64_t d : shape) {
    if (d < 0) {
      fail(ErrorCode::kInvalidModel, "{}: negative dimension in shape {}", c.label(),
           dims_str(shape));
    }
  }
  c.set_output(0, c.dtype(0), broadcast_dims(c.dims(0), shape, c.label()));
}

void infer_Range(InferContext& c) {
  const DType dt = c.dtype(0);
  const Tensor* t[3];
  for (int i = 0; i < 3; ++i) {
    t[i] = c.constant(i);
    if (!t[i]) c.needs_value(i, fmt::format("input {}", i));
    if (t[i]->numel() != 1 || t[i]->dtype() != dt) {
      fail(ErrorCode::kInvalidModel, "{}: start, limit and delta must be scalars of one type",
           c.label());
    }
  }
  int64_t n = 0;
  if (dtype_is_float(dt)) {
    double start = t[0]->get_f64(0), limit = t[1]->get_f64(0), delta = t[2]->get_f64(0);
    if (delta == 0) fail(ErrorCode::kInvalidModel, "{}: delta is 0", c.label());
    double len = std::ceil((limit - start) / delta);
    if (!(len < 9e15)) {
      fail(ErrorCode::kLimit, "{}: range({}, {}, {}) is too long", c.label(), start, limit, delta);
    }
    n = len > 0 ? static_cast<int64_t>(len) : 0;
  } else {
    __int128 start = t[0]->get_i64(0), limit = t[1]->get_i64(0), delta = t[2]->get_i64(0);
    if (delta == 0) fail(ErrorCode::kInvalidModel, "{}: delta is 0", c.label());
    __int128 diff = limit - start;
    if ((diff > 0 && delta > 0) || (diff < 0 && delta < 0)) {
      if (diff < 0) {
        diff = -diff;
        delta = -delta;
      }
      __int128 len = (diff + delta - 1) / delta;
      if (len > (__int128{1} << 62)) {
        fail(ErrorCode::kLimit, "{}: range is too long", c.label());
      }
      n = static_cast<int64_t>(len);
    }
  }
  c.set_output(0, dt, {n});
}

void infer_Pad(InferContext& c) {
  const Node& n = c.node();
  std::string mode = n.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" &&
      !(mode == "wrap" && c.opset() >= 19)) {
    fail(ErrorCode::kUnsupported, "{}: pad mode '{}' is not supported", c.label(), mode);
  }
  std::vector<int64_t> pads;
  std::vector<int64_t> axes;
  if (c.opset() < 2) {
    pads = n.attr_ints("paddings");
  } else if (c.opset() < 11) {
    pads = n.attr_ints("pads");
  } else {
    pads = c.constant_ints(1);
    if (c.opset() >= 18) axes = optional_ints(c, 3);
  }
  PadParams p = pad_params(c.dims(0), pads, axes, c.label());
  if (mode != "constant") {
    for (size_t k = 0; k < p.out_dims.size(); ++k) {
      if (c.dims(0)[k] == 0 && p.out_dims[k] > 0) {
        fail(ErrorCode::kInvalidModel, "{}: {} padding of an empty dim {} of {}", c.label(), mode,
             k, dims_str(c.dims(0)));
      }
    }
  }
  c.set_output(0, c.dtype(0), std::move(p.out_dims));
}

void infer_Tile(InferContext& c) {
  const Dims& in = c.dims(0);
  std::vector<int64_t> reps = c.constant_ints(1);
  if (reps.size() != in.size()) {
    fail(ErrorCode::kInvalidModel, "{}: repeats {} must have one value per dim of {}", c.label(),
         dims_str(reps), dims_str(in));
  }
  Dims out(in.size());
  for (size_t k = 0; k < in.size(); ++k) {
    if (reps[k] < 0) {
      fail(ErrorCode::kInvalidModel, "{}: negative repeat in {}", c.label(), dims_str(reps));
    }
    out[k] = checked_mul(in[k], reps[k]);
  }
  c.set_output(0, c.dtype(0), std::move(out));
}

// The data-dependent ops: their inputs are checked here; the number of rows they output is known
// only once they run (specialize_shapes folds them when their inputs are constant, else defers).
void infer_NonZero(InferContext& c) {
  if (c.dtype(0) == DType::kUndefined) {
    fail(ErrorCode::kUnsupported, "{}: input dtype is not supported", c.label());
  }
  c.needs_value(0, "the input (NonZero outputs one column per non-zero element)");
}

void infer_NonMaxSuppression(InferContext& c) {
  const Dims& boxes = c.dims(0);
  const Dims& scores = c.dims(1);
  if (boxes.size() != 3 || boxes[2] != 4 || scores.size() != 3 || scores[0] != boxes[0] ||
      scores[2] != boxes[1]) {
    fail(
        ErrorCode::kInvalidModel,
        "{}: boxes must be [batches, boxes, 4] and scores [batches, classes, boxes], got {} and {}",
        c.label(), dims_str(boxes), dims_str(scores));
  }
  if (c.dtype(0) != DType::kF32 || c.dtype(1) != DType::kF32) {
    fail(ErrorCode::kUnsupported, "{}: boxes and scores must be float32, got {} and {}", c.label(),
         dtype_name(c.dtype(0)), dtype_name(c.dtype(1)));
  }
  const int64_t center = c.node().attr_int("center_point_box", 0);
  if (center != 0 && center != 1) {
    fail(ErrorCode::kInvalidModel, "{}: center_point_box must be 0 or 1, got {}", c.label(),
         center);
  }
  for (int i = 2; i < 5 && i < c.num_inputs(); ++i) {
    if (c.has_input(i) && c.input(i).has_shape && num_elements(c.dims(i)) != 1) {
      fail(ErrorCode::kInvalidModel, "{}: input {} ('{}') must be a scalar, got {}", c.label(), i,
           c.input(i).name, dims_str(c.dims(i)));
    }
  }
  c.needs_value(1, "scores (NonMaxSuppression outputs one row per box it keeps)");
}

}  // namespace shoal
