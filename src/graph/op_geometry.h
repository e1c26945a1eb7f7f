// Geometry of sliding-window ops (Conv, ConvTranspose, MaxPool, AveragePool: kernel, strides,
// dilations, explicit or auto pads, output sizes), resampling ops (Resize, Upsample: scales and
// output sizes) and reductions (axes), computed once from the ONNX attributes so shape inference
// and every backend agree. Knows nothing about backends.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "graph/ir.h"

namespace shoal {

struct ConvGeometry {
  int64_t spatial = 0;          // number of spatial dims (rank - 2)
  std::vector<int64_t> in;      // input spatial sizes
  std::vector<int64_t> out;     // output spatial sizes
  std::vector<int64_t> kernel;  // kernel spatial sizes
  std::vector<int64_t> stride;
  std::vector<int64_t> dilation;
  std::vector<int64_t> pad_begin;  // resolved pads (auto_pad applied)
  std::vector<int64_t> pad_end;
  std::vector<int64_t> output_padding;  // ConvTranspose only, else zeros
};

namespace conv_geometry_detail {

inline std::vector<int64_t> spatial_attr(const Node& node, const char* name, int64_t spatial,
                                         int64_t def, int64_t min_value, const std::string& label) {
  std::vector<int64_t> v = node.attr_ints(name, std::vector<int64_t>(spatial, def));
  if (v.empty()) v.assign(static_cast<size_t>(spatial), def);
  if (static_cast<int64_t>(v.size()) != spatial) {
    fail(ErrorCode::kInvalidModel, "{}: attribute {} has {} values, expected {} (spatial dims)",
         label, name, v.size(), spatial);
  }
  for (int64_t x : v) {
    if (x < min_value) {
      fail(ErrorCode::kInvalidModel, "{}: attribute {} = {} must be >= {}", label, name,
           dims_str(v), min_value);
    }
  }
  return v;
}

inline ConvGeometry common(const Node& node, const Dims& x, const std::vector<int64_t>& kernel,
                           const std::string& label) {
  if (x.size() < 3) {
    fail(ErrorCode::kInvalidModel, "{}: input must have rank >= 3 (N, C, spatial...), got {}",
         label, dims_str(x));
  }
  ConvGeometry g;
  g.spatial = static_cast<int64_t>(x.size()) - 2;
  g.in.assign(x.begin() + 2, x.end());
  if (static_cast<int64_t>(kernel.size()) != g.spatial) {
    fail(ErrorCode::kInvalidModel, "{}: kernel_shape {} does not match {} spatial dims of input {}",
         label, dims_str(kernel), g.spatial, dims_str(x));
  }
  for (int64_t k : kernel) {
    if (k < 1)
      fail(ErrorCode::kInvalidModel, "{}: kernel_shape {} must be >= 1", label, dims_str(kernel));
  }
  g.kernel = kernel;
  g.stride = spatial_attr(node, "strides", g.spatial, 1, 1, label);
  g.dilation = spatial_attr(node, "dilations", g.spatial, 1, 1, label);
  g.output_padding.assign(static_cast<size_t>(g.spatial), 0);
  std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * g.spatial, 0));
  if (pads.empty()) pads.assign(static_cast<size_t>(2 * g.spatial), 0);
  if (static_cast<int64_t>(pads.size()) != 2 * g.spatial) {
    fail(ErrorCode::kInvalidModel, "{}: pads {} must have {} values", label, dims_str(pads),
         2 * g.spatial);
  }
  for (int64_t p : pads) {
    if (p < 0) fail(ErrorCode::kUnsupported, "{}: negative pads {}", label, dims_str(pads));
  }
  g.pad_begin.assign(pads.begin(), pads.begin() + g.spatial);
  g.pad_end.assign(pads.begin() + g.spatial, pads.end());
  return g;
}

inline std::string auto_pad(const Node& node, const std::string& label) {
  std::string ap = node.attr_string("auto_pad", "NOTSET");
  if (ap != "NOTSET" && ap != "SAME_UPPER" && ap != "SAME_LOWER" && ap != "VALID") {
    fail(ErrorCode::kInvalidModel, "{}: unknown auto_pad '{}'", label, ap);
  }
  return ap;
}

}  // namespace conv_geometry_detail

// Conv and pooling: out = floor((in + pads - dilated_kernel) / stride) + 1 (ceil with ceil_mode,
// dropping a last window that would start inside the end padding, as ONNX Runtime and PyTorch
// do); SAME_* pads to out = ceil(in / stride), the odd pixel at the end (UPPER) or start (LOWER).
inline ConvGeometry compute_conv_geometry(const Node& node, const Dims& x,
                                          const std::vector<int64_t>& kernel, bool ceil_mode,
                                          const std::string& label) {
  using namespace conv_geometry_detail;
  ConvGeometry g = common(node, x, kernel, label);
  std::string ap = auto_pad(node, label);
  g.out.resize(static_cast<size_t>(g.spatial));
  for (size_t i = 0; i < g.out.size(); ++i) {
    int64_t dk = checked_add(checked_mul(g.kernel[i] - 1, g.dilation[i]), 1);
    int64_t in = g.in[i], s = g.stride[i];
    if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      g.out[i] = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(
          0, checked_add(checked_mul(std::max<int64_t>(g.out[i] - 1, 0), s), dk) - in);
      int64_t small = total / 2;
      g.pad_begin[i] = ap == "SAME_UPPER" ? small : total - small;
      g.pad_end[i] = total - g.pad_begin[i];
      continue;
    }
    if (ap == "VALID") g.pad_begin[i] = g.pad_end[i] = 0;
    int64_t padded = checked_add(checked_add(in, g.pad_begin[i]), g.pad_end[i]);
    if (padded < dk) {
      fail(ErrorCode::kInvalidModel,
           "{}: kernel {} (dilated {}) is larger than the padded input {} (input {}, pads {}+{}) "
           "on spatial axis {}",
           label, g.kernel[i], dk, padded, in, g.pad_begin[i], g.pad_end[i], i);
    }
    int64_t num = padded - dk;
    if (ceil_mode && ap != "VALID") {
      g.out[i] = (num + s - 1) / s + 1;
      if ((g.out[i] - 1) * s >= in + g.pad_begin[i]) --g.out[i];
    } else {
      g.out[i] = num / s + 1;
    }
  }
  return g;
}

// ConvTranspose: out = stride * (in - 1) + output_padding + dilated_kernel - pads, or the given
// output_shape / SAME_* (out = in * stride) with pads derived from the total padding.
inline ConvGeometry compute_conv_transpose_geometry(const Node& node, const Dims& x,
                                                    const std::vector<int64_t>& kernel,
                                                    const std::string& label) {
  using namespace conv_geometry_detail;
  ConvGeometry g = common(node, x, kernel, label);
  std::string ap = auto_pad(node, label);
  g.output_padding = spatial_attr(node, "output_padding", g.spatial, 0, 0, label);
  std::vector<int64_t> out_shape = node.attr_ints("output_shape");
  if (!out_shape.empty()) {
    if (static_cast<int64_t>(out_shape.size()) == g.spatial + 2) {
      out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
    }
    if (static_cast<int64_t>(out_shape.size()) != g.spatial) {
      fail(ErrorCode::kInvalidModel, "{}: output_shape {} does not match {} spatial dims", label,
           dims_str(out_shape), g.spatial);
    }
  }
  g.out.resize(static_cast<size_t>(g.spatial));
  for (size_t i = 0; i < g.out.size(); ++i) {
    int64_t s = g.stride[i];
    if (g.output_padding[i] >= std::max(s, g.dilation[i])) {
      fail(ErrorCode::kInvalidModel,
           "{}: output_padding {} must be smaller than the stride {} or dilation {} on axis {}",
           label, g.output_padding[i], s, g.dilation[i], i);
    }
    int64_t dk = checked_add(checked_mul(g.kernel[i] - 1, g.dilation[i]), 1);
    int64_t full = checked_add(checked_add(checked_mul(s, g.in[i] - 1), g.output_padding[i]), dk);
    bool same = ap == "SAME_UPPER" || ap == "SAME_LOWER";
    if (!out_shape.empty() || same) {
      int64_t target = !out_shape.empty() ? out_shape[i] : checked_mul(g.in[i], s);
      int64_t total = full - target;
      if (total < 0) {  // larger than the full output: the extra positions hold only the bias
        g.pad_begin[i] = 0;
        g.pad_end[i] = total;
      } else if (ap == "SAME_UPPER") {
        g.pad_begin[i] = total / 2;
        g.pad_end[i] = total - total / 2;
      } else {
        g.pad_begin[i] = total - total / 2;
        g.pad_end[i] = total / 2;
      }
      g.out[i] = target;
      continue;
    }
    if (ap == "VALID") g.pad_begin[i] = g.pad_end[i] = 0;
    g.out[i] = full - g.pad_begin[i] - g.pad_end[i];
    if (g.out[i] < 0) {
      fail(ErrorCode::kInvalidModel, "{}: pads {}+{} exceed the output size {} on axis {}", label,
           g.pad_begin[i], g.pad_end[i], full, i);
    }
  }
  return g;
}

struct ResizeGeometry {
  Dims out;                       // output dims
  std::vector<double> scale;      // per axis: the scale coordinate transforms use (1 if unscaled)
  std::vector<double> roi_start;  // per axis, normalised (tf_crop_and_resize); default 0
  std::vector<double> roi_end;    // default 1
};

// Resize (opsets 10-19) and Upsample (7-9). `roi`, `scales`, `sizes` are the node's inputs of
// those names when given (nullptr otherwise; an empty tensor counts as absent). Output sizes are
// floor(in * scale), or `sizes` (opset 18: restricted to `axes`, optionally keeping the aspect
// ratio with round-half-up sizes, as the ONNX reference implementation does).
inline ResizeGeometry compute_resize_geometry(const Node& node, int opset, const Dims& x,
                                              const Tensor* roi, const Tensor* scales,
                                              const Tensor* sizes, const std::string& label) {
  const int64_t r = static_cast<int64_t>(x.size());
  ResizeGeometry g;
  g.out = x;
  g.scale.assign(static_cast<size_t>(r), 1.0);
  g.roi_start.assign(static_cast<size_t>(r), 0.0);
  g.roi_end.assign(static_cast<size_t>(r), 1.0);
  if (scales && scales->numel() == 0) scales = nullptr;
  if (sizes && sizes->numel() == 0) sizes = nullptr;

  std::vector<int64_t> axes;
  if (node.op_type == "Resize" && opset >= 18 && node.has_attr("axes")) {
    axes = node.attr_ints("axes");
    for (int64_t& a : axes) {
      if (a < -r || a >= r) {
        fail(ErrorCode::kInvalidModel, "{}: axis {} out of range for rank {}", label, a, r);
      }
      if (a < 0) a += r;
    }
    for (size_t i = 0; i < axes.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (axes[i] == axes[j]) {
          fail(ErrorCode::kInvalidModel, "{}: axes {} has duplicates", label, dims_str(axes));
        }
      }
    }
  } else {
    for (int64_t a = 0; a < r; ++a) axes.push_back(a);
  }
  const size_t na = axes.size();

  std::vector<double> sc;
  if (node.op_type == "Upsample" && opset < 9) {
    for (float f : node.attr_floats("scales")) sc.push_back(f);
    if (sc.empty()) fail(ErrorCode::kInvalidModel, "{}: missing attribute scales", label);
  } else if (scales) {
    for (int64_t i = 0; i < scales->numel(); ++i) sc.push_back(scales->get_f64(i));
  }
  if (!sc.empty() && sizes) {
    fail(ErrorCode::kInvalidModel, "{}: only one of scales and sizes may be given", label);
  }
  if (sc.empty() && !sizes) {
    fail(ErrorCode::kInvalidModel, "{}: one of scales and sizes must be given", label);
  }
  if (!sc.empty()) {
    if (sc.size() != na) {
      fail(ErrorCode::kInvalidModel, "{}: {} scales for {} axes of input {}", label, sc.size(), na,
           dims_str(x));
    }
    for (size_t i = 0; i < na; ++i) {
      size_t a = static_cast<size_t>(axes[i]);
      if (!(sc[i] > 0) || !std::isfinite(sc[i])) {
        fail(ErrorCode::kInvalidModel, "{}: scale {} on axis {} must be positive", label, sc[i], a);
      }
      double o = std::floor(static_cast<double>(x[a]) * sc[i]);
      if (o > static_cast<double>(int64_t{1} << 40)) {
        fail(ErrorCode::kLimit, "{}: output size {} on axis {} is too large", label, o, a);
      }
      g.out[a] = static_cast<int64_t>(o);
      g.scale[a] = sc[i];
    }
  } else {
    std::vector<int64_t> sz = sizes->to_i64_vector();
    if (sz.size() != na) {
      fail(ErrorCode::kInvalidModel, "{}: {} sizes for {} axes of input {}", label, sz.size(), na,
           dims_str(x));
    }
    for (size_t i = 0; i < na; ++i) {
      size_t a = static_cast<size_t>(axes[i]);
      if (sz[i] < 0) fail(ErrorCode::kInvalidModel, "{}: negative size {}", label, sz[i]);
      if (x[a] == 0 && sz[i] != 0) {
        fail(ErrorCode::kInvalidModel, "{}: cannot resize an empty axis {} to {}", label, a, sz[i]);
      }
      g.out[a] = sz[i];
      g.scale[a] = x[a] == 0 ? 1.0 : static_cast<double>(sz[i]) / static_cast<double>(x[a]);
    }
    std::string policy =
        opset >= 18 ? node.attr_string("keep_aspect_ratio_policy", "stretch") : "stretch";
    if (policy != "stretch" && na > 0) {
      if (policy != "not_larger" && policy != "not_smaller") {
        fail(ErrorCode::kInvalidModel, "{}: unknown keep_aspect_ratio_policy '{}'", label, policy);
      }
      double s = g.scale[static_cast<size_t>(axes[0])];
      for (int64_t a : axes) {
        s = policy == "not_larger" ? std::min(s, g.scale[static_cast<size_t>(a)])
                                   : std::max(s, g.scale[static_cast<size_t>(a)]);
      }
      for (int64_t a : axes) {
        g.scale[static_cast<size_t>(a)] = s;
        g.out[static_cast<size_t>(a)] =
            static_cast<int64_t>(s * static_cast<double>(x[static_cast<size_t>(a)]) + 0.5);
      }
    }
  }

  if (roi && roi->numel() > 0 &&
      node.attr_string("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize") {
    if (roi->numel() != static_cast<int64_t>(2 * na)) {
      fail(ErrorCode::kInvalidModel, "{}: roi has {} values, expected {}", label, roi->numel(),
           2 * na);
    }
    for (size_t i = 0; i < na; ++i) {
      g.roi_start[static_cast<size_t>(axes[i])] = roi->get_f64(static_cast<int64_t>(i));
      g.roi_end[static_cast<size_t>(axes[i])] = roi->get_f64(static_cast<int64_t>(na + i));
    }
  }
  return g;
}

// Reduced axes of ReduceMean/ReduceMax/ReduceSum as a mask over the input's rank. Axes come from
// the attribute (ReduceSum before opset 13, the others before 18) or from input 1 (`axes_input`,
// nullptr when omitted). No axes: all axes, or none when noop_with_empty_axes is set.
inline std::vector<bool> compute_reduce_axes(const Node& node, int opset, const Tensor* axes_input,
                                             int64_t rank, const std::string& label) {
  int axes_input_opset = node.op_type == "ReduceSum" ? 13 : 18;
  std::vector<int64_t> axes;
  bool noop = false;
  if (opset < axes_input_opset) {
    axes = node.attr_ints("axes");
  } else {
    if (axes_input) axes = axes_input->to_i64_vector();
    noop = node.attr_int("noop_with_empty_axes", 0) != 0;
  }
  std::vector<bool> mask(static_cast<size_t>(rank), axes.empty() && !noop);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) {
      fail(ErrorCode::kInvalidModel, "{}: axis {} out of range for rank {}", label, a, rank);
    }
    if (a < 0) a += rank;
    mask[static_cast<size_t>(a)] = true;
  }
  return mask;
}

}  // namespace shoal
