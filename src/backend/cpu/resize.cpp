// Resize / Upsample on the oneDNN resampling primitive, where its coordinate rule equals ONNX's:
// nearest with integer up-scaling under (asymmetric, floor) or (half_pixel, round_prefer_*) (every
// output pixel copies input pixel floor(o / s), as oneDNN's round((o + .5) / s - .5) does), and
// linear under half_pixel (oneDNN clamps at the borders as ONNX does). Everything else (cubic,
// align_corners, fractional nearest, antialias, ...) goes to the generic kernel. A hand-written
// 2x copy was measured no faster: both are bound by writing the output.
#include <cmath>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"
#include "graph/op_geometry.h"

namespace shoal::cpu {

bool resize_supported(const OpContext& c, std::string* why) {
  if (c.in[0].dtype != DType::kF32 || c.out[0].dtype != DType::kF32) {
    *why = "non-float32 data";
    return false;
  }
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  const Node& n = c.node;
  if (x.size() < 3 || x.size() > 5 || x[0] != y[0] || x[1] != y[1]) {
    *why = "resizes batch or channels, or rank outside 3..5";
    return false;
  }
  std::string mode = n.attr_string("mode", "nearest");
  bool resize = n.op_type == "Resize";
  std::string ctm = resize && c.opset >= 11
                        ? n.attr_string("coordinate_transformation_mode", "half_pixel")
                        : "asymmetric";
  std::string nearest =
      resize && c.opset >= 11 ? n.attr_string("nearest_mode", "round_prefer_floor") : "floor";
  if (resize && c.opset < 11) nearest = "round_prefer_floor";  // opset 10 rounds
  if (n.attr_int("antialias", 0) != 0) {
    *why = "antialias";
    return false;
  }
  // The scales ONNX uses must be exactly out/in (what oneDNN uses).
  auto constant = [&](size_t i) -> const Tensor* {
    return i < c.in.size() && c.in[i].present() ? c.in[i].constant : nullptr;
  };
  for (size_t i = 1; i < c.in.size(); ++i) {
    if (c.in[i].present() && !c.in[i].constant) {
      *why = "scales or sizes computed at run time";
      return false;
    }
  }
  ResizeGeometry g;
  if (resize && c.opset >= 11) {
    g = compute_resize_geometry(n, c.opset, x, constant(1), constant(2), constant(3), c.label);
  } else {
    g = compute_resize_geometry(n, c.opset, x, nullptr, constant(1), nullptr, c.label);
  }
  bool integer_up = true;
  for (size_t i = 2; i < x.size(); ++i) {
    if (g.scale[i] != static_cast<double>(y[i]) / static_cast<double>(x[i])) {
      *why = "scale is not out/in";
      return false;
    }
    if (y[i] < x[i] || y[i] % x[i] != 0) integer_up = false;
  }
  if (mode == "nearest") {
    bool asym_floor = ctm == "asymmetric" && nearest == "floor";
    bool half_round = (ctm == "half_pixel" || ctm == "pytorch_half_pixel") &&
                      (nearest == "round_prefer_floor" || nearest == "round_prefer_ceil");
    if (integer_up && (asym_floor || half_round)) return true;
    *why = fmt::format("nearest with {}/{} and non-integer scale", ctm, nearest);
    return false;
  }
  if (mode == "linear") {
    bool ok = ctm == "half_pixel";
    if (ctm == "pytorch_half_pixel") {
      ok = true;
      for (size_t i = 2; i < y.size(); ++i) ok = ok && y[i] > 1;
    }
    if (ok) return true;
    *why = "linear with coordinate_transformation_mode " + ctm;
    return false;
  }
  *why = "mode " + mode;
  return false;
}

KernelBuild build_resize(const OpContext& c) {
  require_f32(c);
  std::string mode = c.node.attr_string("mode", "nearest");
  const Layout l = c.out[0].layout;
  dnnl::memory::desc src = make_md(c.precision, c.in[0].dims, c.in[0].layout);
  dnnl::memory::desc dst = make_md(c.precision, c.out[0].dims, l);
  dnnl::resampling_forward::desc d(
      dnnl::prop_kind::forward_inference,
      mode == "linear" ? dnnl::algorithm::resampling_linear : dnnl::algorithm::resampling_nearest,
      src, dst);
  dnnl::resampling_forward::primitive_desc pd(d, user_scratchpad_attr(), dnnl_engine());
  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  ArgSource out = k->output(0, dst);
  k->add(dnnl::resampling_forward(pd), pd,
         {{DNNL_ARG_SRC, k->input(kb.use_input(0), src)}, {DNNL_ARG_DST, out}});
  append_post_op_calls(c, kb, *k, out, c.out[0].dims, l);
  kb.set_dnnl(std::move(k));
  return kb;
}

}  // namespace shoal::cpu
