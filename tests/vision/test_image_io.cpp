// Image input: JPEG/PNG/BMP decode to 8-bit BGR, header limits enforced before decoding, and
// every bad input (missing, empty, truncated, corrupt, not an image, oversized headers) refused
// with a clear, typed error. Grayscale, alpha and 16-bit PNGs are converted; 1x1 images work.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "vision/image_io.h"

namespace shoal::vision {
namespace {

namespace fs = std::filesystem;

std::string tmp_dir() {
  static const std::string d = [] {
    std::string p = testing::TempDir() + "/shoal_vision_images";
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}

std::vector<uint8_t> encode(const cv::Mat& m, const std::string& ext) {
  std::vector<uint8_t> buf;
  EXPECT_TRUE(cv::imencode(ext, m, buf));
  return buf;
}

std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string p = tmp_dir() + "/" + name;
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return p;
}

cv::Mat pattern(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  cv::randu(m, 0, 255);
  return m;
}

// Expects read_image(path) to throw `code` with a message containing `part`.
void expect_error(const std::string& path, ErrorCode code, const std::string& part) {
  try {
    cv::Mat m = read_image(path);
    FAIL() << path << ": decoded " << m.cols << "x" << m.rows << ", expected an error with '"
           << part << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "message names the file";
  }
}

void put_be32(std::vector<uint8_t>& v, size_t at, uint32_t x) {
  v[at] = static_cast<uint8_t>(x >> 24);
  v[at + 1] = static_cast<uint8_t>(x >> 16);
  v[at + 2] = static_cast<uint8_t>(x >> 8);
  v[at + 3] = static_cast<uint8_t>(x);
}

TEST(VisionImage, DecodesAllFormats) {
  const cv::Mat m = pattern(37, 23);
  for (const char* ext : {".png", ".bmp", ".jpg"}) {
    const std::string p = write(std::string("ok") + ext, encode(m, ext));
    cv::Mat d = read_image(p);
    EXPECT_EQ(d.type(), CV_8UC3) << ext;
    EXPECT_EQ(d.size(), m.size()) << ext;
    if (std::string(ext) != ".jpg") {
      EXPECT_EQ(cv::norm(d, m, cv::NORM_INF), 0) << ext;
    }
  }
}

// The JPEG fast path (libjpeg-turbo directly) gives exactly cv::imdecode's pixels: default and
// top quality, progressive, gray, odd and 1x1 sizes, the shared photos, and every EXIF
// orientation in both byte orders.
std::vector<uint8_t> with_exif_orientation(const std::vector<uint8_t>& jpg, int orientation,
                                           bool little_endian) {
  // APP1: "Exif\0\0", TIFF header, IFD0 with one entry (0x0112 SHORT 1 = orientation).
  std::vector<uint8_t> tiff =
      little_endian ? std::vector<uint8_t>{'I',
                                           'I',
                                           42,
                                           0,
                                           8,
                                           0,
                                           0,
                                           0,
                                           1,
                                           0,
                                           0x12,
                                           0x01,
                                           3,
                                           0,
                                           1,
                                           0,
                                           0,
                                           0,
                                           static_cast<uint8_t>(orientation),
                                           0,
                                           0,
                                           0,
                                           0,
                                           0,
                                           0,
                                           0,
                                           0,
                                           0}
                    : std::vector<uint8_t>{
                          'M',  'M',  0, 42, 0, 0, 0, 8, 0, 1,
                          0x01, 0x12, 0, 3,  0, 0, 0, 1, 0, static_cast<uint8_t>(orientation),
                          0,    0,    0, 0,  0, 0, 0, 0};
  std::vector<uint8_t> app1(6 + tiff.size());
  std::memcpy(app1.data(), "Exif\0\0", 6);
  std::copy(tiff.begin(), tiff.end(), app1.begin() + 6);
  const size_t len = app1.size() + 2;
  std::vector<uint8_t> out(jpg.size() + 4 + app1.size());
  const uint8_t marker[6] = {
      jpg[0], jpg[1], 0xFF, 0xE1, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len & 0xFF)};
  std::memcpy(out.data(), marker, 6);
  std::memcpy(out.data() + 6, app1.data(), app1.size());
  std::memcpy(out.data() + 6 + app1.size(), jpg.data() + 2, jpg.size() - 2);
  return out;
}

TEST(VisionImage, JpegFastPathMatchesOpenCv) {
  auto same = [](const std::vector<uint8_t>& bytes, const std::string& what) {
    const cv::Mat want = cv::imdecode(bytes, cv::IMREAD_COLOR);
    cv::Mat got = decode_image(bytes.data(), bytes.size(), what);
    ASSERT_EQ(got.size(), want.size()) << what;
    EXPECT_EQ(cv::norm(got, want, cv::NORM_INF), 0) << what;
  };
  const cv::Mat m = pattern(37, 23);
  same(encode(m, ".jpg"), "420");
  std::vector<uint8_t> b;
  ASSERT_TRUE(cv::imencode(".jpg", m, b, {cv::IMWRITE_JPEG_QUALITY, 100}));
  same(b, "quality 100");
  same(encode(pattern(1, 1), ".jpg"), "1x1");
  ASSERT_TRUE(cv::imencode(".jpg", m, b, {cv::IMWRITE_JPEG_PROGRESSIVE, 1}));
  same(b, "progressive");
  cv::Mat gray(31, 17, CV_8UC1);
  cv::randu(gray, 0, 255);
  same(encode(gray, ".jpg"), "gray");
  for (int o = 1; o <= 8; ++o) {
    for (bool le : {true, false}) {
      same(with_exif_orientation(encode(pattern(37, 23), ".jpg"), o, le),
           "exif orientation " + std::to_string(o) + (le ? " II" : " MM"));
    }
  }
  const char* env = std::getenv("SHOAL_SHARED_DIR");
  const std::string shared = env ? env : SHOAL_SHARED_DIR;
  for (const char* name : {"bus.jpg", "zidane.jpg"}) {
    std::ifstream f(shared + "/images/" + name, std::ios::binary);
    if (!f) continue;
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), {});
    same(bytes, name);
  }
  // The decode buffer is reused for a second image of the same size.
  cv::Mat img;
  const std::vector<uint8_t> a = encode(pattern(40, 30), ".jpg");
  decode_image_into(a.data(), a.size(), "a", img);
  const uint8_t* data = img.data;
  const std::vector<uint8_t> c = encode(pattern(40, 30), ".jpg");
  decode_image_into(c.data(), c.size(), "c", img);
  EXPECT_EQ(img.data, data);
}

TEST(VisionImage, ProbeReadsHeaders) {
  ImageHeader h;
  std::vector<uint8_t> png = encode(pattern(37, 23), ".png");
  h = probe_image(png.data(), png.size(), "x");
  EXPECT_EQ(h.format, "png");
  EXPECT_EQ(h.width, 37);
  EXPECT_EQ(h.height, 23);
  std::vector<uint8_t> jpg = encode(pattern(37, 23), ".jpg");
  h = probe_image(jpg.data(), jpg.size(), "x");
  EXPECT_EQ(h.format, "jpeg");
  EXPECT_EQ(h.width, 37);
  EXPECT_EQ(h.height, 23);
  std::vector<uint8_t> bmp = encode(pattern(37, 23), ".bmp");
  h = probe_image(bmp.data(), bmp.size(), "x");
  EXPECT_EQ(h.format, "bmp");
  EXPECT_EQ(h.width, 37);
  EXPECT_EQ(h.height, 23);
}

TEST(VisionImage, TinyGrayAlphaAnd16Bit) {
  // 1x1: a valid image (letterboxing scales it up).
  cv::Mat one(1, 1, CV_8UC3, cv::Scalar(1, 2, 3));
  cv::Mat d = read_image(write("one.png", encode(one, ".png")));
  EXPECT_EQ(d.size(), cv::Size(1, 1));
  EXPECT_EQ(d.at<cv::Vec3b>(0, 0), cv::Vec3b(1, 2, 3));
  // Grayscale PNG -> BGR with equal channels.
  cv::Mat gray(5, 4, CV_8U, cv::Scalar(77));
  d = read_image(write("gray.png", encode(gray, ".png")));
  EXPECT_EQ(d.type(), CV_8UC3);
  EXPECT_EQ(d.at<cv::Vec3b>(2, 2), cv::Vec3b(77, 77, 77));
  // 16-bit grayscale and colour PNGs -> 8-bit (value >> 8).
  cv::Mat g16(5, 4, CV_16U, cv::Scalar(0xABCD));
  std::vector<uint8_t> b16 = encode(g16, ".png");
  EXPECT_EQ(probe_image(b16.data(), b16.size(), "x").bit_depth, 16);
  d = read_image(write("gray16.png", b16));
  EXPECT_EQ(d.type(), CV_8UC3);
  EXPECT_EQ(d.at<cv::Vec3b>(1, 1), cv::Vec3b(0xAB, 0xAB, 0xAB));
  cv::Mat c16(3, 3, CV_16UC3, cv::Scalar(0x1000, 0x8000, 0xFFFF));
  d = read_image(write("color16.png", encode(c16, ".png")));
  EXPECT_EQ(d.at<cv::Vec3b>(0, 0), cv::Vec3b(0x10, 0x80, 0xFF));
  // BGRA PNG: alpha dropped.
  cv::Mat bgra(3, 3, CV_8UC4, cv::Scalar(10, 20, 30, 40));
  d = read_image(write("alpha.png", encode(bgra, ".png")));
  EXPECT_EQ(d.at<cv::Vec3b>(1, 1), cv::Vec3b(10, 20, 30));
}

TEST(VisionImage, MissingEmptyAndNotImages) {
  expect_error(tmp_dir() + "/does_not_exist.jpg", ErrorCode::kNotFound, "no such file");
  expect_error(write("empty.jpg", {}), ErrorCode::kInvalidArgument, "empty file");
  expect_error(write("text.jpg", {'h', 'e', 'l', 'l', 'o'}), ErrorCode::kInvalidArgument,
               "not a JPEG, PNG or BMP");
  expect_error(tmp_dir(), ErrorCode::kInvalidArgument, "is a folder");
}

TEST(VisionImage, TruncatedAndCorrupt) {
  const cv::Mat m = pattern(64, 48);
  std::vector<uint8_t> jpg = encode(m, ".jpg"), png = encode(m, ".png"), bmp = encode(m, ".bmp");
  auto cut = [](std::vector<uint8_t> v, size_t n) {
    v.resize(n);
    return v;
  };
  expect_error(write("trunc_half.jpg", cut(jpg, jpg.size() / 2)), ErrorCode::kInvalidArgument,
               "truncated JPEG");
  expect_error(write("trunc_head.jpg", cut(jpg, 10)), ErrorCode::kInvalidArgument, "JPEG");
  for (size_t keep : {jpg.size() / 4, jpg.size() * 3 / 4, jpg.size() - 40}) {
    expect_error(write("trunc.jpg", cut(jpg, keep)), ErrorCode::kInvalidArgument, "truncated JPEG");
  }
  expect_error(write("trunc_half.png", cut(png, png.size() / 2)), ErrorCode::kInvalidArgument,
               "truncated PNG");
  expect_error(write("trunc_head.png", cut(png, 20)), ErrorCode::kInvalidArgument, "truncated PNG");
  expect_error(write("trunc.bmp", cut(bmp, 20)), ErrorCode::kInvalidArgument, "truncated BMP");
  // PNG with its pixel data (IDAT) garbled but a complete chunk structure: libpng's CRC/zlib
  // checks fail, so decoding reports a corrupt PNG.
  std::vector<uint8_t> bad = png;
  for (size_t i = 60; i < bad.size() - 20; ++i) bad[i] = static_cast<uint8_t>(bad[i] * 31 + 7);
  expect_error(write("garbled.png", bad), ErrorCode::kInvalidArgument, "corrupt png");
  // JPEG whose frame header comes after garbage.
  std::vector<uint8_t> junk = {0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34};
  expect_error(write("junk.jpg", junk), ErrorCode::kInvalidArgument, "corrupt JPEG");
  // Zero width in the header.
  std::vector<uint8_t> zero = png;
  put_be32(zero, 16, 0);
  expect_error(write("zero_w.png", zero), ErrorCode::kInvalidArgument, "IHDR says 0 x 48");
}

// A JPEG lacking only its end-of-image marker (as some cameras and cut streams write them) has
// all its pixels: decoded, as OpenCV and browsers do, to the same image; baseline and progressive.
TEST(VisionImage, JpegMissingOnlyItsEndMarkerDecodes) {
  const cv::Mat m = pattern(64, 48);
  for (bool progressive : {false, true}) {
    std::vector<uint8_t> jpg;
    ASSERT_TRUE(cv::imencode(".jpg", m, jpg, {cv::IMWRITE_JPEG_PROGRESSIVE, progressive ? 1 : 0}));
    ASSERT_EQ(jpg[jpg.size() - 2], 0xFF);
    ASSERT_EQ(jpg[jpg.size() - 1], 0xD9);
    const cv::Mat full = read_image(write("full.jpg", jpg));
    jpg.resize(jpg.size() - 2);
    const cv::Mat no_eoi = read_image(write("no_eoi.jpg", jpg));
    ASSERT_EQ(no_eoi.size(), full.size()) << "progressive " << progressive;
    EXPECT_EQ(cv::norm(no_eoi, full, cv::NORM_INF), 0) << "progressive " << progressive;
  }
}

TEST(VisionImage, HugeHeadersRefusedBeforeDecoding) {
  // A 20000 x 20000 PNG header on a tiny file: refused by the limit, never decoded.
  std::vector<uint8_t> png = encode(pattern(8, 8), ".png");
  put_be32(png, 16, 20000);
  put_be32(png, 20, 20000);
  expect_error(write("huge.png", png), ErrorCode::kLimit, "20000 x 20000");
  // JPEG SOF0 saying 20000 x 20000.
  std::vector<uint8_t> jpg = encode(pattern(8, 8), ".jpg");
  for (size_t i = 2; i + 9 < jpg.size(); ++i) {
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
      jpg[i + 5] = 20000 >> 8;
      jpg[i + 6] = 20000 & 0xFF;
      jpg[i + 7] = 20000 >> 8;
      jpg[i + 8] = 20000 & 0xFF;
      break;
    }
  }
  expect_error(write("huge.jpg", jpg), ErrorCode::kLimit, "above the limit");
  // BMP 20000 x 20000 (info header width/height at 18/22, little-endian).
  std::vector<uint8_t> bmp = encode(pattern(8, 8), ".bmp");
  for (size_t at : {size_t{18}, size_t{22}}) {
    bmp[at] = 20000 & 0xFF;
    bmp[at + 1] = 20000 >> 8;
  }
  expect_error(write("huge.bmp", bmp), ErrorCode::kLimit, "above the limit");
  // Per-side limit alone: 16385 x 10; total alone: 12000 x 9000 = 108 MP.
  put_be32(png, 16, 16385);
  put_be32(png, 20, 10);
  expect_error(write("wide.png", png), ErrorCode::kLimit, "16385 x 10");
  put_be32(png, 16, 12000);
  put_be32(png, 20, 9000);
  expect_error(write("big.png", png), ErrorCode::kLimit, "108.0 MP");
}

TEST(VisionImage, ExpandsFolders) {
  const std::string dir = tmp_dir() + "/folder";
  fs::create_directories(dir + "/sub");
  const cv::Mat m = pattern(4, 4);
  for (const char* n : {"b.PNG", "a.jpg", "c.bmp", "notes.txt", "sub/d.jpg"}) {
    write(std::string("folder/") + n, encode(m, ".png"));
  }
  std::vector<std::string> got = expand_image_args({dir, "/x/missing.jpg"});
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(fs::path(got[0]).filename(), "a.jpg");
  EXPECT_EQ(fs::path(got[1]).filename(), "b.PNG");
  EXPECT_EQ(fs::path(got[2]).filename(), "c.bmp");
  EXPECT_EQ(got[3], "/x/missing.jpg");  // kept: reported per file later
}

}  // namespace
}  // namespace shoal::vision
