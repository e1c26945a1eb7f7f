// Text on images in UTF-8, rendered with FreeType from a TrueType font (DejaVu Sans from Debian's
// fonts-dejavu-core; SHOAL_FONT names another file). OpenCV's own Hershey fonts are ASCII only and
// draw every other character as '?'. Without a usable font, text falls back to Hershey (non-ASCII
// as '?') and `has_font()` says so. Thread-safe. Internal to vision/draw.
#pragma once

#include <opencv2/core.hpp>
#include <string>

namespace shoal::vision {

// The box text at `px` pixels occupies: width, and height from the font's ascender to its
// descender (the same for every text at that size, so labels line up).
cv::Size text_size(const std::string& utf8, int px);

// Draws `utf8` with its box's top-left corner at `top_left`, clipped to `img` (CV_8UC3).
void draw_text(cv::Mat& img, const std::string& utf8, cv::Point top_left, int px, cv::Scalar color);

// Whether a font was loaded, and whether it has a glyph for every character of `utf8`.
bool has_font();
bool font_has_glyphs(const std::string& utf8);

// The code points of a UTF-8 string; malformed bytes become U+FFFD.
std::u32string utf8_to_utf32(const std::string& utf8);

}  // namespace shoal::vision
