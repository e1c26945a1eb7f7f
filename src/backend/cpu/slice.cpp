// Slice with compile-time parameters, step 1 and one sliced axis: a Split with one piece
// (split.cpp emits it: a view at batch 1 on the leading axes, else a strided copy). Steps, several
// sliced axes or run-time parameters go to the generic kernel.
#include "backend/cpu/lowering.h"
#include "graph/shape_op_params.h"

namespace shoal::cpu {

bool plan_slice(const OpContext& c, NodePlan& pl) {
  const Node& node = c.node;
  if (node.op_type != "Slice" || !node.post_ops.empty()) return false;
  bool const_params = true;
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset >= 10 && c.in.size() < 3) {
    const_params = false;
  } else if (c.opset >= 10) {
    for (int i = 1; i < static_cast<int>(c.in.size()); ++i) {
      if (c.in[static_cast<size_t>(i)].present() && !c.in[static_cast<size_t>(i)].constant) {
        const_params = false;
      }
    }
    if (const_params) {
      starts = c.in[1].constant->to_i64_vector();
      ends = c.in[2].constant->to_i64_vector();
      if (c.in.size() > 3 && c.in[3].present()) axes = c.in[3].constant->to_i64_vector();
      if (c.in.size() > 4 && c.in[4].present()) steps = c.in[4].constant->to_i64_vector();
    }
  } else {
    starts = node.attr_ints("starts");
    ends = node.attr_ints("ends");
    axes = node.attr_ints("axes");
  }
  if (const_params) {
    SliceParams sp = slice_params(c.in[0].dims, starts, ends, axes, steps, c.label);
    int differing = 0, axis = 0;
    bool unit = true;
    for (size_t i = 0; i < sp.steps.size(); ++i) {
      if (sp.steps[i] != 1) unit = false;
      if (sp.out_dims[i] != c.in[0].dims[i]) {
        ++differing;
        axis = static_cast<int>(i);
      }
    }
    if (unit && differing <= 1 && sp.out_dims == c.out[0].dims) {
      pl.kind = NodeKind::kSlice;
      pl.axis = axis;
      pl.slice_start = sp.starts[static_cast<size_t>(axis)];
      pl.layout_class = LayoutClass::kUniform;
      pl.blocked_ok = c.in[0].dims.size() == 4 && axis == 1 &&
                      pl.slice_start % channel_block() == 0 &&
                      c.out[0].dims[1] % channel_block() == 0;
      return true;
    }
  }
  pl.why = "Slice with steps, several axes or run-time parameters";
  return true;
}

}  // namespace shoal::cpu
