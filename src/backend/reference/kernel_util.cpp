#include "backend/reference/kernel_util.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace shoal {

namespace {

struct Dim {
  int64_t n;
  int64_t ss;  // source stride, bytes
  int64_t ds;  // destination stride, bytes
};

template <size_t kSize>
void copy_elems(char* d, const char* s, int64_t n, int64_t ds, int64_t ss) {
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(d, s, kSize);
    d += ds;
    s += ss;
  }
}

void copy_elems_any(char* d, const char* s, int64_t n, int64_t ds, int64_t ss, size_t esize) {
  switch (esize) {
    case 1:
      copy_elems<1>(d, s, n, ds, ss);
      return;
    case 2:
      copy_elems<2>(d, s, n, ds, ss);
      return;
    case 4:
      copy_elems<4>(d, s, n, ds, ss);
      return;
    case 8:
      copy_elems<8>(d, s, n, ds, ss);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) std::memcpy(d + i * ds, s + i * ss, esize);
  }
}

// rows x cols block where the source is contiguous along rows and the destination along cols:
// copied in square tiles so both sides stay in cache.
template <typename T>
void copy_tiled_t(char* d, const char* s, const Dim& rows, const Dim& cols) {
  constexpr int64_t kTile = 8;  // measured best of 8..64 on [84,8400] and [400,400] f32
  const int64_t drow = rows.ds / static_cast<int64_t>(sizeof(T));
  const int64_t scol = cols.ss / static_cast<int64_t>(sizeof(T));
  T* dp = reinterpret_cast<T*>(d);
  const T* sp = reinterpret_cast<const T*>(s);
  for (int64_t r0 = 0; r0 < rows.n; r0 += kTile) {
    const int64_t r1 = std::min(rows.n, r0 + kTile);
    for (int64_t c0 = 0; c0 < cols.n; c0 += kTile) {
      const int64_t c1 = std::min(cols.n, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r) {
        const T* src = sp + r;
        T* dst = dp + r * drow;
        for (int64_t c = c0; c < c1; ++c) dst[c] = src[c * scol];
      }
    }
  }
}

void copy_tiled(char* d, const char* s, const Dim& rows, const Dim& cols, size_t esize) {
  switch (esize) {
    case 1:
      copy_tiled_t<uint8_t>(d, s, rows, cols);
      return;
    case 2:
      copy_tiled_t<uint16_t>(d, s, rows, cols);
      return;
    case 4:
      copy_tiled_t<uint32_t>(d, s, rows, cols);
      return;
    case 8:
      copy_tiled_t<uint64_t>(d, s, rows, cols);
      return;
    default:
      for (int64_t r = 0; r < rows.n; ++r) {
        copy_elems_any(d + r * rows.ds, s + r * rows.ss, cols.n, cols.ds, cols.ss, esize);
      }
  }
}

// n copies of the element at s (a broadcast innermost dim).
void splat(char* d, const char* s, int64_t n, size_t esize) {
  if (n >= 32) {
    fill_pattern(d, n, s, esize);
  } else {
    copy_elems_any(d, s, n, static_cast<int64_t>(esize), 0, esize);
  }
}

}  // namespace

std::vector<int64_t> dense_strides(const Dims& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t k = dims.size(); k-- > 1;) s[k - 1] = s[k] * dims[k];
  return s;
}

void copy_strided(void* dst, const std::vector<int64_t>& dst_strides, const void* src,
                  const std::vector<int64_t>& src_strides, const Dims& dims, size_t esize) {
  const int64_t es = static_cast<int64_t>(esize);
  std::vector<Dim> v;
  v.reserve(dims.size());
  for (size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] == 0) return;
    if (dims[k] == 1) continue;
    Dim d{dims[k], src_strides[k] * es, dst_strides[k] * es};
    if (!v.empty() && v.back().ss == d.ss * d.n && v.back().ds == d.ds * d.n) {
      v.back() = Dim{v.back().n * d.n, d.ss, d.ds};  // outer neighbour is contiguous with d
    } else {
      v.push_back(d);
    }
  }
  char* dp = static_cast<char*>(dst);
  const char* sp = static_cast<const char*>(src);
  if (v.empty()) {
    std::memcpy(dp, sp, esize);
    return;
  }
  const Dim inner = v.back();
  v.pop_back();
  // Transposed innermost dim: find an outer dim the source walks contiguously and tile with it.
  int tile_dim = -1;
  if (inner.ds == es && inner.ss != es && inner.ss != 0 && inner.n >= 8) {
    for (size_t k = 0; k < v.size(); ++k) {
      if (v[k].ss == es && v[k].n >= 8) tile_dim = static_cast<int>(k);
    }
  }
  Dim rows{1, 0, 0};
  if (tile_dim >= 0) {
    rows = v[static_cast<size_t>(tile_dim)];
    v.erase(v.begin() + tile_dim);
  }
  const bool run = inner.ss == es && inner.ds == es;
  const bool broadcast = inner.ss == 0 && inner.ds == es;
  const size_t run_bytes = static_cast<size_t>(inner.n) * esize;
  int64_t outer = 1;
  for (const Dim& d : v) outer *= d.n;
  std::vector<int64_t> cnt(v.size(), 0);
  int64_t so = 0;
  int64_t doff = 0;
  for (int64_t it = 0; it < outer; ++it) {
    if (tile_dim >= 0) {
      copy_tiled(dp + doff, sp + so, rows, inner, esize);
    } else if (run) {
      std::memcpy(dp + doff, sp + so, run_bytes);
    } else if (broadcast) {
      splat(dp + doff, sp + so, inner.n, esize);
    } else {
      copy_elems_any(dp + doff, sp + so, inner.n, inner.ds, inner.ss, esize);
    }
    for (size_t k = v.size(); k-- > 0;) {
      so += v[k].ss;
      doff += v[k].ds;
      if (++cnt[k] < v[k].n) break;
      so -= v[k].ss * v[k].n;
      doff -= v[k].ds * v[k].n;
      cnt[k] = 0;
    }
  }
}

void fill_pattern(void* dst, int64_t n, const void* value, size_t esize) {
  if (n <= 0) return;
  char* d = static_cast<char*>(dst);
  bool same_bytes = true;
  const char* vb = static_cast<const char*>(value);
  for (size_t i = 1; i < esize; ++i) same_bytes = same_bytes && vb[i] == vb[0];
  if (same_bytes) {
    std::memset(d, vb[0], static_cast<size_t>(n) * esize);
    return;
  }
  // Doubling memcpy: log2(n) calls.
  std::memcpy(d, value, esize);
  const size_t total = static_cast<size_t>(n) * esize;
  size_t done = esize;
  while (done < total) {
    size_t k = std::min(done, total - done);
    std::memcpy(d + done, d, k);
    done += k;
  }
}

std::string kernel_label(const Node& n) { return n.op_type + " '" + n.name + "'"; }

int64_t checked_index(const Node& n, int64_t v, int64_t size, int64_t axis) {
  if (v < -size || v >= size) {
    fail(ErrorCode::kInvalidArgument, "{}: index {} is out of range for axis {} of size {}",
         kernel_label(n), v, axis, size);
  }
  return v < 0 ? v + size : v;
}

std::vector<int64_t> element_offsets(const Node& n, const Dims& data, const Tensor& idx,
                                     int64_t axis) {
  const Dims& id = idx.dims();
  const size_t r = data.size();
  if (id.size() != r) {
    fail(ErrorCode::kInvalidModel, "{}: indices {} must have the rank of data {}", kernel_label(n),
         dims_str(id), dims_str(data));
  }
  const std::vector<int64_t> ds = dense_strides(data);
  std::vector<int64_t> off(static_cast<size_t>(idx.numel()));
  std::vector<int64_t> pos(r, 0);  // odometer over the indices' dims
  for (size_t e = 0; e < off.size(); ++e) {
    int64_t o = 0;
    for (size_t k = 0; k < r; ++k) {
      int64_t p = pos[k];
      if (static_cast<int64_t>(k) == axis) {
        p = checked_index(n, idx.get_i64(static_cast<int64_t>(e)), data[k], axis);
      } else if (p >= data[k]) {
        fail(ErrorCode::kInvalidModel, "{}: indices {} exceed data {}", kernel_label(n),
             dims_str(id), dims_str(data));
      }
      o += p * ds[k];
    }
    off[e] = o;
    for (size_t k = r; k-- > 0;) {
      if (++pos[k] < id[k]) break;
      pos[k] = 0;
    }
  }
  return off;
}

std::vector<int64_t> tuple_offsets(const Node& n, const Dims& data, const Tensor& idx,
                                   size_t batch_dims) {
  const Dims& id = idx.dims();
  const int64_t k = id.empty() ? 0 : id.back();
  if (id.empty() || k < 1 || batch_dims + static_cast<size_t>(k) > data.size()) {
    fail(ErrorCode::kInvalidModel, "{}: indices {} do not address data {}", kernel_label(n),
         dims_str(id), dims_str(data));
  }
  int64_t batches = 1, per_batch = 1;  // batches, and data elements per batch
  for (size_t i = 0; i < data.size(); ++i) (i < batch_dims ? batches : per_batch) *= data[i];
  const int64_t tuples = idx.numel() / k;
  const int64_t per = batches > 0 ? tuples / batches : 0;  // tuples per batch
  const std::vector<int64_t> ds = dense_strides(data);
  std::vector<int64_t> off(static_cast<size_t>(tuples));
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t o = per > 0 ? t / per * per_batch : 0;
    for (int64_t j = 0; j < k; ++j) {
      const size_t axis = batch_dims + static_cast<size_t>(j);
      o += checked_index(n, idx.get_i64(t * k + j), data[axis], static_cast<int64_t>(axis)) *
           ds[axis];
    }
    off[static_cast<size_t>(t)] = o;
  }
  return off;
}

}  // namespace shoal
