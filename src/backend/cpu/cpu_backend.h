// The oneDNN CPU backend's public extras beyond backend.h: a per-compile summary (what runs
// natively, what falls back to the generic reference kernel, views and layout conversions).
#pragma once

#include <map>
#include <string>

#include "backend/backend.h"

namespace shoal {

struct CpuProgramSummary {
  int steps = 0;
  int native = 0;    // oneDNN primitives or hand-written kernels
  int generic = 0;   // reference kernels on plain data
  int copies = 0;    // Concat/Split/Slice pieces that could not become views
  int reorders = 0;  // layout conversions (plain <-> nChw16c)
  int views = 0;     // values stored inside another value's buffer (no step)
  int slow = 0;      // native steps that oneDNN runs with a reference ("ref:") implementation
  int blocked_values = 0;
  std::map<std::string, int> generic_ops;  // op type -> count
  std::map<std::string, int> impls;        // implementation -> step count
};

// Summarises a Program compiled by make_cpu_backend() (reads step labels and values).
CpuProgramSummary summarize_cpu_program(const Program& p);
std::string format_cpu_summary(const CpuProgramSummary& s);

// Whether this CPU runs the backend's layouts natively: its blocked layouts hold 16 channels
// (nChw16c), which oneDNN 2.6 implements with JIT kernels on AVX-512 and partly with its
// reference implementations (correct, slow) on older CPUs.
bool cpu_blocked_layouts_native();

}  // namespace shoal
