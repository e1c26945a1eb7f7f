// Values of ONNX metadata_props as Ultralytics writes them (Python literals such as "[640, 640]",
// "{0: 'person', ...}"), shared by the vision layer and the model manager.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
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

// Input size to compile a model for when its declared input has symbolic H/W: the metadata
// imgsz when present, else 640 (classify: 224). Returns {height, width}.
std::pair<int64_t, int64_t> default_input_size(const std::map<std::string, std::string>& metadata);

}  // namespace shoal
