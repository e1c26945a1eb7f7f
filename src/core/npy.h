// Reading and writing NumPy .npy files (C order, little-endian) for tensors.
#pragma once

#include <string>

#include "core/tensor.h"

namespace shoal {

// Throws kNotFound / kInvalidArgument with the path and what is wrong.
Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const Tensor& t);

}  // namespace shoal
