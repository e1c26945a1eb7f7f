// Typed errors for everything reachable from user input (model files, images, configs, sizes).
// Shoal reports failures by throwing shoal::Error; nothing reachable from input aborts.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace shoal {

enum class ErrorCode {
  kInvalidArgument,   // bad CLI/API argument, wrong input shape or dtype
  kInvalidModel,      // malformed or inconsistent model file
  kUnsupported,       // valid model using something Shoal does not implement
  kNotFound,          // missing file
  kLimit,             // a size or count above an explicit limit
  kOutOfMemory,       // a budget or allocation failure
  kInternal,          // a bug in Shoal: please report
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorCode code, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(code, fmt::format(f, std::forward<Args>(args)...));
}

// Checked arithmetic for sizes computed from model data.
int64_t checked_mul(int64_t a, int64_t b);
int64_t checked_add(int64_t a, int64_t b);

}  // namespace shoal
