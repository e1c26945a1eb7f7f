// Video fixtures for tests: a video file written by the test (bus.jpg and zidane.jpg moving
// over a grey canvas), its frames read back as the decoder gives them, and a local
// MJPEG-over-HTTP stream (multipart/x-mixed-replace, as IP cameras serve it).
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace shoal {

// `n` frames of `size`: bus.jpg sliding right and zidane.jpg sliding down over grey (coloured
// shapes when ../shared is absent), a different picture in every frame.
inline std::vector<cv::Mat> moving_frames(int n, cv::Size size = {480, 360}) {
  const std::string shared = shared_dir();
  cv::Mat bus, zidane;
  if (!shared.empty()) {
    cv::resize(cv::imread(shared + "/images/bus.jpg"), bus, {size.width / 2, size.height * 2 / 3});
    cv::resize(cv::imread(shared + "/images/zidane.jpg"), zidane,
               {size.width / 2, size.height / 3});
  } else {
    bus = cv::Mat(size.height * 2 / 3, size.width / 2, CV_8UC3, cv::Scalar(30, 160, 220));
    zidane = cv::Mat(size.height / 3, size.width / 2, CV_8UC3, cv::Scalar(200, 60, 40));
  }
  std::vector<cv::Mat> frames;
  for (int i = 0; i < n; ++i) {
    cv::Mat f(size, CV_8UC3, cv::Scalar(114, 114, 114));
    const int bx = (size.width - bus.cols) * i / std::max(n - 1, 1);
    bus.copyTo(f(cv::Rect(bx, 0, bus.cols, bus.rows)));
    const int zy = (size.height - zidane.rows) * (n - 1 - i) / std::max(n - 1, 1);
    zidane.copyTo(f(cv::Rect(size.width - zidane.cols - bx / 2, zy, zidane.cols, zidane.rows)));
    frames.push_back(f);
  }
  return frames;
}

// Writes `frames` as Motion JPEG in AVI (OpenCV's own encoder: no codec library needed).
inline bool write_video(const std::string& path, const std::vector<cv::Mat>& frames, double fps) {
  cv::VideoWriter w(path, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps,
                    frames.at(0).size());
  if (!w.isOpened()) return false;
  for (const cv::Mat& f : frames) w.write(f);
  w.release();
  return true;
}

// Every frame of a video file as the default backend decodes it.
inline std::vector<cv::Mat> read_video(const std::string& path) {
  cv::VideoCapture cap(path);
  std::vector<cv::Mat> frames;
  cv::Mat m;
  while (cap.read(m)) frames.push_back(m.clone());
  return frames;
}

// Serves `frames` (JPEG-encoded) to each client that connects as one multipart/x-mixed-replace
// response, `fps` frames per second (0: as fast as the client reads), then closes the
// connection. Serves until destroyed.
class MjpegServer {
 public:
  MjpegServer(const std::vector<cv::Mat>& frames, double fps) : fps_(fps) {
    for (const cv::Mat& f : frames) {
      std::vector<uint8_t> jpg;
      cv::imencode(".jpg", f, jpg);
      jpegs_.push_back(std::move(jpg));
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~MjpegServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/video.mjpg"; }
  int frames_sent() const { return sent_.load(); }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string request;
      char buf[1024];
      while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 2000) <= 0) break;
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      const std::string head =
          "HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=shoalframe\r\n"
          "Cache-Control: no-cache\r\nConnection: close\r\n\r\n";
      bool ok = send_all(c, head.data(), head.size());
      const auto start = std::chrono::steady_clock::now();
      for (size_t i = 0; ok && i < jpegs_.size() && !stop_; ++i) {
        if (fps_ > 0) {
          std::this_thread::sleep_until(
              start + std::chrono::microseconds(static_cast<int64_t>(1e6 * i / fps_)));
        }
        const std::string part = "--shoalframe\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                 std::to_string(jpegs_[i].size()) + "\r\n\r\n";
        ok = send_all(c, part.data(), part.size()) &&
             send_all(c, jpegs_[i].data(), jpegs_[i].size()) && send_all(c, "\r\n", 2);
        if (ok) ++sent_;
      }
      const std::string end = "--shoalframe--\r\n";
      if (ok) send_all(c, end.data(), end.size());
      ::close(c);
    }
  }
  static bool send_all(int c, const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t k = ::send(c, p, n, MSG_NOSIGNAL);
      if (k <= 0) return false;
      p += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }

  std::vector<std::vector<uint8_t>> jpegs_;
  double fps_ = 0;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0};
  std::thread thread_;
};

}  // namespace shoal
