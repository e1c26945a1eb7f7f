// Video sources and sinks: every frame of a file in order, a paced file and a live stream that
// drop the oldest frame (not queue without bound) when the consumer is slower, an MJPEG-over-HTTP
// stream read live, annotated video written and read back, and clear errors for bad sources.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "video_util.h"
#include "vision/video.h"

namespace shoal::vision {
namespace {

namespace fs = std::filesystem;

std::string video_dir() {
  const std::string d = testing::TempDir() + "/shoal_video";
  fs::create_directories(d);
  return d;
}

double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Scalar s = cv::mean(d);
  return (s[0] + s[1] + s[2]) / 3;
}

TEST(Video, SourcesAreToldFromImages) {
  for (const char* v :
       {"a.mp4", "b.AVI", "dir/c.mkv", "d.mov", "e.webm", "/dev/video0", "0",
        "rtsp://cam.local/stream", "http://127.0.0.1:8080/video.mjpg", "HTTPS://x/y.m3u8"}) {
    EXPECT_TRUE(is_video_source(v)) << v;
  }
  for (const char* i : {"bus.jpg", "a.png", "folder", "b.bmp", "video.txt", "models/x.onnx"}) {
    EXPECT_FALSE(is_video_source(i)) << i;
  }
}

TEST(Video, FileGivesEveryFrameInOrder) {
  const std::string path = video_dir() + "/every.avi";
  ASSERT_TRUE(write_video(path, moving_frames(30), 25));
  const std::vector<cv::Mat> expected = read_video(path);
  ASSERT_EQ(expected.size(), 30u);

  auto src = VideoSource::open(path);
  EXPECT_EQ(src->kind(), VideoKind::kFile);
  EXPECT_FALSE(src->live());
  EXPECT_DOUBLE_EQ(src->fps(), 25);
  EXPECT_EQ(src->frame_count(), 30);
  EXPECT_EQ(src->width(), 480);
  EXPECT_EQ(src->height(), 360);
  VideoFrame f;
  int64_t n = 0;
  while (src->next(f)) {
    ASSERT_EQ(f.index, n);
    EXPECT_NEAR(f.time_s, static_cast<double>(n) / 25, 1e-3);
    ASSERT_EQ(f.image.type(), CV_8UC3);
    EXPECT_EQ(cv::norm(f.image, expected[static_cast<size_t>(n)], cv::NORM_INF), 0) << n;
    ++n;
  }
  EXPECT_EQ(n, 30);
  EXPECT_EQ(src->frames_read(), 30);
  EXPECT_EQ(src->frames_dropped(), 0);
  EXPECT_EQ(src->error(), "");
}

// A source faster than its consumer: the queue stays at its capacity and the oldest frames go,
// each counted; the frames that are delivered come in order.
void expect_drops_oldest(VideoSource& src, int sent) {
  VideoFrame f;
  int64_t delivered = 0, last = -1;
  while (src.next(f)) {
    EXPECT_GT(f.index, last);
    last = f.index;
    ++delivered;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));  // a slow model
  }
  EXPECT_EQ(src.frames_read(), sent);
  EXPECT_GT(src.frames_dropped(), 0);
  EXPECT_EQ(delivered + src.frames_dropped(), src.frames_read());
  EXPECT_LE(src.max_queued(), 2u);
  EXPECT_EQ(last, sent - 1);  // the newest frame is never the one dropped
}

TEST(Video, RealtimeFileDropsTheOldestFrameWhenBehind) {
  const std::string path = video_dir() + "/fast.avi";
  ASSERT_TRUE(write_video(path, moving_frames(60, {160, 120}), 200));
  VideoSourceOptions o;
  o.realtime = true;
  auto src = VideoSource::open(path, o);
  EXPECT_TRUE(src->live());
  expect_drops_oldest(*src, 60);
}

TEST(Video, MjpegStreamIsReadLive) {
  const std::vector<cv::Mat> frames = moving_frames(20, {320, 240});
  MjpegServer server(frames, 50);
  auto src = VideoSource::open(server.url());
  EXPECT_EQ(src->kind(), VideoKind::kStream);
  EXPECT_TRUE(src->live());
  VideoFrame f;
  int64_t n = 0;
  double last_time = -1;
  while (src->next(f)) {
    ASSERT_EQ(f.index, n);
    ASSERT_EQ(f.image.size(), cv::Size(320, 240));
    // FFmpeg's JPEG decoder against the picture before encoding: JPEG's loss only.
    EXPECT_LT(mean_abs_diff(f.image, frames[static_cast<size_t>(n)]), 3.0) << n;
    EXPECT_GE(f.time_s, last_time);
    last_time = f.time_s;
    ++n;
  }
  EXPECT_EQ(n, 20);
  EXPECT_EQ(src->frames_dropped(), 0);
  EXPECT_EQ(server.frames_sent(), 20);
}

TEST(Video, MjpegStreamFasterThanTheConsumerDrops) {
  MjpegServer server(moving_frames(60, {160, 120}), 0);  // as fast as it can be read
  auto src = VideoSource::open(server.url());
  expect_drops_oldest(*src, 60);
}

TEST(Video, CancelStopsALiveSource) {
  MjpegServer server(moving_frames(200, {160, 120}), 20);  // 10 s of stream
  std::atomic<bool> cancel{false};
  VideoSourceOptions o;
  o.cancel = &cancel;
  auto src = VideoSource::open(server.url(), o);
  VideoFrame f;
  ASSERT_TRUE(src->next(f));
  const auto t0 = std::chrono::steady_clock::now();
  cancel = true;
  EXPECT_FALSE(src->next(f));
  src.reset();  // joins the reader
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

TEST(Video, SinkWritesAVideoThatReadsBack) {
  const std::vector<cv::Mat> frames = moving_frames(12, {320, 240});
  for (const char* name : {"out.avi", "out.mp4"}) {
    const std::string path = video_dir() + "/" + name;
    {
      auto sink = VideoSink::open(path, 10, {320, 240});
      for (const cv::Mat& f : frames) sink->write(f);
      sink->write(cv::Mat(100, 100, CV_8UC3, cv::Scalar(0, 0, 255)));  // scaled to fit
      EXPECT_EQ(sink->frames_written(), 13);
    }
    const std::vector<cv::Mat> back = read_video(path);
    ASSERT_EQ(back.size(), 13u) << name;
    EXPECT_LT(mean_abs_diff(back[5], frames[5]), 6.0) << name;
  }
}

TEST(Video, BadSourcesAreClearErrors) {
  const std::string d = video_dir();
  std::ofstream(d + "/not_a_video.mp4") << "this is text, not a video";
  fs::create_directories(d + "/folder.avi");
  struct Case {
    std::string source;
    ErrorCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {d + "/missing.mp4", ErrorCode::kNotFound, "missing.mp4' does not exist"},
      {d + "/not_a_video.mp4", ErrorCode::kInvalidArgument, "not a video file"},
      {d + "/folder.avi", ErrorCode::kInvalidArgument, "is a folder"},
      {"/dev/video97", ErrorCode::kNotFound, "video device '/dev/video97' does not exist"},
  };
  for (const Case& c : cases) {
    try {
      VideoSource::open(c.source);
      ADD_FAILURE() << c.source << " opened";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), c.code) << c.source << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << e.what();
    }
  }
  // A stream nobody serves: an error naming it, within the open timeout.
  int port = 0;
  {
    MjpegServer closed({cv::Mat(8, 8, CV_8UC3)}, 0);
    port = std::stoi(closed.url().substr(17));
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/nothing.mjpg";
  VideoSourceOptions o;
  o.open_timeout_s = 2;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    VideoSource::open(url, o);
    ADD_FAILURE() << url << " opened";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(url), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_THROW(VideoSink::open(d + "/no/such/folder/out.avi", 25, {64, 64}), Error);
}

}  // namespace
}  // namespace shoal::vision
