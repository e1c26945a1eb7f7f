// Integers in byte buffers: little-endian for our binary formats (graph blobs, compiled-model
// cache) and the file formats that use it (BMP, EXIF "II"), big-endian for the others (PNG,
// JPEG, EXIF "MM"). The host is little-endian (x86-64); all are unaligned-safe.
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

// Big-endian unsigned 16/32-bit loads.
inline uint32_t load_be16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | p[1]; }
inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
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
