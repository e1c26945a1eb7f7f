// Graph optimisation passes over a shape-specialised graph (run after specialize_shapes, which
// already folded constants): identity elision, dead-code elimination, space-to-depth (Focus)
// slices folded into the following Conv, Conv+BatchNorm folding,
// activation fusion into the producing Conv/ConvTranspose/Gemm/MatMul (Sigmoid·Mul = SiLU) and
// residual Add fusion. Every pass keeps graph output names and the topological order.
// Each pass is one file under graph/passes/ named after it; optimize() (graph/passes/optimize.cpp)
// runs them in order. Helpers they share: graph/passes/pass_util.h (internal).
#pragma once

#include <map>
#include <string>

#include "graph/ir.h"

namespace shoal {

struct OptimizeOptions {
  bool fold_space_to_depth = true;
  bool fold_batch_norm = true;
  bool fuse_activations = true;
  bool fuse_residual_add = true;
  bool einsum_to_matmul = true;
  bool fuse_quantized_conv = true;
};

// Counts of what each pass changed, e.g. {"fuse_silu": 57, "dce": 3}.
using PassStats = std::map<std::string, int>;

int elide_identities(Graph& g);     // Identity, inference Dropout, no-op Reshape/Cast
int eliminate_dead_code(Graph& g);  // nodes whose outputs nobody reads
int fold_batch_norm(Graph& g);      // Conv(const W, const B) -> BatchNormalization(const)
// YOLOv5/YOLOX "Focus": Concat of x[:, :, dh::2, dw::2] (Slices with step 2) -> Conv(k, s, p)
// becomes one Conv(2k, 2s, 2p) on x with rearranged weights (exact: every product is kept).
int fold_space_to_depth_conv(Graph& g);
// Conv(DequantizeLinear(uint8/int8 xq, one scale), weights folded from DequantizeLinear(int8 Wq,
// per-tensor or per-output-channel scale, zero point 0)) -> ConvInteger(xq, Wq, x_zero_point)
// with float32 output and post-ops Mul(x_scale * w_scale) and Add(bias): exact int32 sums.
int fuse_quantized_conv(Graph& g);
int fuse_activations(Graph& g);   // producer + Relu/LeakyRelu (or one-slope PRelu)/Sigmoid/SiLU/...
int fuse_residual_add(Graph& g);  // producer(+acts) -> Add(same-shape other)
// Two-operand float32 Einsum with fixed dims, no "..." and no diagonal, whose every label is a
// batch, row, column or contracted one (e.g. YOLO-World's "bchw,bkc->bkhw") becomes
// Transpose/Reshape -> MatMul -> Reshape/Transpose, which the cpu backend runs natively.
int einsum_to_matmul(Graph& g);

// Runs on the imported graph, before its shapes are fixed (CompiledModel::compile calls it for
// every model): a float16 model computed in float32. Float16 constants and internal values become
// float32, Casts to float16 cast to float32; float16 graph inputs and outputs keep their type and
// names behind one Cast each. Returns the number of values, Casts and boundaries changed.
int float16_to_float32(Graph& g);

PassStats optimize(Graph& g, const OptimizeOptions& opts = {});

// True when Dropout node `n` passes its input through: opset < 12, training_mode absent or a
// constant false, or ratio a constant 0. Training-mode dropout (random) is not an identity.
bool is_inference_dropout(const Graph& g, const Node& n);

}  // namespace shoal
