// Thread placement for model runs (see place_compute_threads in backend/backend.h).
//
// Why: with 2 threads on 2 busy cores, unpinned libgomp teams lose whole scheduler ticks in their
// spin-waits (yolov8n: 38-65 ms a frame and now and then 900-1330 ms, against 39 ms pinned;
// BENCHMARKS.md). libgomp reads OMP_PROC_BIND only when it loads, so Shoal's default is set by
// hand. The calling thread stays pinned: giving it its mask back after every run costs more under
// load than it saves (it migrates at each run; 39-124 ms a frame in the same test).
#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/backend.h"

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

}  // namespace

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
