// Values of ONNX metadata_props as Ultralytics writes them (Python literals such as "[640, 640]",
// "{0: 'person', ...}"): the literal parser the importer's users (the loader's dims rule, vision's
// model info) read them with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shoal {

// A tiny cursor over a Python-literal-like string; every read skips leading whitespace.
struct LiteralCursor {
  const std::string& s;
  size_t i = 0;
  void skip_ws();
  bool eat(char c);
  bool at_end();
  bool read_int(int64_t* v);  // optional sign and up to 15 digits
  bool read_string(std::string* out);  // '...' or "..." with backslash escapes
};

// Parses "[640, 640]" / "640" / "[17, 3]" into integers. Throws kInvalidModel.
std::vector<int64_t> parse_int_list(const std::string& text);

}  // namespace shoal
