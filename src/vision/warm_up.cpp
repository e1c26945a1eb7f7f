#include "vision/warm_up.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "vision/draw.h"
#include "vision/image_io.h"
#include "vision/preprocess.h"
#include "vision/types.h"

namespace shoal::vision {

void warm_up_image_path() {
  // 96 x 64, a gradient with a filled rectangle: not flat, so the codecs do real work.
  cv::Mat img(64, 96, CV_8UC3);
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) {
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(x * 2), static_cast<uint8_t>(y * 3),
                                          static_cast<uint8_t>((x + y) & 0xff));
    }
  }
  cv::rectangle(img, cv::Rect(20, 10, 30, 24), cv::Scalar(30, 200, 90), cv::FILLED);

  for (const char* ext : {".jpg", ".png"}) {
    std::vector<uint8_t> bytes;
    cv::imencode(ext, img, bytes);
    cv::Mat decoded = decode_image(bytes.data(), bytes.size(), "the warm-up image");
    std::vector<float> planes(3 * 64 * 64);
    LetterboxScratch scratch;
    letterbox_into(decoded, ultralytics_letterbox(64, 64), true, true, planes.data(), 64, 64,
                   &scratch);
  }

  Result r;
  r.width = img.cols;
  r.height = img.rows;
  Detection d;
  d.class_name = "warm-up";
  d.score = 0.5f;
  d.box = {20, 10, 50, 34};
  d.mask_rect = cv::Rect(20, 10, 30, 24);
  d.mask = cv::Mat::ones(d.mask_rect.size(), CV_8U);
  d.keypoints = {{25, 15, 1}, {45, 30, 1}};
  r.detections.push_back(d);
  std::vector<uint8_t> annotated;
  cv::imencode(".jpg", annotate(img, r), annotated, {cv::IMWRITE_JPEG_QUALITY, 90});
}

}  // namespace shoal::vision
