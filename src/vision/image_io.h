// Image files in: header probing with size limits (before any pixel is decoded), decoding to
// 8-bit BGR, and expanding folder arguments. Knows nothing about models.
#pragma once

#include <cstddef>
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace shoal::vision {

// Refused before decoding: more than this many pixels per side, or in total.
inline constexpr int kMaxImageSide = 16384;
inline constexpr int64_t kMaxImagePixels = 100'000'000;
// Files larger than this are not read at all.
inline constexpr int64_t kMaxImageFileBytes = int64_t{512} << 20;

struct ImageHeader {
  std::string format;  // "jpeg", "png", "bmp"
  int width = 0, height = 0;
  int channels = 0;   // as stored (1 gray, 3 colour, 4 with alpha); 0 when not stated
  int bit_depth = 8;  // per channel
};

// Reads the dimensions from the header of a JPEG (SOFn), PNG (IHDR) or BMP (info header) and
// checks them against the limits. Throws shoal::Error: kInvalidArgument for empty, truncated or
// corrupt headers and unknown formats (naming what was found), kLimit for oversized images.
// `what` names the source in messages (a path).
// `max_pixels` lowers the pixel limit (a server's own).
ImageHeader probe_image(const uint8_t* data, size_t size, const std::string& what,
                        int64_t max_pixels = kMaxImagePixels);

// probe_image, then decode to CV_8UC3 BGR (gray, alpha and 16-bit images are converted; EXIF
// orientation applied as cv::imread does). Throws shoal::Error on any failure.
cv::Mat decode_image(const uint8_t* data, size_t size, const std::string& what);
// The same into `img`, whose buffer is kept when the decoded size and type match it (no page
// faults on a fresh 2-3 MB buffer per photo). On error `img` is left undefined.
void decode_image_into(const uint8_t* data, size_t size, const std::string& what, cv::Mat& img);

// A file's bytes, with read_image's checks (missing, folder, above the file-size limit).
std::vector<uint8_t> read_image_bytes(const std::string& path);

// Reads and decodes a file. Throws kNotFound for a missing path, plus decode_image's errors.
cv::Mat read_image(const std::string& path);

// True for .jpg/.jpeg/.png/.bmp (any case).
bool has_image_extension(const std::string& path);

// Each argument that is a folder becomes its image files (sorted, not recursive); other
// arguments are kept as given (missing files are reported later, per file).
std::vector<std::string> expand_image_args(const std::vector<std::string>& args);

}  // namespace shoal::vision
