// Parameter resolution shared by the shape functions and the reference kernels of the data-movement
// ops whose kernel needs more than the output dims (Slice starts/steps, Pad begin/end per axis).
// Pure functions of dims and attribute/input values; knows nothing about graphs or backends.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace shoal {

// A resolved Slice: per input dim, the first element taken, the step and the output length.
struct SliceParams {
  Dims out_dims;
  std::vector<int64_t> starts;
  std::vector<int64_t> steps;
};

// ONNX Slice semantics (opsets 1..19): `axes` empty = 0..n-1, `steps` empty = all 1; negative
// starts/ends count from the end; out-of-range (INT_MAX, INT_MIN) values clamp; negative steps
// walk backwards. Throws kInvalidModel naming `label` on bad axes, lengths or a zero step.
SliceParams slice_params(const Dims& in, const std::vector<int64_t>& starts,
                         const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                         const std::vector<int64_t>& steps, const std::string& label);

// A resolved Pad: elements added before/after each dim (negative crops) and the output dims.
struct PadParams {
  std::vector<int64_t> begin;
  std::vector<int64_t> end;
  Dims out_dims;
};

// `pads` is [x1_begin, x2_begin, ..., x1_end, x2_end, ...] over `axes` (empty = every dim).
PadParams pad_params(const Dims& in, const std::vector<int64_t>& pads,
                     const std::vector<int64_t>& axes, const std::string& label);

}  // namespace shoal
