// fold_space_to_depth_conv: a YOLOv5/YOLOX "Focus" (Concat of stride-2 Slices) followed by a
// Conv becomes one Conv with doubled kernel, stride and pads on the unsliced input.
#include <algorithm>
#include <utility>
#include <vector>

#include "graph/passes.h"
#include "graph/passes/pass_util.h"
#include "graph/shape_op_params.h"

namespace shoal {

using passes_internal::sole_consumer;

namespace {

// Slice node `s` resolved (per input dim: start, step, output length), when its parameters are
// constants.
bool constant_slice(const Graph& g, const Node& s, SliceParams* out) {
  const Value& in = g.value(s.inputs[0]);
  if (!in.has_shape) return false;
  std::vector<int64_t> params[4];  // starts, ends, axes, steps
  if (g.opset < 10) {
    params[0] = s.attr_ints("starts");
    params[1] = s.attr_ints("ends");
    params[2] = s.attr_ints("axes");
  } else {
    for (int i = 1; i <= 4; ++i) {
      const ValueId id = s.input(i);
      if (id == kNoValue) continue;
      if (!g.value(id).is_constant()) return false;
      params[i - 1] = g.value(id).constant.to_i64_vector();
    }
  }
  *out = slice_params(in.dims, params[0], params[1], params[2], params[3], s.name);
  return true;
}

// One input of a space-to-depth ("Focus") Concat: x[:, :, dh::2, dw::2] written as one Slice
// over both spatial axes or a chain of two one-axis Slices.
struct FocusPart {
  ValueId source = kNoValue;
  int64_t offset[2] = {-1, -1};  // start on H and W (0 or 1)
};

bool focus_part(const Graph& g, ValueId v, FocusPart* part) {
  for (int depth = 0; depth < 2 && (part->offset[0] < 0 || part->offset[1] < 0); ++depth) {
    const NodeId pid = g.value(v).producer;
    if (pid < 0) return false;
    const Node& s = g.nodes[static_cast<size_t>(pid)];
    SliceParams sp;
    if (s.dead || s.op_type != "Slice" || !constant_slice(g, s, &sp)) return false;
    const Dims& in = g.value(s.inputs[0]).dims;
    if (in.size() != 4) return false;
    for (size_t a = 0; a < 4; ++a) {
      if (sp.steps[a] == 1 && sp.starts[a] == 0 && sp.out_dims[a] == in[a]) continue;  // whole
      // Every second row (column) from 0 or 1, to the end of an even-sized dim.
      if (a < 2 || sp.steps[a] != 2 || sp.starts[a] > 1 || in[a] % 2 != 0 ||
          sp.out_dims[a] != in[a] / 2 || part->offset[a - 2] >= 0) {
        return false;
      }
      part->offset[a - 2] = sp.starts[a];
    }
    v = s.inputs[0];
  }
  if (part->offset[0] < 0 || part->offset[1] < 0) return false;
  part->source = v;
  return true;
}

}  // namespace

int fold_space_to_depth_conv(Graph& g) {
  int count = 0;
  auto cons = g.consumers();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& conv = g.nodes[i];
    if (conv.dead || conv.op_type != "Conv" || conv.num_inputs() < 2) continue;
    const ValueId z = conv.inputs[0];
    const NodeId cat_id = g.value(z).producer;
    if (cat_id < 0 || g.is_graph_output(z) || sole_consumer(cons, z) != static_cast<NodeId>(i))
      continue;
    const Node& cat = g.nodes[static_cast<size_t>(cat_id)];
    const Value& zv = g.value(z);
    if (cat.dead || cat.op_type != "Concat" || !zv.has_shape || zv.dims.size() != 4) continue;
    if (cat.attr_int("axis", 0) != 1 && cat.attr_int("axis", 0) != -3) continue;
    const Value& wv = g.value(conv.inputs[1]);
    if (!wv.is_constant() || wv.dtype != DType::kF32 || wv.dims.size() != 4) continue;
    if (conv.attr_int("group", 1) != 1 || conv.attr_string("auto_pad", "NOTSET") != "NOTSET")
      continue;
    std::vector<int64_t> dil = conv.attr_ints("dilations", {1, 1});
    if (dil.size() != 2 || dil[0] != 1 || dil[1] != 1) continue;
    // Every Concat input: the same source, its own (dh, dw), the same channel count.
    std::vector<FocusPart> parts;
    bool ok = !cat.inputs.empty();
    int64_t c_part = -1;
    for (ValueId in : cat.inputs) {
      FocusPart fp;
      const Value& iv = g.value(in);
      if (!ok || !iv.has_shape || iv.dims.size() != 4 || !focus_part(g, in, &fp)) {
        ok = false;
        break;
      }
      for (const FocusPart& q : parts) {
        ok &= q.source == fp.source && (q.offset[0] != fp.offset[0] || q.offset[1] != fp.offset[1]);
      }
      if (c_part < 0) c_part = iv.dims[1];
      ok &= iv.dims[1] == c_part;
      parts.push_back(fp);
    }
    if (!ok) continue;
    const Value& xv = g.value(parts[0].source);
    if (!xv.has_shape || xv.dims.size() != 4 || xv.dims[1] != c_part || xv.dims[2] % 2 != 0 ||
        xv.dims[3] % 2 != 0 || zv.dims[2] * 2 != xv.dims[2] || zv.dims[3] * 2 != xv.dims[3]) {
      continue;
    }
    const Dims& wd = wv.dims;  // [O, parts * C, kh, kw]
    if (wd[1] != c_part * static_cast<int64_t>(parts.size())) continue;
    // Conv(k, stride s, pads p) over the Concat = Conv(2k, stride 2s, pads 2p) over the source:
    // channel c of part (dh, dw), tap (ky, kx) reads source row 2(s i + ky - p) + dh.
    const int64_t oc = wd[0], kh = wd[2], kw = wd[3];
    Tensor nw(DType::kF32, {oc, c_part, 2 * kh, 2 * kw});
    std::fill(nw.data<float>(), nw.data<float>() + nw.numel(), 0.f);
    const float* src = wv.constant.data<float>();
    float* dst = nw.data<float>();
    for (int64_t o = 0; o < oc; ++o)
      for (size_t pi = 0; pi < parts.size(); ++pi)
        for (int64_t c = 0; c < c_part; ++c)
          for (int64_t ky = 0; ky < kh; ++ky)
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t u = 2 * ky + parts[pi].offset[0], v = 2 * kx + parts[pi].offset[1];
              dst[((o * c_part + c) * 2 * kh + u) * 2 * kw + v] =
                  src[((o * wd[1] + static_cast<int64_t>(pi) * c_part + c) * kh + ky) * kw + kx];
            }
    std::vector<int64_t> strides = conv.attr_ints("strides", {1, 1});
    std::vector<int64_t> pads = conv.attr_ints("pads", {0, 0, 0, 0});
    if (strides.size() != 2 || pads.size() != 4) continue;
    for (int64_t& st : strides) st *= 2;
    for (int64_t& pd : pads) pd *= 2;
    const ValueId nwid = g.add_constant(wv.name + "_space_to_depth", std::move(nw));
    Node& c2 = g.nodes[i];
    c2.inputs[0] = parts[0].source;
    c2.inputs[1] = nwid;
    c2.attrs["kernel_shape"] = Attribute::make_ints({2 * kh, 2 * kw});
    c2.attrs["strides"] = Attribute::make_ints(strides);
    c2.attrs["pads"] = Attribute::make_ints(pads);
    c2.attrs["dilations"] = Attribute::make_ints({1, 1});
    ++count;
    cons = g.consumers();
  }
  if (count) eliminate_dead_code(g);
  return count;
}

}  // namespace shoal
