// UTF-8 label text through FreeType (vision/text.h): characters beyond ASCII are drawn as
// themselves, not as '?'.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "vision/text.h"

namespace shoal::vision {
namespace {

cv::Mat render(const std::string& text) {
  cv::Mat img(40, 200, CV_8UC3, cv::Scalar(255, 255, 255));
  draw_text(img, text, cv::Point(2, 2), 24, cv::Scalar(0, 0, 0));
  return img;
}

bool same(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_INF) == 0; }

TEST(VisionText, Utf8Decoding) {
  EXPECT_EQ(utf8_to_utf32("Fußgänger"), U"Fußgänger");
  EXPECT_EQ(utf8_to_utf32("светофор 信号"), U"светофор 信号");
  EXPECT_EQ(utf8_to_utf32("a\xC3"), U"a\uFFFD") << "a truncated sequence";
  EXPECT_EQ(utf8_to_utf32("\xFF"
                          "b"),
            U"\uFFFDb")
      << "a byte that starts nothing";
}

TEST(VisionText, NonAsciiCharactersAreDrawnAsThemselves) {
  ASSERT_TRUE(has_font()) << "no font: install fonts-dejavu-core (scripts/install-deps.sh)";
  EXPECT_TRUE(font_has_glyphs("Fußgänger светофор Ελλάδα"));
  EXPECT_FALSE(same(render("ä"), render("a"))) << "the umlaut is drawn";
  EXPECT_FALSE(same(render("ß"), render("?")));
  EXPECT_FALSE(same(render("Fußgänger"), render("Fu?g?nger")));
  EXPECT_FALSE(same(render("ж"), render("?")));
  EXPECT_FALSE(same(render("ж"), cv::Mat(40, 200, CV_8UC3, cv::Scalar(255, 255, 255))));
}

TEST(VisionText, SizeGrowsWithTheTextAndHeightIsTheFonts) {
  const cv::Size one = text_size("a", 20), three = text_size("aäb", 20);
  EXPECT_GT(one.width, 0);
  EXPECT_GT(three.width, 2 * one.width);
  EXPECT_EQ(one.height, three.height);
  EXPECT_EQ(text_size("Жg", 20).height, one.height) << "one line height for every label";
  EXPECT_GT(text_size("a", 40).height, one.height);
}

TEST(VisionText, DrawingIsClippedToTheImage) {
  cv::Mat img(10, 10, CV_8UC3, cv::Scalar(255, 255, 255));
  draw_text(img, "Fußgänger", cv::Point(-5, -8), 30, cv::Scalar(0, 0, 0));
  draw_text(img, "Fußgänger", cv::Point(8, 8), 30, cv::Scalar(0, 0, 0));
  EXPECT_EQ(img.size(), cv::Size(10, 10));
}

}  // namespace
}  // namespace shoal::vision
