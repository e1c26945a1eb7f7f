#include "graph/shape_op_params.h"

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "graph/shape_inference.h"

namespace shoal {

namespace {

std::string ints_str(const std::vector<int64_t>& v) { return dims_str(v); }

}  // namespace

SliceParams slice_params(const Dims& in, const std::vector<int64_t>& starts,
                         const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                         const std::vector<int64_t>& steps, const std::string& label) {
  const int64_t r = static_cast<int64_t>(in.size());
  const size_t n = starts.size();
  if (ends.size() != n || (!axes.empty() && axes.size() != n) ||
      (!steps.empty() && steps.size() != n)) {
    fail(ErrorCode::kInvalidModel,
         "{}: starts {}, ends {}, axes {} and steps {} must have the same length", label,
         ints_str(starts), ints_str(ends), ints_str(axes), ints_str(steps));
  }
  SliceParams p;
  p.out_dims = in;
  p.starts.assign(in.size(), 0);
  p.steps.assign(in.size(), 1);
  std::vector<bool> seen(in.size(), false);
  for (size_t i = 0; i < n; ++i) {
    int64_t a = normalize_axis(axes.empty() ? static_cast<int64_t>(i) : axes[i], r, label);
    if (seen[static_cast<size_t>(a)]) {
      fail(ErrorCode::kInvalidModel, "{}: axis {} appears twice in axes {}", label, a,
           ints_str(axes));
    }
    seen[static_cast<size_t>(a)] = true;
    const int64_t dim = in[static_cast<size_t>(a)];
    const int64_t s = steps.empty() ? 1 : steps[i];
    if (s == 0) fail(ErrorCode::kInvalidModel, "{}: step for axis {} is 0", label, a);
    int64_t st = starts[i];
    int64_t en = ends[i];
    if (st < 0) st += dim;  // no overflow: dim >= 0
    if (en < 0) en += dim;
    int64_t len = 0;
    if (s > 0) {
      st = std::clamp<int64_t>(st, 0, dim);
      en = std::clamp<int64_t>(en, 0, dim);
      if (en > st)
        len =
            static_cast<int64_t>((static_cast<uint64_t>(en - st) - 1) / static_cast<uint64_t>(s)) +
            1;
    } else if (dim > 0) {
      st = std::clamp<int64_t>(st, 0, dim - 1);
      en = std::clamp<int64_t>(en, -1, dim - 1);
      uint64_t mag = static_cast<uint64_t>(-(s + 1)) + 1;  // |s| without overflow at INT64_MIN
      if (st > en) len = static_cast<int64_t>((static_cast<uint64_t>(st - en) - 1) / mag) + 1;
    } else {
      st = 0;
    }
    p.starts[static_cast<size_t>(a)] = st;
    p.steps[static_cast<size_t>(a)] = s;
    p.out_dims[static_cast<size_t>(a)] = len;
  }
  return p;
}

PadParams pad_params(const Dims& in, const std::vector<int64_t>& pads,
                     const std::vector<int64_t>& axes, const std::string& label) {
  const int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> ax = axes;
  if (ax.empty()) {
    for (int64_t i = 0; i < r; ++i) ax.push_back(i);
  }
  if (pads.size() != 2 * ax.size()) {
    fail(ErrorCode::kInvalidModel, "{}: pads {} must have 2 values per padded axis ({} axes)",
         label, ints_str(pads), ax.size());
  }
  PadParams p;
  p.begin.assign(in.size(), 0);
  p.end.assign(in.size(), 0);
  std::vector<bool> seen(in.size(), false);
  for (size_t i = 0; i < ax.size(); ++i) {
    int64_t a = normalize_axis(ax[i], r, label);
    if (seen[static_cast<size_t>(a)]) {
      fail(ErrorCode::kInvalidModel, "{}: axis {} appears twice in axes {}", label, a,
           ints_str(axes));
    }
    seen[static_cast<size_t>(a)] = true;
    p.begin[static_cast<size_t>(a)] = pads[i];
    p.end[static_cast<size_t>(a)] = pads[i + ax.size()];
  }
  p.out_dims = in;
  for (size_t k = 0; k < in.size(); ++k) {
    int64_t d = checked_add(checked_add(in[k], p.begin[k]), p.end[k]);
    if (d < 0) {
      fail(ErrorCode::kInvalidModel, "{}: pads {} make dim {} of {} negative ({})", label,
           ints_str(pads), k, dims_str(in), d);
    }
    p.out_dims[k] = d;
  }
  return p;
}

}  // namespace shoal
