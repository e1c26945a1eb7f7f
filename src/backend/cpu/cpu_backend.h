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
  int reorders = 0;  // layout conversions (plain <-> blocked)
  int views = 0;     // values stored inside another value's buffer (no step)
  int slow = 0;      // native steps that oneDNN runs with a reference ("ref:") implementation
  int blocked_values = 0;
  std::string blocked_layout = "blocked";  // "nChw16c" or "nChw8c" when there are any
  std::map<std::string, int> generic_ops;  // op type -> count
  std::map<std::string, int> impls;        // implementation -> step count
};

// Summarises a Program compiled by make_cpu_backend() (reads step labels and values).
CpuProgramSummary summarize_cpu_program(const Program& p);
std::string format_cpu_summary(const CpuProgramSummary& s);

// Whether oneDNN has JIT kernels on this CPU for the blocked layout programs are compiled with
// now (nChw16c needs AVX-512, nChw8c AVX2; without, oneDNN 2.6 falls back in part to its
// reference implementations: correct, slow).
bool cpu_blocked_layouts_native();

// Channels per block of the blocked layout programs are compiled with from now on (16 with
// AVX-512, else 8; SHOAL_CPU_CHANNEL_BLOCK=8|16 overrides), and a setter for tests: 8, 16, or 0
// for the CPU's choice. A compiled program keeps its block.
int64_t cpu_channel_block();
void set_cpu_channel_block(int64_t block);

// Whether image stems run Shoal's double-precision kernel in programs compiled from now on: -1
// as the CPU and SHOAL_CONV_STEM decide (AVX-512 only), 0 never, 1 always (tests check the
// kernel on any CPU).
void set_cpu_stem_conv_mode(int mode);

// Which form QDQ convolutions (ConvInteger) take in programs compiled from now on: -1 as the CPU
// and SHOAL_INT8_CONV decide (oneDNN's int8 convolution where the CPU has VNNI, else fp32 on the
// dequantized data), 0 fp32, 1 int8 (tests check both on any CPU).
void set_cpu_int8_conv_mode(int mode);

}  // namespace shoal
