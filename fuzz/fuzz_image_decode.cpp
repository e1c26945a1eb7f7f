// libFuzzer target for image input (vision/image_io.h): arbitrary bytes through decode_image,
// i.e. the header probe with its size limits, the libjpeg-turbo JPEG path (setjmp error
// handling, EXIF parsing) and OpenCV's decoders behind it. shoal::Error is the only acceptable
// failure; a decoded image must be non-empty 8-bit BGR within the limits. Anything else (another
// exception, a crash, a leak, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "vision/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cv::Mat img;
  try {
    shoal::vision::decode_image_into(data, size, "fuzz", img);
  } catch (const shoal::Error&) {
    return 0;
  }
  if (img.empty() || img.type() != CV_8UC3 || img.cols > shoal::vision::kMaxImageSide ||
      img.rows > shoal::vision::kMaxImageSide) {
    __builtin_trap();
  }
  return 0;
}
