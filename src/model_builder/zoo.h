// The benchmark zoo: vision architectures users bring besides YOLOv8, written with seeded random
// weights the way their exporters write them (torch: BatchNorm folded into the conv, Paddle:
// BatchNorm left as nodes; opsets 11 to 17; channel shuffles as Reshape/Transpose/Reshape,
// hard-swish as HardSwish or as HardSigmoid·Mul, SiLU as Sigmoid·Mul, GELU through Erf). Used by
// `shoal make-model --zoo NAME`, `scripts/bench_vs_ort.py --zoo` and the zoo's tests (cpu
// against the reference backend).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shoal {

struct ZooEntry {
  std::string name;         // e.g. "resnet50"
  std::string description;  // one line: the architecture and how it is exported
  int imgsz = 224;          // the size it is usually run at (square input)
  int min_imgsz = 32;       // the input must be a multiple of this
};

// Every zoo architecture, in a fixed order.
const std::vector<ZooEntry>& zoo_entries();

// The architecture `name` at `imgsz` (0: its usual size), input "images" [1, 3, imgsz, imgsz]
// float32. Throws shoal::Error (kInvalidArgument) for an unknown name or an imgsz that is not a
// positive multiple of the entry's min_imgsz.
std::string build_zoo_onnx(const std::string& name, int imgsz = 0, uint32_t seed = 1);

}  // namespace shoal
