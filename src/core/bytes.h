// Little-endian integers in byte buffers (the binary formats: graph blobs, compiled-model cache).
// The host is little-endian (x86-64); these are unaligned-safe loads and stores.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace shoal {

template <typename T>
T load_le(const uint8_t* p) {
  static_assert(std::is_integral_v<T>);
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
void store_le(uint8_t* p, T v) {
  static_assert(std::is_integral_v<T>);
  std::memcpy(p, &v, sizeof v);
}

template <typename T>
void append_le(std::string& s, T v) {
  static_assert(std::is_integral_v<T>);
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

}  // namespace shoal
