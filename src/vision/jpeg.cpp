#include "vision/jpeg.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>
// After jpeglib.h: the message codes.
#include <jerror.h>

#include <opencv2/core.hpp>

#include "core/bytes.h"

namespace shoal::vision {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  bool data_ran_out = false;
};

void on_error(j_common_ptr c) {
  auto* e = reinterpret_cast<ErrorManager*>(c->err);
  std::longjmp(e->jump, 1);
}
// Warnings are not printed. One is noted: the entropy decoder needed bits the data did not have
// (JWRN_HIT_MARKER), i.e. the image data ends early (libjpeg would fill the rest with gray). A
// file whose data is complete but lacks only its end-of-image marker warns JWRN_JPEG_EOF alone.
void on_emit(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code == JWRN_HIT_MARKER) {
    reinterpret_cast<ErrorManager*>(c->err)->data_ran_out = true;
  }
}

// cv::imdecode's EXIF transform (loadsave.cpp, ExifTransform).
void apply_orientation(int o, cv::Mat& img) {
  switch (o) {
    case 2:
      cv::flip(img, img, 1);
      break;
    case 3:
      cv::flip(img, img, -1);
      break;
    case 4:
      cv::flip(img, img, 0);
      break;
    case 5:
      cv::transpose(img, img);
      break;
    case 6:
      cv::transpose(img, img);
      cv::flip(img, img, 1);
      break;
    case 7:
      cv::transpose(img, img);
      cv::flip(img, img, -1);
      break;
    case 8:
      cv::transpose(img, img);
      cv::flip(img, img, 0);
      break;
    default:
      break;
  }
}

// The libjpeg part, in a function of its own: nothing with a destructor lives in a frame that
// longjmp crosses. Returns the orientation (>= 1), 0 when it does not handle the file, -1 when the
// image data ends early.
int decode(const uint8_t* data, size_t size, cv::Mat* img) {
  jpeg_decompress_struct c;
  ErrorManager err;
  c.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_emit;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&c);
    return 0;
  }
  jpeg_create_decompress(&c);
  jpeg_mem_src(&c, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&c, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(&c, TRUE);
  if (c.num_components != 1 && c.num_components != 3) {  // CMYK / YCCK: OpenCV's own path
    jpeg_destroy_decompress(&c);
    return 0;
  }
  int orientation = 1;
  for (jpeg_saved_marker_ptr m = c.marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 1) {
      orientation = exif_orientation(m->data, m->data_length);
      if (orientation != 1) break;
    }
  }
  c.out_color_space = JCS_EXT_BGR;
  c.out_color_components = 3;
  jpeg_start_decompress(&c);
  // create() keeps the buffer when size and type are unchanged; it does not throw for sizes
  // probe_image accepted.
  img->create(static_cast<int>(c.output_height), static_cast<int>(c.output_width), CV_8UC3);
  while (c.output_scanline < c.output_height) {
    JSAMPROW row = img->ptr<uint8_t>(static_cast<int>(c.output_scanline));
    jpeg_read_scanlines(&c, &row, 1);
  }
  jpeg_finish_decompress(&c);
  jpeg_destroy_decompress(&c);
  return err.data_ran_out ? -1 : orientation;
}

}  // namespace

int exif_orientation(const uint8_t* d, size_t n) {
  if (n < 14 || std::memcmp(d, "Exif\0\0", 6) != 0) return 1;
  const uint8_t* t = d + 6;  // TIFF header
  const size_t tn = n - 6;
  bool le;
  if (t[0] == 'I' && t[1] == 'I') {
    le = true;
  } else if (t[0] == 'M' && t[1] == 'M') {
    le = false;
  } else {
    return 1;
  }
  auto u16 = [&](size_t off) -> uint32_t {
    return le ? load_le<uint16_t>(t + off) : load_be16(t + off);
  };
  auto u32 = [&](size_t off) -> uint32_t {
    return le ? load_le<uint32_t>(t + off) : load_be32(t + off);
  };
  if (u16(2) != 42) return 1;
  const uint32_t ifd = u32(4);
  if (ifd > tn || tn - ifd < 2) return 1;
  const uint32_t count = u16(ifd);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + size_t{12} * i;
    if (e + 12 > tn) return 1;
    if (u16(e) == 0x0112) {  // Orientation, SHORT
      const uint32_t v = u16(e + 8);
      return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
    }
  }
  return 1;
}

JpegDecode decode_jpeg_bgr(const uint8_t* data, size_t size, cv::Mat& img) {
  const int orientation = decode(data, size, &img);
  if (orientation == 0) return JpegDecode::kNotHandled;
  if (orientation < 0) return JpegDecode::kTruncated;
  apply_orientation(orientation, img);
  return JpegDecode::kOk;
}

}  // namespace shoal::vision
