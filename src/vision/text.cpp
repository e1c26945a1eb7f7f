#include "vision/text.h"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <opencv2/imgproc.hpp>

namespace shoal::vision {
namespace {

constexpr const char* kDefaultFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

// One FreeType face for the process; FreeType faces are not thread-safe, so every use holds `mu`.
struct Font {
  std::mutex mu;
  FT_Library lib = nullptr;
  FT_Face face = nullptr;
  int px = 0;  // the size the face is set to

  Font() {
    const char* env = std::getenv("SHOAL_FONT");
    const std::string path = env && *env ? env : kDefaultFont;
    if (FT_Init_FreeType(&lib) != 0) {
      lib = nullptr;
    } else if (FT_New_Face(lib, path.c_str(), 0, &face) != 0) {
      face = nullptr;
    }
    if (!face) {
      fmt::print(stderr,
                 "shoal: warning: font '{}' cannot be loaded; labels are drawn in ASCII (install "
                 "fonts-dejavu-core or set SHOAL_FONT to a .ttf file)\n",
                 path);
    }
  }

  void set_size(int size) {
    if (px != size) {
      FT_Set_Pixel_Sizes(face, 0, static_cast<FT_UInt>(size));
      px = size;
    }
  }
};

Font& font() {
  static Font* f = new Font();  // outlives main(): drawing may run on any thread until exit
  return *f;
}

std::string ascii_only(const std::u32string& text) {
  std::string s;
  for (char32_t c : text) s += c < 128 ? static_cast<char>(c) : '?';
  return s;
}

double hershey_scale(int px) { return px / 30.0; }

}  // namespace

std::u32string utf8_to_utf32(const std::string& utf8) {
  std::u32string out;
  const auto* s = reinterpret_cast<const unsigned char*>(utf8.data());
  const size_t n = utf8.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    char32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    bool ok = len > 0 && i + static_cast<size_t>(len) <= n;
    for (int k = 1; ok && k < len; ++k) {
      const unsigned char cc = s[i + static_cast<size_t>(k)];
      if ((cc >> 6) != 0x2) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {
      out.push_back(U'\uFFFD');
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return out;
}

bool has_font() { return font().face != nullptr; }

bool font_has_glyphs(const std::string& utf8) {
  Font& f = font();
  std::lock_guard<std::mutex> lk(f.mu);
  if (!f.face) return false;
  for (char32_t c : utf8_to_utf32(utf8)) {
    if (FT_Get_Char_Index(f.face, c) == 0) return false;
  }
  return true;
}

cv::Size text_size(const std::string& utf8, int px) {
  const std::u32string text = utf8_to_utf32(utf8);
  Font& f = font();
  std::lock_guard<std::mutex> lk(f.mu);
  if (!f.face) {
    int base = 0;
    const cv::Size s =
        cv::getTextSize(ascii_only(text), cv::FONT_HERSHEY_SIMPLEX, hershey_scale(px), 1, &base);
    return {s.width, s.height + base};
  }
  f.set_size(px);
  long width = 0;
  for (char32_t c : text) {
    if (FT_Load_Char(f.face, c, FT_LOAD_DEFAULT) == 0) width += f.face->glyph->advance.x >> 6;
  }
  const FT_Size_Metrics& m = f.face->size->metrics;
  return {static_cast<int>(width), static_cast<int>((m.ascender - m.descender) >> 6)};
}

void draw_text(cv::Mat& img, const std::string& utf8, cv::Point top_left, int px,
               cv::Scalar color) {
  const std::u32string text = utf8_to_utf32(utf8);
  Font& f = font();
  std::lock_guard<std::mutex> lk(f.mu);
  if (!f.face) {
    int base = 0;
    const std::string a = ascii_only(text);
    const cv::Size s = cv::getTextSize(a, cv::FONT_HERSHEY_SIMPLEX, hershey_scale(px), 1, &base);
    cv::putText(img, a, cv::Point(top_left.x, top_left.y + s.height), cv::FONT_HERSHEY_SIMPLEX,
                hershey_scale(px), color, 1, cv::LINE_AA);
    return;
  }
  f.set_size(px);
  const int baseline = top_left.y + static_cast<int>(f.face->size->metrics.ascender >> 6);
  int pen = top_left.x;
  for (char32_t c : text) {
    if (FT_Load_Char(f.face, c, FT_LOAD_RENDER) != 0) continue;
    const FT_GlyphSlot g = f.face->glyph;
    const FT_Bitmap& b = g->bitmap;
    const int x0 = pen + g->bitmap_left, y0 = baseline - g->bitmap_top;
    for (int y = 0; y < static_cast<int>(b.rows); ++y) {
      const int iy = y0 + y;
      if (iy < 0 || iy >= img.rows) continue;
      const unsigned char* src = b.buffer + static_cast<ptrdiff_t>(y) * b.pitch;
      cv::Vec3b* dst = img.ptr<cv::Vec3b>(iy);
      for (int x = 0; x < static_cast<int>(b.width); ++x) {
        const int ix = x0 + x;
        if (ix < 0 || ix >= img.cols || src[x] == 0) continue;
        const int a = src[x];
        for (int k = 0; k < 3; ++k) {
          dst[ix][k] = static_cast<uint8_t>((dst[ix][k] * (255 - a) + color[k] * a + 127) / 255);
        }
      }
    }
    pen += static_cast<int>(g->advance.x >> 6);
  }
}

}  // namespace shoal::vision
