// Shape functions of the element-wise ops: unary (same dims and dtype), binary and variadic
// (NumPy broadcasting), comparisons and logic (bool output), Mod, PRelu and Where.
#include <string>

#include "core/error.h"
#include "graph/shape_inference.h"

namespace shoal {
namespace {

enum class Types { kFloat, kSigned, kNumeric, kBool, kAny };

bool is_integer(DType t) {
  return t == DType::kI8 || t == DType::kU8 || t == DType::kI32 || t == DType::kI64;
}

bool allowed(DType t, Types types) {
  switch (types) {
    case Types::kFloat:
      return dtype_is_float(t);
    case Types::kSigned:
      return dtype_is_float(t) || t == DType::kI8 || t == DType::kI32 || t == DType::kI64;
    case Types::kNumeric:
      return dtype_is_float(t) || is_integer(t);
    case Types::kBool:
      return t == DType::kBool;
    case Types::kAny:
      return t != DType::kUndefined;
  }
  return false;
}

void check_dtype(const InferContext& c, int i, Types types) {
  if (!allowed(c.dtype(i), types)) {
    fail(ErrorCode::kUnsupported, "{}: input {} dtype {} is not supported", c.label(), i,
         dtype_name(c.dtype(i)));
  }
}

void unary(InferContext& c, Types types) {
  check_dtype(c, 0, types);
  c.set_output(0, c.dtype(0), c.dims(0));
}

// Legacy (opset < 7) broadcasting with `axis` is not NumPy broadcasting.
void reject_legacy_broadcast(const InferContext& c) {
  if (c.opset() < 7 && c.node().attr_int("broadcast", 0) != 0 && c.node().has_attr("axis")) {
    fail(ErrorCode::kUnsupported, "{}: legacy broadcast with axis (opset {}) is not supported",
         c.label(), c.opset());
  }
}

// All given inputs must share input 0's dtype; returns the broadcast dims of inputs [first, n).
Dims broadcast_inputs(const InferContext& c, int first, Types types) {
  if (c.num_inputs() <= first) {
    fail(ErrorCode::kInvalidModel, "{}: expected at least {} inputs", c.label(), first + 1);
  }
  Dims out = c.dims(first);
  for (int i = first; i < c.num_inputs(); ++i) {
    check_dtype(c, i, types);
    if (c.dtype(i) != c.dtype(first)) {
      fail(ErrorCode::kInvalidModel, "{}: input {} dtype {} differs from input {} dtype {}",
           c.label(), i, dtype_name(c.dtype(i)), first, dtype_name(c.dtype(first)));
    }
    if (i > first) out = broadcast_dims(out, c.dims(i), c.label());
  }
  return out;
}

void binary_arith(InferContext& c) {
  reject_legacy_broadcast(c);
  if (c.num_inputs() != 2) fail(ErrorCode::kInvalidModel, "{}: expected 2 inputs", c.label());
  Dims out = broadcast_inputs(c, 0, Types::kNumeric);
  c.set_output(0, c.dtype(0), out);
}

void compare(InferContext& c, Types types) {
  reject_legacy_broadcast(c);
  if (c.num_inputs() != 2) fail(ErrorCode::kInvalidModel, "{}: expected 2 inputs", c.label());
  Dims out = broadcast_inputs(c, 0, types);
  c.set_output(0, DType::kBool, out);
}

void variadic(InferContext& c) {
  Dims out = broadcast_inputs(c, 0, Types::kNumeric);
  c.set_output(0, c.dtype(0), out);
}

}  // namespace

void infer_Relu(InferContext& c) { unary(c, Types::kSigned); }
void infer_LeakyRelu(InferContext& c) { unary(c, Types::kFloat); }
void infer_Sigmoid(InferContext& c) { unary(c, Types::kFloat); }
void infer_HardSigmoid(InferContext& c) { unary(c, Types::kFloat); }
void infer_HardSwish(InferContext& c) { unary(c, Types::kFloat); }
void infer_Tanh(InferContext& c) { unary(c, Types::kFloat); }
void infer_Exp(InferContext& c) { unary(c, Types::kFloat); }
void infer_Log(InferContext& c) { unary(c, Types::kFloat); }
void infer_Sqrt(InferContext& c) { unary(c, Types::kFloat); }
void infer_Reciprocal(InferContext& c) { unary(c, Types::kFloat); }
void infer_Neg(InferContext& c) { unary(c, Types::kSigned); }
void infer_Abs(InferContext& c) { unary(c, Types::kNumeric); }
void infer_Floor(InferContext& c) { unary(c, Types::kFloat); }
void infer_Ceil(InferContext& c) { unary(c, Types::kFloat); }
void infer_Round(InferContext& c) { unary(c, Types::kFloat); }
void infer_Erf(InferContext& c) { unary(c, Types::kFloat); }
void infer_Not(InferContext& c) { unary(c, Types::kBool); }
void infer_Elu(InferContext& c) { unary(c, Types::kFloat); }
void infer_Selu(InferContext& c) { unary(c, Types::kFloat); }
void infer_Celu(InferContext& c) { unary(c, Types::kFloat); }
void infer_Softplus(InferContext& c) { unary(c, Types::kFloat); }
void infer_Softsign(InferContext& c) { unary(c, Types::kFloat); }
void infer_Mish(InferContext& c) { unary(c, Types::kFloat); }
void infer_ThresholdedRelu(InferContext& c) { unary(c, Types::kFloat); }
void infer_Shrink(InferContext& c) { unary(c, Types::kNumeric); }
void infer_Sign(InferContext& c) { unary(c, Types::kNumeric); }
void infer_Sin(InferContext& c) { unary(c, Types::kFloat); }
void infer_Cos(InferContext& c) { unary(c, Types::kFloat); }

void infer_Clip(InferContext& c) {
  check_dtype(c, 0, Types::kNumeric);
  for (int i = 1; i < 3; ++i) {
    if (c.opset() < 11 || !c.has_input(i)) continue;
    if (c.dtype(i) != c.dtype(0)) {
      fail(ErrorCode::kInvalidModel, "{}: bound {} dtype {} differs from input dtype {}", c.label(),
           i, dtype_name(c.dtype(i)), dtype_name(c.dtype(0)));
    }
    if (num_elements(c.dims(i)) != 1) {
      fail(ErrorCode::kInvalidModel, "{}: bound {} must be a scalar, got {}", c.label(), i,
           dims_str(c.dims(i)));
    }
  }
  c.set_output(0, c.dtype(0), c.dims(0));
}

void infer_Add(InferContext& c) { binary_arith(c); }
void infer_Sub(InferContext& c) { binary_arith(c); }
void infer_Mul(InferContext& c) { binary_arith(c); }
void infer_Div(InferContext& c) { binary_arith(c); }

void infer_Pow(InferContext& c) {
  reject_legacy_broadcast(c);
  if (c.num_inputs() != 2) fail(ErrorCode::kInvalidModel, "{}: expected 2 inputs", c.label());
  check_dtype(c, 0, Types::kNumeric);
  check_dtype(c, 1, Types::kNumeric);
  c.set_output(0, c.dtype(0), broadcast_dims(c.dims(0), c.dims(1), c.label()));
}

void infer_Max(InferContext& c) { variadic(c); }
void infer_Min(InferContext& c) { variadic(c); }
void infer_Equal(InferContext& c) { compare(c, Types::kAny); }
void infer_Less(InferContext& c) { compare(c, Types::kNumeric); }
void infer_Greater(InferContext& c) { compare(c, Types::kNumeric); }

void infer_GreaterOrEqual(InferContext& c) { compare(c, Types::kNumeric); }
void infer_LessOrEqual(InferContext& c) { compare(c, Types::kNumeric); }
void infer_And(InferContext& c) { compare(c, Types::kBool); }
void infer_Or(InferContext& c) { compare(c, Types::kBool); }
void infer_Xor(InferContext& c) { compare(c, Types::kBool); }
void infer_Sum(InferContext& c) { variadic(c); }
void infer_Mean(InferContext& c) {
  check_dtype(c, 0, Types::kFloat);
  variadic(c);
}

// Floats only with fmod=1 (C's fmod), as ONNX requires; integers either way.
void infer_Mod(InferContext& c) {
  binary_arith(c);
  if (dtype_is_float(c.dtype(0)) && c.node().attr_int("fmod", 0) == 0) {
    fail(ErrorCode::kInvalidModel, "{}: floating-point Mod needs fmod=1", c.label());
  }
}

// The slope broadcasts to X (unidirectionally): the output has X's dims.
void infer_PRelu(InferContext& c) {
  check_dtype(c, 0, Types::kSigned);
  if (c.dtype(1) != c.dtype(0)) {
    fail(ErrorCode::kInvalidModel, "{}: slope dtype {} differs from input dtype {}", c.label(),
         dtype_name(c.dtype(1)), dtype_name(c.dtype(0)));
  }
  if (broadcast_dims(c.dims(0), c.dims(1), c.label()) != c.dims(0)) {
    fail(ErrorCode::kInvalidModel, "{}: slope {} does not broadcast to the input {}", c.label(),
         dims_str(c.dims(1)), dims_str(c.dims(0)));
  }
  c.set_output(0, c.dtype(0), c.dims(0));
}

void infer_Where(InferContext& c) {
  if (c.num_inputs() != 3) fail(ErrorCode::kInvalidModel, "{}: expected 3 inputs", c.label());
  check_dtype(c, 0, Types::kBool);
  Dims xy = broadcast_inputs(c, 1, Types::kAny);
  c.set_output(0, c.dtype(1), broadcast_dims(c.dims(0), xy, c.label()));
}

}  // namespace shoal
