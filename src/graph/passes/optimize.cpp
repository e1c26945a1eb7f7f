// optimize: the pass pipeline, in order, with the count of what each pass changed.
#include "graph/passes.h"

namespace shoal {

PassStats optimize(Graph& g, const OptimizeOptions& opts) {
  PassStats s;
  s["elide_identities"] = elide_identities(g);
  if (opts.einsum_to_matmul) s["einsum_to_matmul"] = einsum_to_matmul(g);
  s["dce"] = eliminate_dead_code(g);
  if (opts.fold_space_to_depth) s["fold_space_to_depth_conv"] = fold_space_to_depth_conv(g);
  if (opts.fold_batch_norm) s["fold_batch_norm"] = fold_batch_norm(g);
  if (opts.fuse_quantized_conv) s["fuse_quantized_conv"] = fuse_quantized_conv(g);
  if (opts.fuse_activations) s["fuse_activations"] = fuse_activations(g);
  if (opts.fuse_residual_add) {
    s["fuse_residual_add"] = fuse_residual_add(g);
    if (opts.fuse_activations) s["fuse_activations"] += fuse_activations(g);
  }
  s["dce"] += eliminate_dead_code(g);
  return s;
}

}  // namespace shoal
