// Video in and out through OpenCV's video I/O (FFmpeg): video files, camera devices
// (/dev/videoN, or a camera index) and network streams (rtsp://, http://, ...).
//
// A live source (a camera or a stream) is read on its own thread at the source's rate into a
// queue of a few frames. When processing falls behind, the oldest queued frame is dropped and
// counted, so memory stays flat however fast the source is. A file is read on demand, every
// frame, unless `realtime` paces it at its frame rate like a live source. Knows nothing about
// models.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <string>

namespace shoal::vision {

enum class VideoKind { kFile, kDevice, kStream };

// Whether a command-line argument names a video source rather than an image: a video file
// extension (.mp4, .avi, .mkv, .mov, .webm, ...), /dev/video*, a camera index ("0"), or a URL
// (rtsp://, http://, https://, rtmp://, udp://, tcp://).
bool is_video_source(const std::string& arg);

struct VideoFrame {
  cv::Mat image;      // CV_8UC3 BGR
  int64_t index = 0;  // 0-based position in the source (gaps are dropped frames)
  double time_s = 0;  // the frame's time: its timestamp in a file, else since the source opened
};

struct VideoSourceOptions {
  bool realtime = false;  // files: deliver frames at the file's frame rate, dropping when behind
  size_t queue = 2;       // live (and realtime) sources: frames kept while processing is behind
  double open_timeout_s = 10;  // streams: give up opening (and each read) after this long
  // When set and true (e.g. from a SIGINT handler), next() returns false within 0.1 s.
  const std::atomic<bool>* cancel = nullptr;
};

class VideoSource {
 public:
  // Opens `what` (see is_video_source). Throws shoal::Error naming the source: kNotFound for a
  // missing file or device, kInvalidArgument when nothing can decode it, kLimit for frames larger
  // than the image limits of image_io.h.
  static std::unique_ptr<VideoSource> open(const std::string& what,
                                           const VideoSourceOptions& opt = {});
  ~VideoSource();
  VideoSource(const VideoSource&) = delete;
  VideoSource& operator=(const VideoSource&) = delete;

  // Waits for the next frame; false at the end of the stream, after stop() or on `cancel`.
  bool next(VideoFrame& out);
  // Stops reading (from any thread); next() then returns false once the queue is empty.
  void stop();

  const std::string& what() const { return what_; }
  VideoKind kind() const { return kind_; }
  bool live() const { return threaded_; }  // read on its own thread, dropping when behind
  double fps() const { return fps_; }      // 0 when the source does not say
  int width() const { return width_; }
  int height() const { return height_; }
  int64_t frame_count() const { return frame_count_; }  // -1 when unknown (live sources)
  int64_t frames_read() const;                          // taken from the source
  int64_t frames_dropped() const;                       // dropped because processing was behind
  size_t max_queued() const;                            // the queue's high-water mark
  // Why the stream ended early ("" after a clean end, or while it runs).
  std::string error() const;

 private:
  struct State;
  VideoSource() = default;
  std::string what_;
  VideoKind kind_ = VideoKind::kFile;
  bool threaded_ = false;
  double fps_ = 0;
  int width_ = 0, height_ = 0;
  int64_t frame_count_ = -1;
  std::unique_ptr<State> state_;
};

// An annotated video being written. open() picks the codec from the extension: .mp4/.m4v/.mov
// MPEG-4 Part 2, .avi (and anything else) Motion JPEG. Throws shoal::Error naming the path.
class VideoSink {
 public:
  static std::unique_ptr<VideoSink> open(const std::string& path, double fps, cv::Size size);
  ~VideoSink();
  // Frames of another size are scaled to the first one's. Throws shoal::Error on a failed write.
  void write(const cv::Mat& bgr);
  // Finishes the file (also done by the destructor).
  void close();
  const std::string& path() const { return path_; }
  int64_t frames_written() const { return written_; }

 private:
  struct State;
  VideoSink() = default;
  std::string path_;
  cv::Size size_;
  int64_t written_ = 0;
  std::unique_ptr<State> state_;
};

}  // namespace shoal::vision
