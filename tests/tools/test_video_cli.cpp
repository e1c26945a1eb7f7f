// `shoal detect` and `shoal pipeline` on video: a 100-frame video written by the test (bus.jpg
// and zidane.jpg moving) gives, frame by frame, the results its frames give as images; --save
// writes an annotated video of every frame; a local MJPEG-over-HTTP stream is read live, and
// when it is faster than the model the summary counts dropped frames while the queue stays at
// its bound; images and videos together, COCO output for video and a missing source are clear
// errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <regex>
#include <sstream>

#include "cli_util.h"
#include "model_builder/builder.h"
#include "test_util.h"
#include "video_util.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << line;
    lines.push_back(j);
  }
  return lines;
}

struct Summary {
  int64_t read = -1, processed = -1, dropped = -1, queued = -1;
};

// The "N frames read, P processed, D dropped (at most Q queued)" summary line on stderr.
Summary summary_of(const std::string& err) {
  static const std::regex re(
      R"((\d+) frames read, (\d+) processed, (\d+) dropped \(at most (\d+) queued\))");
  std::smatch m;
  Summary s;
  if (std::regex_search(err, m, re)) {
    s.read = std::stoll(m[1]);
    s.processed = std::stoll(m[2]);
    s.dropped = std::stoll(m[3]);
    s.queued = std::stoll(m[4]);
  }
  return s;
}

class VideoCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::TempDir() + "/shoal_video_cli";
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/frames");
    BuilderOptions o;
    o.imgsz = 128;
    o.num_classes = 3;
    o.seed = 11;
    save_bytes(dir_ + "/det.onnx", build_yolo_detector_onnx(o));
    ASSERT_TRUE(write_video(dir_ + "/moving.avi", moving_frames(100), 25));
    // The frames as the video decoder gives them, stored losslessly.
    const std::vector<cv::Mat> frames = read_video(dir_ + "/moving.avi");
    ASSERT_EQ(frames.size(), 100u);
    for (size_t i = 0; i < frames.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "/frames/%03zu.png", i);
      ASSERT_TRUE(cv::imwrite(dir_ + name, frames[i]));
    }
    std::ofstream(dir_ + "/pipe.yaml") << "memory_budget: 64MiB\nmodels:\n"
                                          "  - {name: a, path: det.onnx}\n"
                                          "  - {name: b, path: det.onnx}\n"
                                          "pipelines:\n  - {name: both, models: [a, b]}\n";
  }
  static std::string f(const std::string& name) { return dir_ + "/" + name; }
  static std::string dir_;
};
std::string VideoCli::dir_;

TEST_F(VideoCli, DetectOnAVideoGivesWhatItsFramesGiveAsImages) {
  const std::string opts = " --conf 0.05 --max-det 20";
  ProcessRun v = run_shoal("detect " + f("det.onnx") + " " + f("moving.avi") + opts +
                           " --json --save " + f("saved"));
  ASSERT_EQ(v.code, 0) << v.err;
  ProcessRun im = run_shoal("detect " + f("det.onnx") + " " + f("frames") + opts + " --json");
  ASSERT_EQ(im.code, 0) << im.err;
  const std::vector<nlohmann::json> lines = json_lines(v.out);
  const nlohmann::json images = nlohmann::json::parse(im.out);
  ASSERT_EQ(lines.size(), 100u);
  ASSERT_EQ(images.size(), 100u);
  size_t found = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].at("frame").get<size_t>(), i);
    EXPECT_NEAR(lines[i].at("time_s").get<double>(), static_cast<double>(i) / 25, 1e-3);
    EXPECT_EQ(lines[i].at("image").get<std::string>(), f("moving.avi"));
    EXPECT_EQ(lines[i].at("detections"), images[i].at("detections")) << "frame " << i;
    found += lines[i].at("detections").size();
  }
  EXPECT_GT(found, 100u) << "the comparison is over frames with detections";
  const Summary s = summary_of(v.err);
  EXPECT_EQ(s.read, 100) << v.err;
  EXPECT_EQ(s.processed, 100);
  EXPECT_EQ(s.dropped, 0);
  // The annotated video: every frame, at the source's size.
  const std::vector<cv::Mat> saved = read_video(f("saved/moving.mp4"));
  ASSERT_EQ(saved.size(), 100u) << v.err;
  EXPECT_EQ(saved[0].size(), cv::Size(480, 360));

  // The table: a line per frame.
  ProcessRun t =
      run_shoal("detect " + f("det.onnx") + " " + f("moving.avi") + opts + " --frames 10");
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(std::count(t.out.begin(), t.out.end(), '\n'), 10) << t.out;
  EXPECT_NE(t.out.find("moving.avi frame 9 (0.36 s)  480x360"), std::string::npos) << t.out;
}

TEST_F(VideoCli, PipelineOnAVideoGivesWhatItsFramesGiveAsImages) {
  const std::string args = "pipeline --config " + f("pipe.yaml") + " --name both --conf 0.05 ";
  ProcessRun v = run_shoal(args + f("moving.avi") + " --json");
  ASSERT_EQ(v.code, 0) << v.err;
  ProcessRun im = run_shoal(args + f("frames") + " --json");
  ASSERT_EQ(im.code, 0) << im.err;
  const std::vector<nlohmann::json> lines = json_lines(v.out);
  const nlohmann::json images = nlohmann::json::parse(im.out);
  ASSERT_EQ(lines.size(), 100u);
  ASSERT_EQ(images.size(), 100u);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].at("frame").get<size_t>(), i);
    EXPECT_EQ(lines[i].at("models"), images[i].at("models")) << "frame " << i;
  }
  EXPECT_FALSE(lines[50].at("models").at("a").at("detections").empty());
  EXPECT_EQ(summary_of(v.err).processed, 100) << v.err;
  EXPECT_NE(v.err.find("manager: budget 64.00 MiB"), std::string::npos) << v.err;
}

TEST_F(VideoCli, LiveStreamFasterThanTheModelDropsFrames) {
  // 300 frames served as fast as they are read: far faster than a 320x320 model runs.
  BuilderOptions o;
  o.imgsz = 320;
  o.num_classes = 3;
  save_bytes(f("slow.onnx"), build_yolo_detector_onnx(o));
  MjpegServer server(moving_frames(300, {320, 240}), 0);
  ProcessRun r = run_shoal("detect " + f("slow.onnx") + " " + server.url() + " --json --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  const Summary s = summary_of(r.err);
  EXPECT_EQ(s.read, 300) << r.err;
  EXPECT_GT(s.dropped, 0) << r.err;
  EXPECT_EQ(s.processed + s.dropped, s.read) << r.err;
  EXPECT_LE(s.queued, 2) << "the queue stays at its bound: " << r.err;
  const std::vector<nlohmann::json> lines = json_lines(r.out);
  EXPECT_EQ(static_cast<int64_t>(lines.size()), s.processed);
  EXPECT_EQ(lines.back().at("frame").get<int64_t>(), 299) << "the newest frame is kept";

  // --frames ends a stream that would go on.
  MjpegServer longer(moving_frames(300, {160, 120}), 30);
  r = run_shoal("detect " + f("det.onnx") + " " + longer.url() + " --frames 5 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json_lines(r.out).size(), 5u);
}

TEST_F(VideoCli, BadVideoArgumentsAreClearErrors) {
  ProcessRun r =
      run_shoal("detect " + f("det.onnx") + " " + f("moving.avi") + " " + f("frames/000.png"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("either images or video sources"), std::string::npos) << r.err;
  r = run_shoal("detect " + f("det.onnx") + " " + f("moving.avi") + " --format coco");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--format coco is for image sets"), std::string::npos) << r.err;
  r = run_shoal("detect " + f("det.onnx") + " " + f("missing.mp4") + " " + f("moving.avi") +
                " --frames 3 --json");
  EXPECT_EQ(r.code, 1) << "one source failed";
  EXPECT_NE(r.err.find("missing.mp4' does not exist"), std::string::npos) << r.err;
  EXPECT_EQ(json_lines(r.out).size(), 3u) << "the other source still runs";
}

}  // namespace
}  // namespace shoal
