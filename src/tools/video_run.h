// Video sources for `shoal detect` and `shoal pipeline`: each frame of each source goes through
// a per-frame callback; its output (JSON lines, a table line, CSV rows) is printed as it comes,
// its drawing written to an annotated video (--save), and a terminal shows a live status line
// (FPS, latency, drops). Each source ends with a summary on stderr. Ctrl-C stops reading and
// still finishes the annotated video.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "vision/video.h"

namespace shoal {

struct VideoRunOptions {
  std::string command;     // "detect", "pipeline": names messages
  bool realtime = false;   // pace files at their frame rate, dropping frames when behind
  int64_t max_frames = 0;  // per source, 0: until it ends
  std::string save_dir;    // annotated videos, one per source
};

struct FrameOutput {
  std::string stdout_text;  // printed as is (JSON line, table line, CSV rows)
  cv::Mat annotated;        // the drawn frame, when an annotated video is written
  bool failed = false;      // the frame failed (reported in stdout_text or on stderr)
};

// `draw`: whether the callback must fill FrameOutput::annotated.
using FrameCallback =
    std::function<FrameOutput(const std::string& source, const vision::VideoFrame&, bool draw)>;

// A frame's place in its source, added to its JSON line: "frame" (its index) and "time_s" (to
// 0.1 ms).
void add_frame_fields(nlohmann::json& j, const vision::VideoFrame& f);

// Runs every source; returns the number of sources that failed to open or ended with an error.
int run_video_sources(const std::vector<std::string>& sources, const VideoRunOptions& opt,
                      const FrameCallback& on_frame);

// Splits command-line arguments into video sources and image arguments; both kinds together
// are an error (their outputs differ: JSON lines per frame against one document).
bool only_video_sources(const std::vector<std::string>& args, const std::string& command);

}  // namespace shoal
