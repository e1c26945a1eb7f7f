#include "graph/einsum.h"

#include <algorithm>
#include <map>

#include "core/error.h"

namespace shoal {

namespace {

// One term: its letters, and where "..." stands (-1: none).
struct Term {
  std::string letters;
  int ellipsis_at = -1;
};

Term parse_term(const std::string& t, const std::string& label) {
  Term r;
  for (size_t i = 0; i < t.size(); ++i) {
    const char ch = t[i];
    if (ch == '.') {
      if (r.ellipsis_at >= 0 || t.compare(i, 3, "...") != 0) {
        fail(ErrorCode::kInvalidModel, "{}: malformed ellipsis in einsum term '{}'", label, t);
      }
      r.ellipsis_at = static_cast<int>(r.letters.size());
      i += 2;
    } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
      r.letters.push_back(ch);
    } else {
      fail(ErrorCode::kInvalidModel, "{}: character '{}' in einsum term '{}'", label, ch, t);
    }
  }
  return r;
}

}  // namespace

EinsumSpec parse_einsum(const std::string& equation, const std::vector<Dims>& operands,
                        const std::string& label) {
  std::string eq;
  for (char ch : equation) {
    if (ch != ' ') eq.push_back(ch);
  }
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<Term> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(parse_term(lhs.substr(start, comma - start), label));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != operands.size()) {
    fail(ErrorCode::kInvalidModel, "{}: einsum '{}' has {} terms for {} inputs", label, equation,
         terms.size(), operands.size());
  }
  // The ellipsis covers the same number of trailing-aligned dims in every operand that has one.
  size_t ell_rank = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    const size_t named = terms[i].letters.size();
    const size_t rank = operands[i].size();
    if (terms[i].ellipsis_at < 0 ? rank != named : rank < named) {
      fail(ErrorCode::kInvalidModel, "{}: einsum term {} names {} axes of an input of rank {}",
           label, i, named, rank);
    }
    if (terms[i].ellipsis_at >= 0) ell_rank = std::max(ell_rank, rank - named);
  }
  EinsumSpec s;
  std::map<char, int> letter_label;
  auto size_label = [&](int l, int64_t d, bool broadcastable) {
    if (static_cast<size_t>(l) >= s.sizes.size()) s.sizes.resize(static_cast<size_t>(l) + 1, -2);
    int64_t& cur = s.sizes[static_cast<size_t>(l)];
    if (cur == -2 || (broadcastable && cur == 1)) {
      cur = d;
    } else if (d != cur && !(broadcastable && d == 1) && d >= 0 && cur >= 0) {
      fail(ErrorCode::kInvalidModel, "{}: einsum '{}' gives one label sizes {} and {}", label,
           equation, cur, d);
    }
  };
  // Ellipsis axes take labels 0..ell_rank-1 (right-aligned across operands); letters follow.
  for (size_t i = 0; i < terms.size(); ++i) {
    const Term& t = terms[i];
    const Dims& d = operands[i];
    const size_t here = t.ellipsis_at < 0 ? 0 : d.size() - t.letters.size();
    std::vector<int> labels;
    size_t axis = 0;
    for (size_t k = 0; k <= t.letters.size(); ++k) {
      if (static_cast<int>(k) == t.ellipsis_at) {
        for (size_t e = 0; e < here; ++e, ++axis) {
          const int l = static_cast<int>(ell_rank - here + e);
          labels.push_back(l);
          size_label(l, d[axis], true);
        }
      }
      if (k == t.letters.size()) break;
      auto [it, fresh] = letter_label.emplace(t.letters[k], 0);
      if (fresh) it->second = static_cast<int>(ell_rank + letter_label.size() - 1);
      labels.push_back(it->second);
      size_label(it->second, d[axis], false);
      ++axis;
    }
    s.operand_labels.push_back(std::move(labels));
  }
  if (arrow == std::string::npos) {
    // Implicit output: the ellipsis dims, then letters used once, alphabetically.
    for (size_t e = 0; e < ell_rank; ++e) s.output_labels.push_back(static_cast<int>(e));
    std::map<char, int> count;
    for (const Term& t : terms) {
      for (char ch : t.letters) ++count[ch];
    }
    for (const auto& [ch, n] : count) {
      if (n == 1) s.output_labels.push_back(letter_label[ch]);
    }
  } else {
    const Term out = parse_term(eq.substr(arrow + 2), label);
    for (size_t k = 0; k <= out.letters.size(); ++k) {
      if (static_cast<int>(k) == out.ellipsis_at) {
        for (size_t e = 0; e < ell_rank; ++e) s.output_labels.push_back(static_cast<int>(e));
      }
      if (k == out.letters.size()) break;
      auto it = letter_label.find(out.letters[k]);
      if (it == letter_label.end()) {
        fail(ErrorCode::kInvalidModel, "{}: einsum output label '{}' is in no input", label,
             out.letters[k]);
      }
      if (std::count(out.letters.begin(), out.letters.end(), out.letters[k]) > 1) {
        fail(ErrorCode::kInvalidModel, "{}: einsum output label '{}' repeats", label,
             out.letters[k]);
      }
      s.output_labels.push_back(it->second);
    }
    if (out.ellipsis_at < 0 && ell_rank > 0) {
      fail(ErrorCode::kInvalidModel, "{}: einsum '{}' drops the inputs' '...' dims from its output",
           label, equation);
    }
  }
  for (int l : s.output_labels) s.output_dims.push_back(s.sizes[static_cast<size_t>(l)]);
  return s;
}

}  // namespace shoal
