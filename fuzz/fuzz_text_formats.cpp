// libFuzzer target for the text formats users hand to `shoal detect` or read back from it
// (vision/model_info.h, vision/result_export.h). The first byte picks the parser, the rest is its
// text: 'N' a names file (lines, a {id: 'name'} dict, or Ultralytics' data.yaml through
// yaml-cpp), 'Y' a YOLO txt label file, 'O' an oriented-box (OBB) YOLO txt label file, 'C' a CSV
// results file. shoal::Error is the only
// acceptable failure; anything else (another exception, a crash, a hang, a sanitizer report) is
// a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "vision/model_info.h"
#include "vision/result_export.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0]) {
      case 'N':
        if (shoal::vision::parse_names_text(text, "fuzz").empty()) __builtin_trap();
        break;
      case 'Y':
        shoal::vision::parse_yolo_txt(text);
        break;
      case 'O':
        shoal::vision::parse_yolo_txt_obb(text);
        break;
      case 'C':
        shoal::vision::parse_csv(text);
        break;
      default:
        break;
    }
  } catch (const shoal::Error&) {
  }
  return 0;
}
