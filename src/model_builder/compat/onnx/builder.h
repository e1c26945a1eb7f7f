// Transitional: the model builder moved to model_builder/builder.h (library shoal_model_builder).
// This folder is on shoal_model_builder's include path only so that files still including the
// old path "onnx/builder.h" build; delete it once none does.
#pragma once

#include "model_builder/builder.h"
