#include "vision/image_io.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "core/bytes.h"
#include "core/error.h"
#include "vision/jpeg.h"

namespace shoal::vision {
namespace {

[[noreturn]] void corrupt(const std::string& what, const std::string& why) {
  fail(ErrorCode::kInvalidArgument, "image '{}': {}", what, why);
}

ImageHeader probe_png(const uint8_t* d, size_t n, const std::string& what) {
  // Signature (8), IHDR length (4), "IHDR" (4), width, height, depth, colour type.
  if (n < 33) corrupt(what, fmt::format("truncated PNG ({} bytes, no complete IHDR)", n));
  if (std::memcmp(d + 12, "IHDR", 4) != 0) corrupt(what, "corrupt PNG: first chunk is not IHDR");
  ImageHeader h;
  h.format = "png";
  const uint32_t w = load_be32(d + 16), ht = load_be32(d + 20);
  if (w == 0 || ht == 0 || w > 0x7fffffffu || ht > 0x7fffffffu) {
    corrupt(what, fmt::format("corrupt PNG: IHDR says {} x {}", w, ht));
  }
  h.width = static_cast<int>(std::min<uint32_t>(w, 0x7fffffff));
  h.height = static_cast<int>(std::min<uint32_t>(ht, 0x7fffffff));
  h.bit_depth = d[24];
  switch (d[25]) {
    case 0:
      h.channels = 1;
      break;
    case 2:
      h.channels = 3;
      break;
    case 3:
      h.channels = 3;
      break;  // palette
    case 4:
      h.channels = 2;
      break;
    case 6:
      h.channels = 4;
      break;
    default:
      corrupt(what, fmt::format("corrupt PNG: colour type {}", d[25]));
  }
  return h;
}

ImageHeader probe_jpeg(const uint8_t* d, size_t n, const std::string& what) {
  size_t i = 2;
  while (true) {
    // Markers: 0xFF (fill 0xFF bytes allowed) then the code.
    if (i >= n) corrupt(what, "truncated JPEG (no frame header before the end of the file)");
    if (d[i] != 0xFF) corrupt(what, fmt::format("corrupt JPEG: expected a marker at byte {}", i));
    while (i < n && d[i] == 0xFF) ++i;
    if (i >= n) corrupt(what, "truncated JPEG (no frame header before the end of the file)");
    const uint8_t m = d[i++];
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // no length
    if (m == 0xD9 || m == 0xDA) corrupt(what, "corrupt JPEG: image data before the frame header");
    if (i + 2 > n) corrupt(what, "truncated JPEG (inside a header segment)");
    const uint32_t len = load_be16(d + i);
    if (len < 2) corrupt(what, "corrupt JPEG: bad segment length");
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      if (len < 8 || i + 8 > n) corrupt(what, "truncated JPEG (inside the frame header)");
      ImageHeader h;
      h.format = "jpeg";
      h.bit_depth = d[i + 2];
      h.height = static_cast<int>(load_be16(d + i + 3));
      h.width = static_cast<int>(load_be16(d + i + 5));
      h.channels = d[i + 7];
      if (h.width == 0 || h.height == 0) {
        corrupt(what, fmt::format("corrupt or unsupported JPEG: frame header says {} x {}", h.width,
                                  h.height));
      }
      // Whether the image data is complete is the decoder's to say (a missing end-of-image
      // marker alone is fine; data that ends before the last row is not).
      return h;
    }
    i += len;
  }
}

ImageHeader probe_bmp(const uint8_t* d, size_t n, const std::string& what) {
  if (n < 26) corrupt(what, fmt::format("truncated BMP ({} bytes, no complete header)", n));
  const uint32_t hdr = load_le<uint32_t>(d + 14);
  ImageHeader h;
  h.format = "bmp";
  int64_t w = 0, ht = 0;
  if (hdr == 12) {  // OS/2 BITMAPCOREHEADER
    w = load_le<uint16_t>(d + 18);
    ht = load_le<uint16_t>(d + 20);
    h.bit_depth = static_cast<int>(load_le<uint16_t>(d + 24));
  } else if (hdr >= 40) {
    if (n < 30) corrupt(what, "truncated BMP header");
    w = static_cast<int32_t>(load_le<uint32_t>(d + 18));
    ht = static_cast<int32_t>(load_le<uint32_t>(d + 22));
    h.bit_depth = static_cast<int>(load_le<uint16_t>(d + 28));
  } else {
    corrupt(what, fmt::format("corrupt BMP: info header size {}", hdr));
  }
  if (ht < 0) ht = -ht;  // top-down rows
  if (w <= 0 || ht <= 0) corrupt(what, fmt::format("corrupt BMP: header says {} x {}", w, ht));
  h.width = static_cast<int>(std::min<int64_t>(w, 0x7fffffff));
  h.height = static_cast<int>(std::min<int64_t>(ht, 0x7fffffff));
  h.channels = h.bit_depth == 32 ? 4 : 3;
  const uint32_t data_off = load_le<uint32_t>(d + 10);
  if (data_off >= n) corrupt(what, "truncated BMP (pixel data missing)");
  return h;
}

}  // namespace

ImageHeader probe_image(const uint8_t* data, size_t size, const std::string& what,
                        int64_t max_pixels) {
  if (size == 0) fail(ErrorCode::kInvalidArgument, "image '{}': empty file (0 bytes)", what);
  static const uint8_t kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  ImageHeader h;
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) {
    h = probe_png(data, size, what);
  } else if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
    h = probe_jpeg(data, size, what);
  } else if (size >= 2 && data[0] == 'B' && data[1] == 'M') {
    h = probe_bmp(data, size, what);
  } else {
    fail(ErrorCode::kInvalidArgument,
         "image '{}': not a JPEG, PNG or BMP file (starts with bytes {:02x} {:02x} {:02x} {:02x})",
         what, size > 0 ? data[0] : 0, size > 1 ? data[1] : 0, size > 2 ? data[2] : 0,
         size > 3 ? data[3] : 0);
  }
  const int64_t pixels = int64_t{h.width} * h.height;
  max_pixels = std::min(max_pixels, kMaxImagePixels);
  if (h.width > kMaxImageSide || h.height > kMaxImageSide || pixels > max_pixels) {
    fail(ErrorCode::kLimit,
         "image '{}' is {} x {} ({:.1f} MP): above the limit of {} pixels per side and {:.1f} MP; "
         "not decoded",
         what, h.width, h.height, static_cast<double>(pixels) / 1e6, kMaxImageSide,
         static_cast<double>(max_pixels) / 1e6);
  }
  if (h.format == "png") {
    // The stream must end with an IEND chunk, or libpng fails part-way through the pixels
    // (checked after the size limits: a header claiming a huge image is refused as such).
    static const uint8_t kIend[] = {'I', 'E', 'N', 'D'};
    if (std::search(data + 33, data + size, kIend, kIend + 4) == data + size) {
      fail(ErrorCode::kInvalidArgument, "image '{}': truncated PNG (no IEND chunk)", what);
    }
  }
  return h;
}

cv::Mat decode_image(const uint8_t* data, size_t size, const std::string& what) {
  cv::Mat img;
  decode_image_into(data, size, what, img);
  return img;
}

void decode_image_into(const uint8_t* data, size_t size, const std::string& what, cv::Mat& img) {
  const ImageHeader h = probe_image(data, size, what);
  // JPEG: straight through libjpeg-turbo, the same pixels as imdecode, 20% sooner (jpeg.h);
  // anything it does not handle goes to OpenCV.
  if (h.format == "jpeg") {
    const JpegDecode r = decode_jpeg_bgr(data, size, img);
    if (r == JpegDecode::kOk) return;
    if (r == JpegDecode::kTruncated) {
      fail(ErrorCode::kInvalidArgument,
           "image '{}': truncated JPEG (the image data ends before its last rows)", what);
    }
  }
  const cv::Mat buf(1, static_cast<int>(size), CV_8U, const_cast<uint8_t*>(data));
  try {
    // IMREAD_COLOR: always 3-channel 8-bit BGR (gray expanded, alpha dropped, 16-bit scaled down).
    // Decoding into `img` keeps its buffer when the size is unchanged.
    cv::imdecode(buf, cv::IMREAD_COLOR, &img);
  } catch (const cv::Exception& e) {
    fail(ErrorCode::kInvalidArgument, "image '{}': corrupt {} ({})", what, h.format, e.err);
  }
  if (img.empty()) {
    fail(ErrorCode::kInvalidArgument, "image '{}': corrupt {} ({} x {} header, pixels unreadable)",
         what, h.format, h.width, h.height);
  }
  if (img.type() != CV_8UC3) {
    fail(ErrorCode::kInternal, "image '{}': decoder returned type {}", what, img.type());
  }
}

std::vector<uint8_t> read_image_bytes(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path p(path);
  if (!std::filesystem::exists(p, ec)) fail(ErrorCode::kNotFound, "image '{}': no such file", path);
  if (std::filesystem::is_directory(p, ec)) {
    fail(ErrorCode::kInvalidArgument, "image '{}' is a folder", path);
  }
  const auto fsize = std::filesystem::file_size(p, ec);
  if (ec) fail(ErrorCode::kNotFound, "image '{}': cannot read ({})", path, ec.message());
  if (static_cast<int64_t>(fsize) > kMaxImageFileBytes) {
    fail(ErrorCode::kLimit, "image '{}' is {} bytes: above the {} MiB file limit", path, fsize,
         kMaxImageFileBytes >> 20);
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::kNotFound, "image '{}': cannot open", path);
  std::vector<uint8_t> bytes(static_cast<size_t>(fsize));
  if (fsize > 0 &&
      !f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(fsize))) {
    fail(ErrorCode::kNotFound, "image '{}': read error", path);
  }
  return bytes;
}

cv::Mat read_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_image_bytes(path);
  return decode_image(bytes.data(), bytes.size(), path);
}

bool has_image_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

std::vector<std::string> expand_image_args(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& a : args) {
    std::error_code ec;
    if (std::filesystem::is_directory(a, ec)) {
      std::vector<std::string> files;
      for (const auto& e : std::filesystem::directory_iterator(a, ec)) {
        std::error_code ec2;
        if (e.is_regular_file(ec2) && has_image_extension(e.path().string())) {
          files.push_back(e.path().string());
        }
      }
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else {
      out.push_back(a);
    }
  }
  return out;
}

}  // namespace shoal::vision
