#include "memory/budget.h"

#include <cctype>
#include <cmath>

#include "core/error.h"

namespace shoal {
namespace {

thread_local MemoryBudget::Reservation* t_active = nullptr;

}  // namespace

const char* memory_use_name(MemoryUse u) {
  switch (u) {
    case MemoryUse::kWeights:
      return "weights";
    case MemoryUse::kArenas:
      return "arenas";
    case MemoryUse::kModels:
      return "models";
    case MemoryUse::kReserved:
      return "reserved";
    case MemoryUse::kCount:
      break;
  }
  return "?";
}

MemoryBudget::MemoryBudget(size_t limit_bytes) : limit_(limit_bytes) {}

size_t MemoryBudget::available() const {
  if (limit_ == 0) return SIZE_MAX;
  size_t u = used();
  return u >= limit_ ? 0 : limit_ - u;
}

void MemoryBudget::set_reclaimer(Reclaimer r) {
  std::lock_guard<std::mutex> lock(reclaim_mu_);
  reclaimer_ = std::move(r);
}

bool MemoryBudget::try_add(size_t bytes) {
  size_t cur = used_.load(std::memory_order_acquire);
  for (;;) {
    if (limit_ != 0 && (bytes > limit_ || cur > limit_ - bytes)) return false;
    if (used_.compare_exchange_weak(cur, cur + bytes, std::memory_order_acq_rel)) break;
  }
  size_t now = cur + bytes;
  size_t p = peak_.load(std::memory_order_acquire);
  while (now > p && !peak_.compare_exchange_weak(p, now, std::memory_order_acq_rel)) {
  }
  return true;
}

bool MemoryBudget::try_charge(size_t bytes, MemoryUse use) {
  if (!try_add(bytes)) return false;
  add_use(use, bytes);
  return true;
}

void MemoryBudget::charge(size_t bytes, MemoryUse use, const std::string& what) {
  if (bytes == 0) return;
  // Draw from this thread's reservation first (its bytes are already counted as used).
  Reservation* drawn = nullptr;
  size_t take = 0;
  for (Reservation* r = t_active; r; r = r->prev_) {
    if (&r->budget_ != this || r->remaining_ == 0) continue;
    take = std::min(bytes, r->remaining_);
    r->remaining_ -= take;
    sub_use(MemoryUse::kReserved, take);
    add_use(use, take);
    bytes -= take;
    if (bytes == 0) return;
    drawn = r;
    break;
  }
  for (;;) {
    if (try_add(bytes)) {
      add_use(use, bytes);
      return;
    }
    Reclaimer reclaim;
    {
      std::lock_guard<std::mutex> lock(reclaim_mu_);
      reclaim = reclaimer_;
    }
    size_t avail = available();
    size_t needed = bytes > avail ? bytes - avail : 0;
    if (!reclaim || !reclaim(needed, what)) {
      if (try_add(bytes)) {  // someone else freed room meanwhile
        add_use(use, bytes);
        return;
      }
      if (drawn) {  // the charge fails whole: what it drew goes back to the reservation
        drawn->remaining_ += take;
        sub_use(use, take);
        add_use(MemoryUse::kReserved, take);
      }
      fail(ErrorCode::kOutOfMemory,
           "{}: needs {} ({} bytes) but the memory budget is {} with {} in use ({} weights, {} "
           "arenas, {} models, {} reserved by loads in progress) and nothing idle left to evict; "
           "raise memory_budget, unpin a model or lower concurrency",
           what, format_bytes(bytes), bytes, format_bytes(limit_), format_bytes(used()),
           format_bytes(used(MemoryUse::kWeights)), format_bytes(used(MemoryUse::kArenas)),
           format_bytes(used(MemoryUse::kModels)), format_bytes(used(MemoryUse::kReserved)));
    }
  }
}

void MemoryBudget::release(size_t bytes, MemoryUse use) {
  if (bytes == 0) return;
  sub_use(use, bytes);
  used_.fetch_sub(bytes, std::memory_order_acq_rel);
}

MemoryBudget::Reservation::Reservation(MemoryBudget& budget, size_t bytes, const std::string& what)
    : budget_(budget), remaining_(0), prev_(t_active) {
  budget_.charge(bytes, MemoryUse::kReserved, what);
  remaining_ = bytes;
  t_active = this;
}

MemoryBudget::Reservation::~Reservation() {
  budget_.release(remaining_, MemoryUse::kReserved);
  t_active = prev_;
}

MemoryBudget::Reservation* MemoryBudget::Reservation::active() { return t_active; }

MemoryBudget::Reservation::Lend::Lend(Reservation* r) : prev_(t_active) { t_active = r; }

MemoryBudget::Reservation::Lend::~Lend() { t_active = prev_; }

std::string format_bytes(size_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < 1024 * 1024) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024.0);
  if (bytes < (size_t{1} << 30)) {
    return fmt::format("{:.2f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  }
  return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
}

size_t parse_bytes(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  size_t start = i;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  std::string num = text.substr(start, i - start);
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  std::string unit;
  for (; i < text.size(); ++i) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) break;
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
  }
  for (; i < text.size(); ++i) {
    if (!std::isspace(static_cast<unsigned char>(text[i]))) unit += '?';
  }
  double mult = 0;
  if (unit.empty() || unit == "b")
    mult = 1;
  else if (unit == "k" || unit == "kb")
    mult = 1e3;
  else if (unit == "kib")
    mult = 1024.0;
  else if (unit == "m" || unit == "mb")
    mult = 1e6;
  else if (unit == "mib")
    mult = 1024.0 * 1024.0;
  else if (unit == "g" || unit == "gb")
    mult = 1e9;
  else if (unit == "gib")
    mult = 1024.0 * 1024.0 * 1024.0;
  else if (unit == "t" || unit == "tb")
    mult = 1e12;
  else if (unit == "tib")
    mult = 1024.0 * 1024.0 * 1024.0 * 1024.0;
  char* end = nullptr;
  double v = num.empty() ? -1 : std::strtod(num.c_str(), &end);
  if (mult == 0 || num.empty() || end != num.c_str() + num.size() || !(v >= 0) ||
      v * mult > 9.0e18) {
    fail(ErrorCode::kInvalidArgument,
         "cannot read '{}' as a byte size; write a number with an optional unit, e.g. 512MiB, "
         "2GiB, 1.5GB or 1000000",
         text);
  }
  return static_cast<size_t>(std::llround(v * mult));
}

}  // namespace shoal
