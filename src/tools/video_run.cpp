#include "tools/video_run.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "tools/commands.h"
#include "vision/result_json.h"

namespace shoal {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) { g_interrupted.store(true); }

// SIGINT sets g_interrupted while a run is in progress (the default action comes back after).
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted.store(false);
    previous_ = std::signal(SIGINT, on_sigint);
  }
  ~InterruptGuard() { std::signal(SIGINT, previous_); }

 private:
  void (*previous_)(int) = SIG_DFL;
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// The annotated video's file name for a source: its stem (a URL or device: its characters that
// are safe in a file name), numbered when two sources give the same name.
std::string video_save_stem(const std::string& source, std::map<std::string, int>& used) {
  std::string stem = std::filesystem::path(source).stem().string();
  if (source.find("://") != std::string::npos || stem.empty()) {
    stem.clear();
    for (char c :
         source.substr(source.find("://") == std::string::npos ? 0 : source.find("://") + 3)) {
      stem += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
    }
    if (stem.size() > 48) stem.resize(48);
  }
  if (stem.empty()) stem = "video";
  const int n = used[stem]++;
  return n == 0 ? stem : fmt::format("{}_{}", stem, n + 1);
}

std::unique_ptr<vision::VideoSink> open_sink(const std::string& dir, const std::string& stem,
                                             double fps, cv::Size size) {
  const std::string base = (std::filesystem::path(dir) / stem).string();
  try {
    return vision::VideoSink::open(base + ".mp4", fps, size);
  } catch (const Error&) {  // no MPEG-4 encoder: Motion JPEG in AVI is always there
    return vision::VideoSink::open(base + ".avi", fps, size);
  }
}

struct SourceStats {
  int64_t processed = 0, failed_frames = 0;
  std::vector<double> latency_ms;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  double fps() const { return seconds() > 0 ? static_cast<double>(processed) / seconds() : 0; }
};

void print_status(const vision::VideoSource& src, const SourceStats& st) {
  const std::string total =
      src.frame_count() > 0 ? fmt::format("/{}", src.frame_count()) : std::string();
  std::string name = std::filesystem::path(src.what()).filename().string();
  if (name.empty()) name = src.what();
  if (name.size() > 32) name = name.substr(0, 29) + "...";
  const double recent = st.latency_ms.empty() ? 0 : st.latency_ms.back();
  fmt::print(stderr, "\r{:<32} frame {}{}  {:5.1f} FPS  latency {:6.1f} ms  dropped {}   ", name,
             src.frames_read(), total, st.fps(), recent, src.frames_dropped());
  std::fflush(stderr);
}

}  // namespace

void add_frame_fields(nlohmann::json& j, const vision::VideoFrame& f) {
  j["frame"] = f.index;
  j["time_s"] = vision::round_score(f.time_s);
}

bool only_video_sources(const std::vector<std::string>& args, const std::string& command) {
  std::string video, image;
  for (const std::string& a : args) {
    (vision::is_video_source(a) ? video : image) = a;
  }
  if (!video.empty() && !image.empty()) {
    fail(ErrorCode::kInvalidArgument,
         "{}: give either images or video sources, not both ('{}' is an image argument, '{}' a "
         "video source): run them as two commands",
         command, image, video);
  }
  return !video.empty();
}

int run_video_sources(const std::vector<std::string>& sources, const VideoRunOptions& opt,
                      const FrameCallback& on_frame) {
  InterruptGuard guard;
  make_output_dir("--save", opt.save_dir);
  const bool status = isatty(STDERR_FILENO) != 0;
  std::map<std::string, int> used;
  int failed_sources = 0;
  for (const std::string& source : sources) {
    if (g_interrupted.load()) break;
    vision::VideoSourceOptions vo;
    vo.realtime = opt.realtime;
    vo.cancel = &g_interrupted;
    std::unique_ptr<vision::VideoSource> src;
    std::unique_ptr<vision::VideoSink> sink;
    try {
      src = vision::VideoSource::open(source, vo);
    } catch (const Error& e) {
      ++failed_sources;
      fmt::print(stderr, "shoal {}: {} ({})\n", opt.command, e.what(), error_code_name(e.code()));
      continue;
    }
    SourceStats st;
    auto last_status = std::chrono::steady_clock::now();
    bool status_shown = false;
    std::string error;
    vision::VideoFrame frame;
    while ((opt.max_frames <= 0 || st.processed < opt.max_frames) && src->next(frame)) {
      const auto t0 = std::chrono::steady_clock::now();
      FrameOutput out;
      try {
        out = on_frame(source, frame, !opt.save_dir.empty());
      } catch (const Error& e) {
        error = fmt::format("frame {}: {} ({})", frame.index, e.what(), error_code_name(e.code()));
        break;
      } catch (const std::exception& e) {  // e.g. OpenCV's, from drawing
        error = fmt::format("frame {}: {}", frame.index, e.what());
        break;
      }
      st.latency_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      ++st.processed;
      if (out.failed) ++st.failed_frames;
      if (status_shown && !out.stdout_text.empty()) {
        fmt::print(stderr, "\r{:100}\r", "");
        status_shown = false;
      }
      std::fwrite(out.stdout_text.data(), 1, out.stdout_text.size(), stdout);
      std::fflush(stdout);
      if (!out.annotated.empty()) {
        try {
          if (!sink) {
            sink = open_sink(opt.save_dir, video_save_stem(source, used),
                             src->fps() > 0 ? src->fps() : 30.0, out.annotated.size());
          }
          sink->write(out.annotated);
        } catch (const std::exception& e) {
          error = e.what();
          break;
        }
      }
      const auto now = std::chrono::steady_clock::now();
      if (status && (!status_shown || now - last_status > std::chrono::milliseconds(500))) {
        print_status(*src, st);
        last_status = now;
        status_shown = true;
      }
    }
    src->stop();
    if (sink) sink->close();
    if (status_shown) fmt::print(stderr, "\r{:100}\r", "");
    if (error.empty()) error = src->error();
    const int64_t read = src->frames_read(), dropped = src->frames_dropped();
    fmt::print(stderr,
               "shoal {}: {}: {} frames read, {} processed, {} dropped (at most {} queued), "
               "{:.1f} FPS, latency median {:.1f} ms, p95 {:.1f} ms{}\n",
               opt.command, source, read, st.processed, dropped, src->max_queued(), st.fps(),
               percentile(st.latency_ms, 0.5), percentile(st.latency_ms, 0.95),
               g_interrupted.load() ? " (stopped by Ctrl-C)" : "");
    if (sink) {
      fmt::print(stderr, "shoal {}: annotated video: {} ({} frames)\n", opt.command, sink->path(),
                 sink->frames_written());
    }
    if (!error.empty() || st.failed_frames > 0) {
      ++failed_sources;
      if (!error.empty()) fmt::print(stderr, "shoal {}: {}: {}\n", opt.command, source, error);
    }
  }
  return failed_sources;
}

}  // namespace shoal
