// Thread placement for model runs: the compute lanes (run_on_compute_lane) and the pinning of
// their OpenMP teams (place_compute_threads), both in backend/backend.h.
//
// Why: with 2 threads on 2 busy cores, unpinned libgomp teams lose whole scheduler ticks in their
// spin-waits (yolov8n: 38-65 ms a frame and now and then 900-1330 ms, against 39 ms pinned;
// BENCHMARKS.md). libgomp reads OMP_PROC_BIND only when it loads, so Shoal's default is set by
// hand. The lane's thread stays pinned: giving it its mask back after every run costs more under
// load than it saves (it migrates at each run; 39-124 ms a frame in the same test).
#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "memory/budget.h"

namespace shoal {
namespace {

// Why Shoal leaves placement alone, or "" when it places threads itself.
const std::string& placement_owner() {
  static const std::string owner = [] {
    const char* off = std::getenv("SHOAL_THREAD_AFFINITY");
    if (off && (std::strcmp(off, "off") == 0 || std::strcmp(off, "0") == 0)) {
      return std::string("off (SHOAL_THREAD_AFFINITY)");
    }
    for (const char* v : {"OMP_PROC_BIND", "OMP_PLACES", "GOMP_CPU_AFFINITY"}) {
      if (std::getenv(v)) return "set by " + std::string(v);
    }
    return std::string();
  }();
  return owner;
}

// The CPUs the process may use (the main thread's mask, read before Shoal pins anything).
const std::vector<int>& process_cpus() {
  static const std::vector<int> cpus = [] {
    std::vector<int> v;
    cpu_set_t set;
    if (sched_getaffinity(getpid(), sizeof(set), &set) != 0) return v;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) v.push_back(c);
    }
    return v;
  }();
  return cpus;
}

void pin_self(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  sched_setaffinity(0, sizeof(one), &one);  // best effort: a refusal leaves the thread unpinned
}

// Whether Shoal pins a team of `threads`: placement is not the user's, and there is one thread
// per CPU the process may use.
bool shoal_pins(int threads) {
  return placement_owner().empty() && threads >= 2 &&
         static_cast<size_t>(threads) == process_cpus().size();
}

// The lanes: threads created on demand, never ended (the process's exit ends them), each taking
// queued work in arrival order while fewer than CPUs / compute_threads() lanes are busy.
class ComputeLanes {
 public:
  struct Work {
    const std::function<void()>* fn = nullptr;
    MemoryBudget::Reservation* reservation = nullptr;
    std::exception_ptr error;
    bool done = false;
    std::condition_variable done_cv;
  };

  static ComputeLanes& get() {
    static ComputeLanes* lanes = new ComputeLanes();  // outlives main(): lanes may still wait
    return *lanes;
  }

  static bool on_lane() { return t_lane; }

  void run(Work& w) {
    std::unique_lock<std::mutex> lk(mu_);
    queue_.push_back(&w);
    if (idle_ == 0 && static_cast<int>(threads_) < wanted()) {
      ++threads_;
      std::thread([this] { loop(); }).detach();
    }
    cv_.notify_one();
    w.done_cv.wait(lk, [&] { return w.done; });
  }

 private:
  static int wanted() {
    const int threads = std::max(1, compute_threads());
    return std::max(1, static_cast<int>(process_cpus().size()) / threads);
  }

  void loop() {
    t_lane = true;
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lk, [&] { return !queue_.empty() && busy_ < wanted(); });
      --idle_;
      Work* w = queue_.front();
      queue_.pop_front();
      ++busy_;
      lk.unlock();
      try {
        MemoryBudget::Reservation::Lend lend(w->reservation);
        (*w->fn)();
      } catch (...) {
        w->error = std::current_exception();
      }
      lk.lock();
      --busy_;
      w->done = true;
      w->done_cv.notify_one();
      cv_.notify_one();  // a lane held back by the busy limit may go on
    }
  }

  static thread_local bool t_lane;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Work*> queue_;
  size_t threads_ = 0;
  int idle_ = 0, busy_ = 0;
};

thread_local bool ComputeLanes::t_lane = false;

}  // namespace

void run_on_compute_lane(const std::function<void()>& fn) {
  if (ComputeLanes::on_lane()) return fn();
  ComputeLanes::Work w;
  w.fn = &fn;
  w.reservation = MemoryBudget::Reservation::active();
  ComputeLanes::get().run(w);
  if (w.error) std::rethrow_exception(w.error);
}

std::string compute_affinity_mode() {
  if (!placement_owner().empty()) return placement_owner();
  const int threads = compute_threads();
  if (!shoal_pins(threads)) {
    return "unpinned (" + std::to_string(threads) + " threads, " +
           std::to_string(process_cpus().size()) + " CPUs: pinned only when they are equal)";
  }
  return "one thread per CPU";
}

void place_compute_threads() {
  thread_local int placed_team = 0;  // team size this thread was last placed for
  const int threads = compute_threads();
  if (placed_team == threads) return;
  placed_team = threads;
  if (!shoal_pins(threads)) return;
  const std::vector<int>& cpus = process_cpus();
  // Calling threads take turns for the first CPU, so several threads running models do not all
  // do their own (non-OpenMP) work on one CPU. libgomp keeps a team per calling thread and hands
  // its threads out in order, so worker t of this region is worker t of the model's regions.
  static std::atomic<unsigned> next_first{0};
  const size_t first = next_first.fetch_add(1) % cpus.size();
#pragma omp parallel num_threads(threads)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    if (t > 0) pin_self(cpus[(first + t) % cpus.size()]);
  }
  pin_self(cpus[first]);
}

}  // namespace shoal
