#include "vision/video.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <thread>

#include "core/error.h"
#include "vision/image_io.h"

namespace shoal::vision {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool is_url(const std::string& s) {
  static constexpr std::array kSchemes = {"rtsp://",  "rtsps://", "rtmp://", "http://",
                                          "https://", "udp://",   "tcp://",  "srt://"};
  const std::string l = lower(s);
  return std::any_of(kSchemes.begin(), kSchemes.end(),
                     [&](const char* p) { return l.rfind(p, 0) == 0; });
}

bool is_camera_index(const std::string& s) {
  return !s.empty() && s.size() <= 3 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }) &&
         !std::filesystem::exists(s);
}

bool is_device(const std::string& s) { return s.rfind("/dev/video", 0) == 0 || is_camera_index(s); }

using Clock = std::chrono::steady_clock;

// FFmpeg writes its warnings ("Stream ends prematurely", "moov atom not found") to stderr;
// Shoal reports what went wrong itself. SHOAL_VERBOSE=1 (or OPENCV_FFMPEG_LOGLEVEL) keeps them.
void quiet_ffmpeg() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* verbose = std::getenv("SHOAL_VERBOSE");
    if (verbose == nullptr || std::string(verbose) == "0") {
      setenv("OPENCV_FFMPEG_LOGLEVEL", "-8", 0);  // AV_LOG_QUIET
    }
  });
}

}  // namespace

bool is_video_source(const std::string& arg) {
  if (is_url(arg) || is_device(arg)) return true;
  static constexpr std::array kExt = {".mp4",  ".avi", ".mkv", ".mov", ".webm", ".m4v",  ".mpg",
                                      ".mpeg", ".wmv", ".flv", ".ts",  ".mts",  ".3gp",  ".mjpeg",
                                      ".mjpg", ".gif", ".ogv", ".asf", ".h264", ".h265", ".hevc"};
  const std::string ext = lower(std::filesystem::path(arg).extension().string());
  return std::find(kExt.begin(), kExt.end(), ext) != kExt.end();
}

// ---------------------------------------------------------------------------------------------
// VideoSource

struct VideoSource::State {
  cv::VideoCapture cap;
  double fps = 0;
  bool realtime = false;
  size_t capacity = 2;
  const std::atomic<bool>* cancel = nullptr;
  Clock::time_point opened;
  bool cancelled() const { return cancel && cancel->load(); }

  std::mutex mu;
  std::condition_variable cv;
  std::deque<VideoFrame> queue;
  bool ended = false;  // the reader is done (end of stream, error or stop)
  bool stopping = false;
  std::string error;
  int64_t read = 0, dropped = 0;
  size_t max_queued = 0;
  std::thread reader;

  // Reads one frame from the capture; false at the end. Sets `error` on a frame that is not
  // 8-bit BGR-convertible.
  bool grab(VideoFrame& f, int64_t index) {
    cv::Mat m;
    if (!cap.read(m) || m.empty()) return false;
    if (m.depth() != CV_8U) {
      error = "a frame is not 8-bit";
      return false;
    }
    if (m.channels() == 1) {
      cv::cvtColor(m, f.image, cv::COLOR_GRAY2BGR);
    } else if (m.channels() == 4) {
      cv::cvtColor(m, f.image, cv::COLOR_BGRA2BGR);
    } else {
      f.image = std::move(m);
    }
    f.index = index;
    const double pos_ms = cap.get(cv::CAP_PROP_POS_MSEC);
    f.time_s = fps > 0 && !realtime_clock
                   ? (pos_ms > 0 ? pos_ms / 1000.0 : index / fps)
                   : std::chrono::duration<double>(Clock::now() - opened).count();
    return true;
  }
  bool realtime_clock = false;  // live sources: frame times from the wall clock

  void run() {
    for (int64_t index = 0;; ++index) {
      if (realtime && fps > 0) {  // a paced file: frame `index` is due at index / fps
        std::this_thread::sleep_until(opened + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(index / fps)));
      }
      {
        std::lock_guard<std::mutex> lk(mu);
        if (stopping || cancelled()) break;
      }
      VideoFrame f;
      const bool ok = grab(f, index);
      std::lock_guard<std::mutex> lk(mu);
      if (!ok) break;
      ++read;
      queue.push_back(std::move(f));
      if (queue.size() > capacity) {  // behind: the oldest frame goes
        queue.pop_front();
        ++dropped;
      }
      max_queued = std::max(max_queued, queue.size());
      cv.notify_one();
    }
    std::lock_guard<std::mutex> lk(mu);
    ended = true;
    cv.notify_all();
  }
};

std::unique_ptr<VideoSource> VideoSource::open(const std::string& what,
                                               const VideoSourceOptions& opt) {
  quiet_ffmpeg();
  std::unique_ptr<VideoSource> v(new VideoSource());
  v->what_ = what;
  v->state_ = std::make_unique<State>();
  State& s = *v->state_;
  const int timeout_ms = static_cast<int>(std::clamp(opt.open_timeout_s, 0.1, 3600.0) * 1000);
  bool opened = false;
  try {
    if (is_url(what)) {
      v->kind_ = VideoKind::kStream;
      opened = s.cap.open(
          what, cv::CAP_FFMPEG,
          {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv::CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms});
    } else if (is_device(what)) {
      v->kind_ = VideoKind::kDevice;
      if (!is_camera_index(what) && !std::filesystem::exists(what)) {
        fail(ErrorCode::kNotFound, "video device '{}' does not exist", what);
      }
      opened = is_camera_index(what) ? s.cap.open(std::stoi(what), cv::CAP_ANY)
                                     : s.cap.open(what, cv::CAP_V4L2);
    } else {
      v->kind_ = VideoKind::kFile;
      std::error_code ec;
      if (!std::filesystem::exists(what, ec))
        fail(ErrorCode::kNotFound, "'{}' does not exist", what);
      if (std::filesystem::is_directory(what, ec)) {
        fail(ErrorCode::kInvalidArgument, "'{}' is a folder, not a video file", what);
      }
      opened = s.cap.open(what, cv::CAP_FFMPEG);
    }
  } catch (const cv::Exception& e) {
    fail(ErrorCode::kInvalidArgument, "cannot open video source '{}': {}", what, e.what());
  }
  if (!opened || !s.cap.isOpened()) {
    fail(ErrorCode::kInvalidArgument, "cannot open video source '{}': {}", what,
         v->kind_ == VideoKind::kFile     ? "not a video file OpenCV/FFmpeg can decode"
         : v->kind_ == VideoKind::kDevice ? "not a camera this machine can open"
                                          : "the stream did not answer or cannot be decoded");
  }
  v->width_ = static_cast<int>(s.cap.get(cv::CAP_PROP_FRAME_WIDTH));
  v->height_ = static_cast<int>(s.cap.get(cv::CAP_PROP_FRAME_HEIGHT));
  if (v->width_ > kMaxImageSide || v->height_ > kMaxImageSide ||
      int64_t{v->width_} * v->height_ > kMaxImagePixels) {
    fail(ErrorCode::kLimit,
         "video source '{}': frames of {}x{} are above the limit ({} per side, "
         "{} pixels)",
         what, v->width_, v->height_, kMaxImageSide, kMaxImagePixels);
  }
  const double fps = s.cap.get(cv::CAP_PROP_FPS);
  // Streams often report a time base (e.g. 90000) instead of a rate.
  v->fps_ = std::isfinite(fps) && fps > 0 && fps <= 1000 ? fps : 0;
  s.fps = v->fps_;
  if (v->kind_ == VideoKind::kFile) {
    const double n = s.cap.get(cv::CAP_PROP_FRAME_COUNT);
    v->frame_count_ = std::isfinite(n) && n > 0 ? static_cast<int64_t>(n) : -1;
  }
  s.capacity = std::max<size_t>(opt.queue, 1);
  s.cancel = opt.cancel;
  s.realtime = v->kind_ == VideoKind::kFile && opt.realtime;
  s.realtime_clock = v->kind_ != VideoKind::kFile;
  v->threaded_ = v->kind_ != VideoKind::kFile || opt.realtime;
  s.opened = Clock::now();
  if (v->threaded_) s.reader = std::thread([&s] { s.run(); });
  return v;
}

VideoSource::~VideoSource() {
  if (!state_) return;
  stop();
  if (state_->reader.joinable()) state_->reader.join();
}

bool VideoSource::next(VideoFrame& out) {
  State& s = *state_;
  if (!threaded_) {
    std::lock_guard<std::mutex> lk(s.mu);
    if (s.stopping || s.ended || s.cancelled()) return false;
    if (!s.grab(out, s.read)) {
      s.ended = true;
      return false;
    }
    ++s.read;
    s.max_queued = 1;
    return true;
  }
  std::unique_lock<std::mutex> lk(s.mu);
  while (s.queue.empty() && !s.ended && !s.cancelled()) {
    s.cv.wait_for(lk, std::chrono::milliseconds(100));
  }
  if (s.queue.empty() || s.cancelled()) return false;
  out = std::move(s.queue.front());
  s.queue.pop_front();
  return true;
}

void VideoSource::stop() {
  std::lock_guard<std::mutex> lk(state_->mu);
  state_->stopping = true;
  state_->cv.notify_all();
}

int64_t VideoSource::frames_read() const {
  std::lock_guard<std::mutex> lk(state_->mu);
  return state_->read;
}

int64_t VideoSource::frames_dropped() const {
  std::lock_guard<std::mutex> lk(state_->mu);
  return state_->dropped;
}

size_t VideoSource::max_queued() const {
  std::lock_guard<std::mutex> lk(state_->mu);
  return state_->max_queued;
}

std::string VideoSource::error() const {
  std::lock_guard<std::mutex> lk(state_->mu);
  return state_->error;
}

// ---------------------------------------------------------------------------------------------
// VideoSink

struct VideoSink::State {
  cv::VideoWriter writer;
  cv::Mat scaled;
};

std::unique_ptr<VideoSink> VideoSink::open(const std::string& path, double fps, cv::Size size) {
  if (size.width <= 0 || size.height <= 0) {
    fail(ErrorCode::kInvalidArgument, "cannot write video '{}': empty frame size", path);
  }
  quiet_ffmpeg();
  std::unique_ptr<VideoSink> v(new VideoSink());
  v->path_ = path;
  v->size_ = size;
  v->state_ = std::make_unique<State>();
  const std::string ext = lower(std::filesystem::path(path).extension().string());
  const bool mp4 = ext == ".mp4" || ext == ".m4v" || ext == ".mov";
  const int fourcc = mp4 ? cv::VideoWriter::fourcc('m', 'p', '4', 'v')
                         : cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
  bool ok = false;
  try {
    // Motion JPEG through OpenCV's own encoder: no codec library needed.
    ok = v->state_->writer.open(path, mp4 ? cv::CAP_FFMPEG : cv::CAP_OPENCV_MJPEG, fourcc,
                                fps > 0 ? fps : 30.0, size, true);
  } catch (const cv::Exception& e) {
    fail(ErrorCode::kInvalidArgument, "cannot write video '{}': {}", path, e.what());
  }
  if (!ok || !v->state_->writer.isOpened()) {
    fail(ErrorCode::kInvalidArgument,
         "cannot write video '{}': the folder is not writable or no encoder for '{}'", path, ext);
  }
  return v;
}

VideoSink::~VideoSink() { close(); }

void VideoSink::write(const cv::Mat& bgr) {
  if (!state_ || !state_->writer.isOpened()) {
    fail(ErrorCode::kInvalidArgument, "video '{}' is closed", path_);
  }
  const cv::Mat* frame = &bgr;
  if (bgr.size() != size_) {
    cv::resize(bgr, state_->scaled, size_);
    frame = &state_->scaled;
  }
  try {
    state_->writer.write(*frame);
  } catch (const cv::Exception& e) {
    fail(ErrorCode::kInvalidArgument, "cannot write to video '{}': {}", path_, e.what());
  }
  ++written_;
}

void VideoSink::close() {
  if (state_ && state_->writer.isOpened()) state_->writer.release();
}

}  // namespace shoal::vision
