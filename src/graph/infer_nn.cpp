// Shape functions of the neural-network ops: convolution, pooling, normalisation, resampling,
// matrix products and softmax.
#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"
#include "graph/einsum.h"
#include "graph/op_geometry.h"
#include "graph/shape_inference.h"

namespace shoal {
namespace {

void require_float(const InferContext& c, int i, const char* role) {
  if (!dtype_is_float(c.dtype(i))) {
    fail(ErrorCode::kUnsupported, "{}: {} has dtype {}, expected a floating-point type", c.label(),
         role, dtype_name(c.dtype(i)));
  }
}

void require_same_dtype(const InferContext& c, int i, int j, const char* role_i,
                        const char* role_j) {
  if (c.dtype(i) != c.dtype(j)) {
    fail(ErrorCode::kInvalidModel, "{}: {} dtype {} differs from {} dtype {}", c.label(), role_i,
         dtype_name(c.dtype(i)), role_j, dtype_name(c.dtype(j)));
  }
}

// Inputs 1.. (named by roles[1..]; roles[0] names input 0) are float vectors of input 0's
// channel count (dim 1).
void require_channel_params(const InferContext& c, std::initializer_list<const char*> roles) {
  const Dims& x = c.dims(0);
  int i = 0;
  for (const char* role : roles) {
    if (i > 0) {
      const Dims& d = c.dims(i);
      if (d.size() != 1 || d[0] != x[1]) {
        fail(ErrorCode::kInvalidModel, "{}: {} {} does not match {} channels of input {}",
             c.label(), role, dims_str(d), x[1], dims_str(x));
      }
      require_float(c, i, role);
    }
    ++i;
  }
}

void require_rank(const InferContext& c, int i, size_t min_rank, const char* role) {
  if (c.dims(i).size() < min_rank) {
    fail(ErrorCode::kInvalidModel, "{}: {} {} must have rank >= {}", c.label(), role,
         dims_str(c.dims(i)), min_rank);
  }
}

// kernel_shape attribute, checked against the weight's spatial dims when both are known.
std::vector<int64_t> conv_kernel(const InferContext& c, const Dims& w) {
  std::vector<int64_t> k(w.begin() + 2, w.end());
  if (c.node().has_attr("kernel_shape")) {
    std::vector<int64_t> attr = c.node().attr_ints("kernel_shape");
    if (attr != k) {
      fail(ErrorCode::kInvalidModel, "{}: kernel_shape {} does not match weight {}", c.label(),
           dims_str(attr), dims_str(w));
    }
  }
  return k;
}

void check_bias(const InferContext& c, int i, int64_t m) {
  if (!c.has_input(i)) return;
  const Dims& b = c.dims(i);
  if (b.size() != 1 || b[0] != m) {
    fail(ErrorCode::kInvalidModel, "{}: bias {} does not match {} output channels", c.label(),
         dims_str(b), m);
  }
  require_same_dtype(c, i, 0, "bias", "input");
}

int64_t group_attr(const InferContext& c) {
  int64_t group = c.node().attr_int("group", 1);
  if (group < 1) fail(ErrorCode::kInvalidModel, "{}: group {} must be >= 1", c.label(), group);
  return group;
}

void infer_pool(InferContext& c, bool is_max) {
  require_rank(c, 0, 3, "input");
  DType t = c.dtype(0);
  if (!dtype_is_float(t) && !(is_max && (t == DType::kI8 || t == DType::kU8))) {
    fail(ErrorCode::kUnsupported, "{}: input dtype {} is not supported", c.label(), dtype_name(t));
  }
  if (!c.node().has_attr("kernel_shape")) {
    fail(ErrorCode::kInvalidModel, "{}: missing attribute kernel_shape", c.label());
  }
  const Dims& x = c.dims(0);
  bool ceil_mode = c.node().attr_int("ceil_mode", 0) != 0;
  ConvGeometry g =
      compute_conv_geometry(c.node(), x, c.node().attr_ints("kernel_shape"), ceil_mode, c.label());
  Dims out = {x[0], x[1]};
  out.insert(out.end(), g.out.begin(), g.out.end());
  c.set_output(0, t, out);
  if (c.num_outputs() > 1 && c.node().outputs[1] != kNoValue) {
    if (!is_max) fail(ErrorCode::kInvalidModel, "{}: AveragePool has one output", c.label());
    c.set_output(1, DType::kI64, out);
  }
}

void infer_global_pool(InferContext& c) {
  require_rank(c, 0, 2, "input");
  require_float(c, 0, "input");
  Dims out = c.dims(0);
  for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
  c.set_output(0, c.dtype(0), out);
}

void infer_softmax_family(InferContext& c) {
  require_float(c, 0, "input");
  const Dims& x = c.dims(0);
  int64_t def = c.opset() >= 13 ? -1 : 1;
  int64_t rank = static_cast<int64_t>(x.size());
  if (rank == 0) fail(ErrorCode::kInvalidModel, "{}: input must have rank >= 1", c.label());
  normalize_axis(c.node().attr_int("axis", def), rank, c.label());
  c.set_output(0, c.dtype(0), x);
}

void infer_resize_like(InferContext& c) {
  require_rank(c, 0, 1, "input");
  DType t = c.dtype(0);
  if (t == DType::kBool || t == DType::kUndefined) {
    fail(ErrorCode::kUnsupported, "{}: input dtype {} is not supported", c.label(), dtype_name(t));
  }
  const Node& n = c.node();
  const Tensor* roi = nullptr;
  const Tensor* scales = nullptr;
  const Tensor* sizes = nullptr;
  auto constant_input = [&](int i, const char* what) -> const Tensor* {
    if (!c.has_input(i)) return nullptr;
    const Tensor* k = c.constant(i);
    if (!k) {
      // An empty placeholder (opset 11 requires `scales` even when `sizes` is used).
      if (c.input(i).has_shape && num_elements(c.dims(i)) == 0) return nullptr;
      c.needs_value(i, what);
    }
    return k;
  };
  bool upsample = n.op_type == "Upsample";
  if (upsample) {
    if (c.opset() >= 9) scales = constant_input(1, "scales");
  } else if (c.opset() < 11) {
    scales = constant_input(1, "scales");
  } else {
    if (n.attr_string("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize") {
      roi = constant_input(1, "roi");
    }
    scales = constant_input(2, "scales");
    sizes = constant_input(3, "sizes");
  }
  const std::string mode = n.attr_string("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "cubic" &&
      !(upsample && mode == "bilinear")) {
    fail(ErrorCode::kUnsupported, "{}: unknown mode '{}'", c.label(), mode);
  }
  ResizeGeometry g =
      compute_resize_geometry(n, c.opset(), c.dims(0), roi, scales, sizes, c.label());
  c.set_output(0, t, g.out);
}

}  // namespace

void infer_Conv(InferContext& c) {
  require_rank(c, 0, 3, "input");
  require_float(c, 0, "input");
  require_same_dtype(c, 1, 0, "weight", "input");
  const Dims& x = c.dims(0);
  const Dims& w = c.dims(1);
  if (w.size() != x.size()) {
    fail(ErrorCode::kInvalidModel, "{}: weight {} must have the rank of input {}", c.label(),
         dims_str(w), dims_str(x));
  }
  int64_t group = group_attr(c);
  if (x[1] % group != 0 || w[1] * group != x[1]) {
    if (group == 1) {
      fail(ErrorCode::kInvalidModel, "{}: weight {} does not match input channels {}", c.label(),
           dims_str(w), x[1]);
    }
    fail(ErrorCode::kInvalidModel, "{}: weight {} does not match input channels {} with group {}",
         c.label(), dims_str(w), x[1], group);
  }
  if (w[0] % group != 0) {
    fail(ErrorCode::kInvalidModel, "{}: {} output channels are not divisible by group {}",
         c.label(), w[0], group);
  }
  check_bias(c, 2, w[0]);
  ConvGeometry g = compute_conv_geometry(c.node(), x, conv_kernel(c, w), false, c.label());
  Dims out = {x[0], w[0]};
  out.insert(out.end(), g.out.begin(), g.out.end());
  c.set_output(0, c.dtype(0), out);
}

// Conv of uint8/int8 data and weights less their zero points (input 2: the data's, one value;
// input 3: the weights', one value or one per output channel), accumulated in int32. A fused form
// (fuse_quantized_conv) has float32 output: the int32 sums converted, then its post-ops (the
// dequantization scale, the bias, activations) applied.
void infer_ConvInteger(InferContext& c) {
  require_rank(c, 0, 3, "input");
  for (int i = 0; i < 4; ++i) {
    if (!c.has_input(i)) continue;
    if (c.dtype(i) != DType::kU8 && c.dtype(i) != DType::kI8) {
      fail(ErrorCode::kInvalidModel, "{}: input {} is {}, ConvInteger takes uint8 or int8",
           c.label(), i, dtype_name(c.dtype(i)));
    }
  }
  if (c.has_input(2) && (c.dtype(2) != c.dtype(0) || num_elements(c.dims(2)) != 1)) {
    fail(ErrorCode::kInvalidModel, "{}: the input's zero point must be one {} value, not {} {}",
         c.label(), dtype_name(c.dtype(0)), dtype_name(c.dtype(2)), dims_str(c.dims(2)));
  }
  const Dims& x = c.dims(0);
  const Dims& w = c.dims(1);
  if (w.size() != x.size()) {
    fail(ErrorCode::kInvalidModel, "{}: weight {} must have the rank of input {}", c.label(),
         dims_str(w), dims_str(x));
  }
  if (c.has_input(3)) {
    const int64_t n = num_elements(c.dims(3));
    if (c.dtype(3) != c.dtype(1) || (n != 1 && n != w[0]) || c.dims(3).size() > 1) {
      fail(ErrorCode::kInvalidModel,
           "{}: the weights' zero point must be one {} value or one per output channel ({}), "
           "not {} {}",
           c.label(), dtype_name(c.dtype(1)), w[0], dtype_name(c.dtype(3)), dims_str(c.dims(3)));
    }
  }
  const int64_t group = group_attr(c);
  if (x[1] % group != 0 || w[1] * group != x[1] || w[0] % group != 0) {
    fail(ErrorCode::kInvalidModel, "{}: weight {} does not match input channels {} with group {}",
         c.label(), dims_str(w), x[1], group);
  }
  ConvGeometry g = compute_conv_geometry(c.node(), x, conv_kernel(c, w), false, c.label());
  Dims out = {x[0], w[0]};
  out.insert(out.end(), g.out.begin(), g.out.end());
  c.set_output(0, c.node().post_ops.empty() ? DType::kI32 : DType::kF32, out);
}

void infer_ConvTranspose(InferContext& c) {
  require_rank(c, 0, 3, "input");
  require_float(c, 0, "input");
  require_same_dtype(c, 1, 0, "weight", "input");
  const Dims& x = c.dims(0);
  const Dims& w = c.dims(1);
  if (w.size() != x.size()) {
    fail(ErrorCode::kInvalidModel, "{}: weight {} must have the rank of input {}", c.label(),
         dims_str(w), dims_str(x));
  }
  int64_t group = group_attr(c);
  if (w[0] != x[1] || x[1] % group != 0) {
    fail(ErrorCode::kInvalidModel, "{}: weight {} does not match input channels {} with group {}",
         c.label(), dims_str(w), x[1], group);
  }
  int64_t m = checked_mul(w[1], group);
  check_bias(c, 2, m);
  ConvGeometry g = compute_conv_transpose_geometry(c.node(), x, conv_kernel(c, w), c.label());
  Dims out = {x[0], m};
  out.insert(out.end(), g.out.begin(), g.out.end());
  c.set_output(0, c.dtype(0), out);
}

void infer_BatchNormalization(InferContext& c) {
  require_rank(c, 0, 2, "input");
  require_float(c, 0, "input");
  if (c.opset() < 9 && c.node().attr_int("spatial", 1) == 0) {
    fail(ErrorCode::kUnsupported, "{}: spatial=0 (per-activation statistics) is not supported",
         c.label());
  }
  const Dims& x = c.dims(0);
  require_channel_params(c, {"input", "scale", "bias", "mean", "var"});
  c.set_output(0, c.dtype(0), x);
  for (int i = 1; i < c.num_outputs(); ++i) {
    if (c.node().outputs[static_cast<size_t>(i)] != kNoValue) {
      c.set_output(i, c.dtype(3), Dims{x[1]});
    }
  }
}

void infer_InstanceNormalization(InferContext& c) {
  require_rank(c, 0, 3, "input");
  require_float(c, 0, "input");
  require_channel_params(c, {"input", "scale", "bias"});
  c.set_output(0, c.dtype(0), c.dims(0));
}

// Normalises over dims [axis, rank); scale and bias broadcast to those dims. Optional outputs:
// Mean and InvStdDev with the normalised dims kept as 1.
void infer_LayerNormalization(InferContext& c) {
  require_float(c, 0, "input");
  const Dims& x = c.dims(0);
  const int64_t r = static_cast<int64_t>(x.size());
  if (r == 0) fail(ErrorCode::kInvalidModel, "{}: input must have rank >= 1", c.label());
  const int64_t axis = normalize_axis(c.node().attr_int("axis", -1), r, c.label());
  const Dims tail(x.begin() + axis, x.end());
  static const char* kRoles[] = {"input", "scale", "bias"};
  for (int i = 1; i < 3; ++i) {
    if (!c.has_input(i)) continue;
    require_float(c, i, kRoles[i]);
    if (c.dims(i).size() > tail.size() || broadcast_dims(tail, c.dims(i), c.label()) != tail) {
      fail(ErrorCode::kInvalidModel, "{}: {} {} does not broadcast to the normalised dims {}",
           c.label(), kRoles[i], dims_str(c.dims(i)), dims_str(tail));
    }
  }
  c.set_output(0, c.dtype(0), x);
  Dims stat = x;
  for (int64_t i = axis; i < r; ++i) stat[static_cast<size_t>(i)] = 1;
  c.set_output(1, DType::kF32, stat);
  c.set_output(2, DType::kF32, stat);
}

void infer_Einsum(InferContext& c) {
  std::vector<Dims> dims;
  for (int i = 0; i < c.num_inputs(); ++i) {
    require_float(c, i, "input");
    if (c.dtype(i) != c.dtype(0)) {
      fail(ErrorCode::kInvalidModel, "{}: inputs mix {} and {}", c.label(), dtype_name(c.dtype(0)),
           dtype_name(c.dtype(i)));
    }
    dims.push_back(c.dims(i));
  }
  const EinsumSpec s = parse_einsum(c.node().attr_string("equation", ""), dims, c.label());
  c.set_output(0, c.dtype(0), s.output_dims);
}

namespace {

// Per-tensor (one value) or per-axis (1-D of x's `axis` dim) scale and zero point.
void check_quant_params(const InferContext& c) {
  const Dims& x = c.dims(0);
  const int64_t r = static_cast<int64_t>(x.size());
  if (c.node().attr_int("block_size", 0) != 0) {
    fail(ErrorCode::kUnsupported, "{}: blocked quantization (block_size) is not supported",
         c.label());
  }
  for (int i = 1; i < 3; ++i) {
    if (!c.has_input(i)) continue;
    const Dims& d = c.dims(i);
    if (num_elements(d) == 1 && d.size() <= 1) continue;
    const int64_t axis = r > 0 ? normalize_axis(c.node().attr_int("axis", 1), r, c.label()) : 0;
    if (d.size() != 1 || r == 0 || d[0] != x[static_cast<size_t>(axis)]) {
      fail(ErrorCode::kInvalidModel,
           "{}: {} {} is neither one value nor one per element of axis {} of {}", c.label(),
           i == 1 ? "scale" : "zero point", dims_str(d), axis, dims_str(x));
    }
  }
  if (!dtype_is_float(c.dtype(1))) {
    fail(ErrorCode::kInvalidModel, "{}: scale must be a float tensor, not {}", c.label(),
         dtype_name(c.dtype(1)));
  }
  if (const Tensor* s = c.constant(1)) {
    for (int64_t i = 0; i < s->numel(); ++i) {
      const double v = s->get_f64(i);
      if (!(v > 0) || !std::isfinite(v)) {
        fail(ErrorCode::kInvalidModel,
             "{}: scale {} (element {}) is not a positive finite number; a quantization scale "
             "must be > 0",
             c.label(), v, i);
      }
    }
  }
}

}  // namespace

// y = saturate(round_half_even(x / scale) + zero_point), in the zero point's dtype (uint8 when it
// is absent).
void infer_QuantizeLinear(InferContext& c) {
  require_float(c, 0, "input");
  check_quant_params(c);
  const DType t = c.has_input(2) ? c.dtype(2) : DType::kU8;
  if (t != DType::kU8 && t != DType::kI8) {
    fail(ErrorCode::kUnsupported, "{}: quantizing to {} is not supported (int8 and uint8 are)",
         c.label(), dtype_name(t));
  }
  c.set_output(0, t, c.dims(0));
}

// y = saturate(round(x / scale) + zero_point) in uint8 with the scale and zero point computed from
// x's range (widened to hold 0): outputs y, y_scale (float32 scalar), y_zero_point (uint8 scalar).
void infer_DynamicQuantizeLinear(InferContext& c) {
  require_float(c, 0, "input");
  c.set_output(0, DType::kU8, c.dims(0));
  if (c.num_outputs() > 1) c.set_output(1, DType::kF32, {});
  if (c.num_outputs() > 2) c.set_output(2, DType::kU8, {});
}

// y = (x - zero_point) * scale, in the scale's dtype.
void infer_DequantizeLinear(InferContext& c) {
  const DType t = c.dtype(0);
  if (t != DType::kU8 && t != DType::kI8 && t != DType::kI32) {
    fail(ErrorCode::kUnsupported, "{}: dequantizing {} is not supported", c.label(), dtype_name(t));
  }
  check_quant_params(c);
  if (c.has_input(2) && c.dtype(2) != t) {
    fail(ErrorCode::kInvalidModel, "{}: zero point dtype {} differs from input dtype {}", c.label(),
         dtype_name(c.dtype(2)), dtype_name(t));
  }
  c.set_output(0, c.dtype(1), c.dims(0));
}

// 4-D only: X [N, C, H, W] sampled at grid [N, H_out, W_out, 2] -> [N, C, H_out, W_out].
void infer_GridSample(InferContext& c) {
  require_float(c, 0, "input");
  require_float(c, 1, "grid");
  const Dims& x = c.dims(0);
  const Dims& g = c.dims(1);
  if (x.size() != 4 || g.size() != 4 || g[3] != 2 || (x[0] >= 0 && g[0] >= 0 && x[0] != g[0])) {
    fail(ErrorCode::kUnsupported,
         "{}: input {} and grid {} must be [N,C,H,W] and [N,H_out,W_out,2] (only 2-D sampling is "
         "supported)",
         c.label(), dims_str(x), dims_str(g));
  }
  const std::string mode = c.node().attr_string("mode", c.opset() >= 20 ? "linear" : "bilinear");
  const std::string pad = c.node().attr_string("padding_mode", "zeros");
  if (mode != "bilinear" && mode != "linear" && mode != "nearest" && mode != "bicubic" &&
      mode != "cubic") {
    fail(ErrorCode::kInvalidModel, "{}: unknown mode '{}'", c.label(), mode);
  }
  if (pad != "zeros" && pad != "border" && pad != "reflection") {
    fail(ErrorCode::kInvalidModel, "{}: unknown padding_mode '{}'", c.label(), pad);
  }
  c.set_output(0, c.dtype(0), {x[0], x[1], g[1], g[2]});
}

void infer_MaxPool(InferContext& c) { infer_pool(c, true); }
void infer_AveragePool(InferContext& c) { infer_pool(c, false); }
void infer_GlobalAveragePool(InferContext& c) { infer_global_pool(c); }
void infer_GlobalMaxPool(InferContext& c) { infer_global_pool(c); }
void infer_Resize(InferContext& c) { infer_resize_like(c); }
void infer_Upsample(InferContext& c) { infer_resize_like(c); }

namespace {

// MatMul's output dims (NumPy matmul: 1-D operands promoted, batch dims broadcast).
Dims matmul_dims(const InferContext& c) {
  Dims a = c.dims(0), b = c.dims(1);
  if (a.empty() || b.empty()) {
    fail(ErrorCode::kInvalidModel, "{}: MatMul inputs {} and {} must have rank >= 1", c.label(),
         dims_str(a), dims_str(b));
  }
  bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  int64_t k = a.back();
  if (b[b.size() - 2] != k) {
    fail(ErrorCode::kInvalidModel, "{}: inner dims of {} and {} differ", c.label(),
         dims_str(c.dims(0)), dims_str(c.dims(1)));
  }
  Dims out = broadcast_dims(Dims(a.begin(), a.end() - 2), Dims(b.begin(), b.end() - 2), c.label());
  if (!a_vec) out.push_back(a[a.size() - 2]);
  if (!b_vec) out.push_back(b.back());
  return out;
}

bool is_8bit(DType t) { return t == DType::kU8 || t == DType::kI8; }

}  // namespace

void infer_MatMul(InferContext& c) {
  require_same_dtype(c, 1, 0, "B", "A");
  DType t = c.dtype(0);
  if (!dtype_is_float(t) && t != DType::kI32 && t != DType::kI64) {
    fail(ErrorCode::kUnsupported, "{}: dtype {} is not supported", c.label(), dtype_name(t));
  }
  c.set_output(0, t, matmul_dims(c));
}

// (A - a_zero_point) x (B - b_zero_point) in int32; A's zero point is one value or one per row,
// B's one value or one per column.
void infer_MatMulInteger(InferContext& c) {
  for (int i = 0; i < 4; ++i) {
    if (c.has_input(i) && !is_8bit(c.dtype(i))) {
      fail(ErrorCode::kInvalidModel, "{}: input {} is {}, MatMulInteger takes uint8 or int8",
           c.label(), i, dtype_name(c.dtype(i)));
    }
  }
  const Dims out = matmul_dims(c);
  for (int i : {2, 3}) {
    if (!c.has_input(i)) continue;
    const Dims& x = c.dims(i - 2);
    const int64_t n = num_elements(c.dims(i));
    const int64_t want = i == 2 ? (x.size() >= 2 ? x[x.size() - 2] : 1) : x.back();
    if (c.dtype(i) != c.dtype(i - 2) || (n != 1 && n != want) || c.dims(i).size() > 1) {
      fail(ErrorCode::kInvalidModel,
           "{}: the zero point of input {} must be one {} value or {} (one per {}), not {} {}",
           c.label(), i - 2, dtype_name(c.dtype(i - 2)), want, i == 2 ? "row" : "column",
           dtype_name(c.dtype(i)), dims_str(c.dims(i)));
    }
  }
  c.set_output(0, DType::kI32, out);
}

void infer_Gemm(InferContext& c) {
  require_same_dtype(c, 1, 0, "B", "A");
  DType t = c.dtype(0);
  if (!dtype_is_float(t) && t != DType::kI32 && t != DType::kI64) {
    fail(ErrorCode::kUnsupported, "{}: dtype {} is not supported", c.label(), dtype_name(t));
  }
  const Dims& a = c.dims(0);
  const Dims& b = c.dims(1);
  if (a.size() != 2 || b.size() != 2) {
    fail(ErrorCode::kInvalidModel, "{}: A {} and B {} must be 2-D", c.label(), dims_str(a),
         dims_str(b));
  }
  bool ta = c.node().attr_int("transA", 0) != 0;
  bool tb = c.node().attr_int("transB", 0) != 0;
  int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb) {
    fail(ErrorCode::kInvalidModel, "{}: A {} (transA={}) and B {} (transB={}) inner dims differ",
         c.label(), dims_str(a), ta, dims_str(b), tb);
  }
  Dims out = {m, n};
  if (c.has_input(2)) {
    require_same_dtype(c, 2, 0, "C", "A");
    const Dims& cd = c.dims(2);
    if (cd.size() > 2 || broadcast_dims(cd, out, c.label()) != out) {
      fail(ErrorCode::kInvalidModel, "{}: C {} is not broadcastable to {}", c.label(), dims_str(cd),
           dims_str(out));
    }
  }
  c.set_output(0, t, out);
}

void infer_Softmax(InferContext& c) { infer_softmax_family(c); }
void infer_LogSoftmax(InferContext& c) { infer_softmax_family(c); }
void infer_Hardmax(InferContext& c) { infer_softmax_family(c); }

}  // namespace shoal
