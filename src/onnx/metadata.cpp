#include "onnx/metadata.h"

#include <cctype>

#include "core/error.h"

namespace shoal {

void LiteralCursor::skip_ws() {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
}
bool LiteralCursor::eat(char c) {
  skip_ws();
  if (i < s.size() && s[i] == c) {
    ++i;
    return true;
  }
  return false;
}
bool LiteralCursor::at_end() {
  skip_ws();
  return i >= s.size();
}
bool LiteralCursor::read_int(int64_t* v) {
  skip_ws();
  size_t j = i;
  if (j < s.size() && (s[j] == '-' || s[j] == '+')) ++j;
  size_t d = j;
  while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
  if (j == d || j - d > 15) return false;
  *v = std::stoll(s.substr(i, j - i));
  i = j;
  return true;
}
bool LiteralCursor::read_string(std::string* out) {
  skip_ws();
  if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) return false;
  char q = s[i++];
  out->clear();
  while (i < s.size() && s[i] != q) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char e = s[i + 1];
      out->push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
      i += 2;
    } else {
      out->push_back(s[i++]);
    }
  }
  if (i >= s.size()) return false;
  ++i;
  return true;
}

std::vector<int64_t> parse_int_list(const std::string& text) {
  LiteralCursor c{text};
  std::vector<int64_t> v;
  bool bracket = c.eat('[') || c.eat('(');
  while (!c.at_end()) {
    int64_t x = 0;
    if (!c.read_int(&x)) {
      if (bracket && (c.eat(']') || c.eat(')')) && c.at_end()) return v;
      fail(ErrorCode::kInvalidModel, "'{:.80}' is not a list of integers", text);
    }
    v.push_back(x);
    c.eat(',');
  }
  if (bracket) fail(ErrorCode::kInvalidModel, "'{:.80}': missing closing bracket", text);
  return v;
}

}  // namespace shoal
