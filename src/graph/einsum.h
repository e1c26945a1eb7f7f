// Einsum equations ("bchw,bkc->bkhw", "...ii->...i", implicit outputs): parsed once against the
// operands' dims into labelled axes, for shape inference and the reference kernel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace shoal {

struct EinsumSpec {
  // Per operand, the label of each of its axes (a repeated label takes a diagonal). Labels are
  // 0..num_labels-1; ellipsis axes get labels of their own, shared across operands.
  std::vector<std::vector<int>> operand_labels;
  std::vector<int> output_labels;  // one per output axis
  std::vector<int64_t> sizes;      // per label (broadcast ellipsis dims of 1 take the other size)
  Dims output_dims;
};

// Throws kInvalidModel naming `label` for a malformed equation or dims that do not agree.
EinsumSpec parse_einsum(const std::string& equation, const std::vector<Dims>& operands,
                        const std::string& label);

}  // namespace shoal
