// Shared helpers for tests: where ../shared is, and error measures between tensors.
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/tensor.h"

namespace shoal {

// The shared test data folder (env SHOAL_SHARED_DIR, else ../shared beside the source tree), or
// "" when absent: tests that need it skip with a visible message.
inline std::string shared_dir() {
  const char* env = std::getenv("SHOAL_SHARED_DIR");
  std::string d = env ? env : SHOAL_SHARED_DIR;
  return std::filesystem::exists(d + "/models") ? d : std::string();
}

// True in an ASan or TSan build: RSS and the heap there are the sanitizer's (shadow memory,
// quarantined frees), so memory measurements say nothing about Shoal's.
inline bool sanitized_build() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return true;
#endif
#endif
  return false;
}

struct Error3 {
  double max_abs = 0;   // max |out - ref|
  double max_rel = 0;   // max |out - ref| / max(|ref|, 1e-6)
  double norm_rel = 0;  // ||out - ref|| / ||ref||
  double ref_max_abs = 0;
  int64_t worst = -1;
  bool non_finite = false;
  std::string str() const {
    return fmt::format("max_abs {:.3g} max_rel {:.3g} norm_rel {:.3g} ref_max {:.4g} worst@{}{}",
                       max_abs, max_rel, norm_rel, ref_max_abs, worst,
                       non_finite ? " NON-FINITE" : "");
  }
};

inline Error3 compare(const Tensor& out, const Tensor& ref) {
  Error3 e;
  double num = 0, den = 0;
  for (int64_t i = 0; i < ref.numel() && i < out.numel(); ++i) {
    double o = out.get_f64(i), r = ref.get_f64(i);
    if (!std::isfinite(o) && std::isfinite(r)) e.non_finite = true;
    double d = std::fabs(o - r);
    if (!(d <= e.max_abs)) {
      e.max_abs = std::isfinite(d) ? d : INFINITY;
      e.worst = i;
    }
    e.max_rel = std::fmax(e.max_rel, d / std::fmax(std::fabs(r), 1e-6));
    e.ref_max_abs = std::fmax(e.ref_max_abs, std::fabs(r));
    num += d * d;
    den += r * r;
  }
  e.norm_rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  if (e.non_finite) e.norm_rel = INFINITY;
  return e;
}

}  // namespace shoal
