#include "vision/rotated_box.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace shoal::vision {

std::array<cv::Point2f, 4> rbox_corners(const RotatedBox& r) {
  const double c = std::cos(r.angle), s = std::sin(r.angle);
  const double ux = r.w / 2.0 * c, uy = r.w / 2.0 * s;
  const double vx = -r.h / 2.0 * s, vy = r.h / 2.0 * c;
  auto at = [&](double x, double y) {
    return cv::Point2f(static_cast<float>(r.cx + x), static_cast<float>(r.cy + y));
  };
  return {at(ux + vx, uy + vy), at(ux - vx, uy - vy), at(-ux - vx, -uy - vy),
          at(-ux + vx, -uy + vy)};
}

Box rbox_bounds(const RotatedBox& r) {
  const std::array<cv::Point2f, 4> p = rbox_corners(r);
  Box b{p[0].x, p[0].y, p[0].x, p[0].y};
  for (const cv::Point2f& q : p) {
    b.x1 = std::min(b.x1, q.x);
    b.y1 = std::min(b.y1, q.y);
    b.x2 = std::max(b.x2, q.x);
    b.y2 = std::max(b.y2, q.y);
  }
  return b;
}

RotatedBox regularize_rbox(const RotatedBox& r) {
  constexpr double kPi = std::numbers::pi;
  RotatedBox o = r;
  double t = r.angle;
  if (!(r.w > r.h)) {
    std::swap(o.w, o.h);
    t += kPi / 2;
  }
  t = std::fmod(t, kPi);
  if (t < 0) t += kPi;
  o.angle = static_cast<float>(t);
  // A value just below pi can round up to float(pi), which is above pi: the same as angle 0.
  if (o.angle >= static_cast<float>(kPi)) o.angle = 0.f;
  return o;
}

namespace {

// The covariance [[a, c], [c, b]] of a uniform distribution over the rectangle.
struct Covariance {
  double a = 0, b = 0, c = 0;
};

Covariance covariance(const RotatedBox& r) {
  const double vw = double{r.w} * r.w / 12, vh = double{r.h} * r.h / 12;
  const double cs = std::cos(r.angle), sn = std::sin(r.angle);
  return {vw * cs * cs + vh * sn * sn, vw * sn * sn + vh * cs * cs, (vw - vh) * cs * sn};
}

}  // namespace

double probiou(const RotatedBox& p, const RotatedBox& q) {
  constexpr double kEps = 1e-7;
  const Covariance s1 = covariance(p), s2 = covariance(q);
  const double a = s1.a + s2.a, b = s1.b + s2.b, c = s1.c + s2.c;
  const double dx = double{p.cx} - q.cx, dy = double{p.cy} - q.cy;
  const double det = std::max(a * b - c * c, 0.0);  // >= 0 but for rounding
  // Mahalanobis term of the summed covariance (its two parts as Ultralytics writes them), then
  // the log-determinant term.
  const double t1 = (a * dy * dy + b * dx * dx) / (det + kEps) * 0.25;
  const double t2 = -c * dx * dy / (det + kEps) * 0.5;
  const double det1 = std::max(s1.a * s1.b - s1.c * s1.c, 0.0);
  const double det2 = std::max(s2.a * s2.b - s2.c * s2.c, 0.0);
  const double t3 = 0.5 * std::log(det / (4 * std::sqrt(det1 * det2) + kEps) + kEps);
  const double bd = std::clamp(t1 + t2 + t3, kEps, 100.0);
  return 1.0 - std::sqrt(1.0 - std::exp(-bd) + kEps);
}

}  // namespace shoal::vision
