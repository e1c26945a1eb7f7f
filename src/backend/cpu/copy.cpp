// Copy kernels: strided byte copies for Concat/Split/Slice pieces that cannot be views (batch > 1,
// graph outputs, unaligned channel ranges), and layout conversions (plain <-> channel-blocked
// reorders). Any dtype; blocked pieces are whole channel blocks, so both layouts copy the same way.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_ops.h"

namespace shoal::cpu {
namespace {

class CopyKernel final : public Kernel {
 public:
  // Work items of at most kItemBytes, spread over the OpenMP team.
  struct Item {
    int piece;
    int64_t chunk_begin, chunk_end;  // chunks [begin, end) of the piece, or
    size_t byte_begin, byte_end;     // bytes [begin, end) of one chunk when chunk_end == begin+1
  };
  static constexpr size_t kItemBytes = size_t{256} << 10;

  CopyKernel(std::vector<CopyPiece> pieces, std::vector<int> in_index)
      : pieces_(std::move(pieces)), in_index_(std::move(in_index)) {
    for (size_t p = 0; p < pieces_.size(); ++p) {
      const CopyPiece& cp = pieces_[p];
      total_ += cp.chunk * static_cast<size_t>(cp.count);
      if (cp.chunk >= kItemBytes) {
        for (int64_t k = 0; k < cp.count; ++k) {
          for (size_t b = 0; b < cp.chunk; b += kItemBytes) {
            items_.push_back(
                {static_cast<int>(p), k, k + 1, b, std::min(cp.chunk, b + kItemBytes)});
          }
        }
      } else {
        int64_t per =
            std::max<int64_t>(1, static_cast<int64_t>(kItemBytes / std::max<size_t>(cp.chunk, 1)));
        for (int64_t k = 0; k < cp.count; k += per) {
          items_.push_back({static_cast<int>(p), k, std::min(cp.count, k + per), 0, cp.chunk});
        }
      }
    }
  }

  void run(const KernelIO& io) override {
    sync_threads();
    auto work = [&](const Item& it) {
      const CopyPiece& cp = pieces_[static_cast<size_t>(it.piece)];
      const char* src = static_cast<const char*>(
          io.in[static_cast<size_t>(in_index_[static_cast<size_t>(it.piece)])]);
      char* dst = static_cast<char*>(io.out[static_cast<size_t>(cp.out_index)]);
      for (int64_t k = it.chunk_begin; k < it.chunk_end; ++k) {
        std::memcpy(dst + cp.out_offset + static_cast<size_t>(k) * cp.out_stride + it.byte_begin,
                    src + cp.in_offset + static_cast<size_t>(k) * cp.in_stride + it.byte_begin,
                    it.byte_end - it.byte_begin);
      }
    };
    const int64_t n = static_cast<int64_t>(items_.size());
    if (n <= 1 || total_ < (size_t{64} << 10)) {
      for (const Item& it : items_) work(it);
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) work(items_[static_cast<size_t>(i)]);
  }

 private:
  std::vector<CopyPiece> pieces_;
  std::vector<int> in_index_;  // per piece: KernelIO input
  std::vector<Item> items_;
  size_t total_ = 0;
};

}  // namespace

KernelBuild build_copy(std::vector<CopyPiece> pieces) {
  KernelBuild kb;
  std::vector<int> in_index;
  for (const CopyPiece& p : pieces) in_index.push_back(kb.use_input(p.in_slot));
  kb.kernel = std::make_unique<CopyKernel>(std::move(pieces), std::move(in_index));
  kb.impl = "copy";
  return kb;
}

KernelBuild build_reorder(DType t, const Dims& dims, Layout from, Layout to) {
  auto k = std::make_unique<DnnlKernel>();
  k->add_reorder(k->input(0, make_md(t, dims, from)), k->output(0, make_md(t, dims, to)));
  KernelBuild kb;
  kb.inputs = {0};
  kb.set_dnnl(std::move(k));
  return kb;
}

}  // namespace shoal::cpu
