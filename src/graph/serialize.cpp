#include "graph/serialize.h"

#include <xxhash.h>

#include <bit>
#include <cstring>
#include <limits>

#include "core/bytes.h"
#include "core/error.h"

namespace shoal {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the graph format stores integers and tensor payloads little-endian");

constexpr char kMagic[8] = {'S', 'H', 'O', 'A', 'L', 'G', 'R', 'F'};
constexpr size_t kChecksumOffset = 16;
constexpr size_t kChecksummedFrom = 24;  // the checksum covers every byte after its own field

constexpr uint8_t kMaxDType = static_cast<uint8_t>(DType::kBool);
constexpr uint8_t kMaxAttrKind = static_cast<uint8_t>(Attribute::Kind::kGraph);
constexpr uint8_t kMaxPostOpKind = static_cast<uint8_t>(PostOp::Kind::kElu);

// Attribute fields present (non-default), so any Attribute round-trips exactly at the cost of
// one byte; normally only the field of its kind is set.
enum AttrField : uint8_t {
  kAttrI = 1,
  kAttrF = 2,
  kAttrS = 4,
  kAttrInts = 8,
  kAttrFloats = 16,
  kAttrStrings = 32,
  kAttrT = 64,
};
constexpr uint8_t kAttrAllFields = 127;

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

uint64_t blob_checksum(const uint8_t* p, size_t size) {
  return XXH3_64bits(p + kChecksummedFrom, size - kChecksummedFrom);
}

// ---- writing

class Writer {
 public:
  void u8(uint8_t v) { s_.push_back(static_cast<char>(v)); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      u8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    u8(static_cast<uint8_t>(v));
  }
  void svarint(int64_t v) {
    varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void f32(float v) {
    char b[4];
    std::memcpy(b, &v, 4);
    s_.append(b, 4);
  }
  void str(const std::string& v) {
    varint(v.size());
    s_.append(v);
  }
  // dtype code (0 = no tensor), then rank, dims, payload offset in the data section and bytes.
  void tensor(const Tensor& t) {
    u8(static_cast<uint8_t>(t.dtype()));
    if (!t.defined()) return;
    varint(t.dims().size());
    for (int64_t d : t.dims()) varint(static_cast<uint64_t>(d));
    uint64_t off = align_up(data_end_, kGraphPayloadAlignment);
    varint(off);
    varint(t.nbytes());
    payloads_.push_back({&t, off});
    data_end_ = off + t.nbytes();
  }

  // Header + structure + aligned payloads.
  std::string finish() const {
    const uint64_t structure_size = s_.size();
    const uint64_t data_offset =
        align_up(kGraphHeaderBytes + structure_size, kGraphPayloadAlignment);
    const uint64_t total = data_offset + data_end_;
    std::string blob(static_cast<size_t>(total), '\0');
    auto* b = reinterpret_cast<uint8_t*>(blob.data());
    std::memcpy(b, kMagic, 8);
    store_le<uint32_t>(b + 8, kGraphFormatVersion);
    store_le<uint32_t>(b + 12, 0);
    store_le<uint64_t>(b + 24, total);
    store_le<uint64_t>(b + 32, kGraphHeaderBytes);
    store_le<uint64_t>(b + 40, structure_size);
    store_le<uint64_t>(b + 48, data_offset);
    store_le<uint64_t>(b + 56, data_end_);
    std::memcpy(b + kGraphHeaderBytes, s_.data(), s_.size());
    for (const auto& [t, off] : payloads_) {
      if (t->nbytes()) std::memcpy(b + data_offset + off, t->raw(), t->nbytes());
    }
    store_le<uint64_t>(b + kChecksumOffset, blob_checksum(b, blob.size()));
    return blob;
  }

 private:

  std::string s_;
  struct Payload {
    const Tensor* t;
    uint64_t offset;  // from the start of the data section
  };
  std::vector<Payload> payloads_;
  uint64_t data_end_ = 0;
};

void write_attribute(Writer& w, const Attribute& a) {
  uint8_t fields = 0;
  if (a.i != 0) fields |= kAttrI;
  if (std::bit_cast<uint32_t>(a.f) != 0) fields |= kAttrF;
  if (!a.s.empty()) fields |= kAttrS;
  if (!a.ints.empty()) fields |= kAttrInts;
  if (!a.floats.empty()) fields |= kAttrFloats;
  if (!a.strings.empty()) fields |= kAttrStrings;
  if (a.t.defined()) fields |= kAttrT;
  w.u8(static_cast<uint8_t>(a.kind));
  w.u8(fields);
  if (fields & kAttrI) w.svarint(a.i);
  if (fields & kAttrF) w.f32(a.f);
  if (fields & kAttrS) w.str(a.s);
  if (fields & kAttrInts) {
    w.varint(a.ints.size());
    for (int64_t x : a.ints) w.svarint(x);
  }
  if (fields & kAttrFloats) {
    w.varint(a.floats.size());
    for (float x : a.floats) w.f32(x);
  }
  if (fields & kAttrStrings) {
    w.varint(a.strings.size());
    for (const std::string& x : a.strings) w.str(x);
  }
  if (fields & kAttrT) w.tensor(a.t);
}

// ---- reading

[[noreturn]] void corrupt(const std::string& what) {
  fail(ErrorCode::kInvalidModel, "graph blob: {}", what);
}


// Bounds-checked cursor over the structure section. `what` names the field for messages.
class Reader {
 public:
  Reader(const uint8_t* blob, size_t begin, size_t end) : blob_(blob), pos_(begin), end_(end) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }

  uint8_t u8(const char* what) {
    need(1, what);
    return blob_[pos_++];
  }
  uint64_t varint(const char* what) {
    uint64_t r = 0;
    for (int shift = 0;; shift += 7) {
      need(1, what);
      const uint8_t b = blob_[pos_++];
      if (shift == 63 && (b & 0xfe) != 0) {
        corrupt(fmt::format("{} at byte {}: integer encoding overflows 64 bits", what, pos_ - 1));
      }
      r |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
    }
  }
  int64_t svarint(const char* what) {
    const uint64_t u = varint(what);
    return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  float f32(const char* what) {
    need(4, what);
    float v;
    std::memcpy(&v, blob_ + pos_, 4);
    pos_ += 4;
    return v;
  }
  std::string str(const char* what) {
    const uint64_t n = varint(what);
    if (n > remaining()) {
      corrupt(fmt::format("{} at byte {}: string of {} bytes but only {} left", what, pos_, n,
                          remaining()));
    }
    std::string s(reinterpret_cast<const char*>(blob_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  // A count of items taking at least `min_item_bytes` each: never more than the bytes left allow.
  size_t count(const char* what, size_t min_item_bytes) {
    const size_t at = pos_;
    const uint64_t n = varint(what);
    if (n > remaining() / min_item_bytes) {
      corrupt(
          fmt::format("{} at byte {}: count {} (at least {} bytes each) does not fit the {} "
                      "bytes left",
                      what, at, n, min_item_bytes, remaining()));
    }
    return static_cast<size_t>(n);
  }
  bool flag(const char* what) {
    const uint8_t b = u8(what);
    if (b > 1) corrupt(fmt::format("{} at byte {}: boolean {} is not 0 or 1", what, pos_ - 1, b));
    return b != 0;
  }
  // An index in [lo, n), lo being -1 (absent) or 0.
  int32_t index(const char* what, int64_t lo, size_t n) {
    const size_t at = pos_;
    const int64_t v = svarint(what);
    if (v < lo || v >= static_cast<int64_t>(n)) {
      corrupt(fmt::format("{} at byte {}: index {} is outside [{}, {})", what, at, v, lo, n));
    }
    return static_cast<int32_t>(v);
  }

 private:
  void need(size_t n, const char* what) const {
    if (n > end_ - pos_) {
      corrupt(
          fmt::format("{} at byte {}: truncated (needs {} bytes, {} left in the structure "
                      "section)",
                      what, pos_, n, end_ - pos_));
    }
  }

  const uint8_t* blob_;
  size_t pos_;
  size_t end_;
};

class GraphReader {
 public:
  GraphReader(const uint8_t* blob, size_t structure_offset, size_t structure_size,
              size_t data_offset, size_t data_size, bool borrow = false)
      : borrow_(borrow),
        blob_(blob),
        r_(blob, structure_offset, structure_offset + structure_size),
        data_offset_(data_offset),
        data_size_(data_size) {}

  Graph read() {
    Graph g;
    g.producer = r_.str("graph producer");
    g.opset = r_.svarint("graph opset");

    // Minimum encoded bytes: a value is name, dtype, has_shape, rank, dim_params, producer,
    // tensor code (7); a node name, op_type, domain, 4 counts, dead (8).
    const size_t nvalues = r_.count("value count", 7);
    const size_t nnodes_declared = r_.count("node count", 1);
    if (nvalues > static_cast<size_t>(std::numeric_limits<ValueId>::max()) ||
        nnodes_declared > static_cast<size_t>(std::numeric_limits<NodeId>::max())) {
      corrupt(
          fmt::format("{} values / {} nodes exceed the 32-bit id range", nvalues, nnodes_declared));
    }
    nnodes_ = nnodes_declared;
    nvalues_ = nvalues;
    for (size_t v = 0; v < nvalues; ++v) g.values.push_back(read_value(v));
    if (nnodes_ > r_.remaining() / 8) {
      corrupt(fmt::format("node count {} needs at least {} bytes, only {} left", nnodes_,
                          nnodes_ * 8, r_.remaining()));
    }
    for (size_t n = 0; n < nnodes_; ++n) g.nodes.push_back(read_node(n));

    const size_t nin = r_.count("graph input count", 1);
    for (size_t i = 0; i < nin; ++i) g.inputs.push_back(r_.index("graph input", 0, nvalues_));
    const size_t nout = r_.count("graph output count", 1);
    for (size_t i = 0; i < nout; ++i) g.outputs.push_back(r_.index("graph output", 0, nvalues_));

    const size_t nmeta = r_.count("metadata count", 2);
    for (size_t i = 0; i < nmeta; ++i) {
      std::string k = r_.str("metadata key");
      std::string v = r_.str("metadata value");
      if (!g.metadata.emplace(k, std::move(v)).second) {
        corrupt(fmt::format("metadata key '{}' appears twice", k));
      }
    }
    check_order(g);
    if (data_end_ != data_size_) {
      corrupt(fmt::format("the data section has {} bytes but its tensors end at {}", data_size_,
                          data_end_));
    }
    if (r_.remaining() != 0) {
      corrupt(fmt::format("{} unread bytes at the end of the structure section (byte {})",
                          r_.remaining(), r_.pos()));
    }
    return g;
  }

 private:
  Value read_value(size_t idx) {
    Value v;
    v.name = r_.str("value name");
    v.dtype = dtype(r_.u8("value dtype"), idx);
    v.has_shape = r_.flag("value has_shape");
    const size_t rank = r_.count("value rank", 1);
    for (size_t i = 0; i < rank; ++i) v.dims.push_back(r_.svarint("value dim"));
    const size_t nparams = r_.count("value dim_params count", 1);
    for (size_t i = 0; i < nparams; ++i) v.dim_params.push_back(r_.str("value dim_param"));
    v.producer = r_.index("value producer", -1, nnodes_);
    v.constant = tensor(fmt::format("value {} ('{}')", idx, v.name));
    return v;
  }

  Node read_node(size_t idx) {
    Node n;
    n.name = r_.str("node name");
    n.op_type = r_.str("node op_type");
    n.domain = r_.str("node domain");
    const size_t nin = r_.count("node input count", 1);
    for (size_t i = 0; i < nin; ++i) n.inputs.push_back(r_.index("node input", -1, nvalues_));
    const size_t nout = r_.count("node output count", 1);
    for (size_t i = 0; i < nout; ++i) n.outputs.push_back(r_.index("node output", -1, nvalues_));
    const size_t nattrs = r_.count("node attribute count", 3);
    for (size_t i = 0; i < nattrs; ++i) {
      std::string key = r_.str("attribute name");
      Attribute a = read_attribute(
          fmt::format("node {} ({} '{}') attribute '{}'", idx, n.op_type, n.name, key));
      if (!n.attrs.emplace(key, std::move(a)).second) {
        corrupt(fmt::format("node {} ({} '{}'): attribute '{}' appears twice", idx, n.op_type,
                            n.name, key));
      }
    }
    const size_t nposts = r_.count("node post-op count", 10);
    for (size_t i = 0; i < nposts; ++i) {
      PostOp p;
      const uint8_t kind = r_.u8("post-op kind");
      if (kind > kMaxPostOpKind) {
        corrupt(fmt::format("node {} ({} '{}'): post-op kind code {} is not valid", idx, n.op_type,
                            n.name, kind));
      }
      p.kind = static_cast<PostOp::Kind>(kind);
      p.alpha = r_.f32("post-op alpha");
      p.beta = r_.f32("post-op beta");
      const bool binary = p.kind == PostOp::Kind::kAdd || p.kind == PostOp::Kind::kMul;
      p.input = r_.index("post-op input", binary ? 0 : -1, n.inputs.size());
      n.post_ops.push_back(p);
    }
    n.dead = r_.flag("node dead flag");
    return n;
  }

  // Live nodes come in execution order: each reads graph inputs, constants and outputs of
  // earlier live nodes only (what import and every pass guarantee; backends rely on it).
  static void check_order(const Graph& g) {
    std::vector<bool> defined(g.values.size(), false);
    for (ValueId v : g.inputs) defined[static_cast<size_t>(v)] = true;
    for (size_t i = 0; i < g.values.size(); ++i)
      defined[i] = defined[i] || g.values[i].is_constant();
    for (size_t n = 0; n < g.nodes.size(); ++n) {
      const Node& node = g.nodes[n];
      if (node.dead) continue;
      for (ValueId v : node.inputs) {
        if (v != kNoValue && !defined[static_cast<size_t>(v)]) {
          corrupt(
              fmt::format("node {} ({} '{}') reads value {} ('{}'), which is not a graph "
                          "input, a constant or an output of an earlier live node",
                          n, node.op_type, node.name, v, g.values[static_cast<size_t>(v)].name));
        }
      }
      for (ValueId v : node.outputs) {
        if (v != kNoValue) defined[static_cast<size_t>(v)] = true;
      }
    }
  }

  Attribute read_attribute(const std::string& where) {
    Attribute a;
    const uint8_t kind = r_.u8("attribute kind");
    if (kind > kMaxAttrKind) corrupt(fmt::format("{}: kind code {} is not valid", where, kind));
    a.kind = static_cast<Attribute::Kind>(kind);
    const uint8_t fields = r_.u8("attribute fields");
    if (fields & ~kAttrAllFields) {
      corrupt(fmt::format("{}: field mask {:#x} has unknown bits", where, fields));
    }
    if (fields & kAttrI) a.i = r_.svarint("attribute int");
    if (fields & kAttrF) a.f = r_.f32("attribute float");
    if (fields & kAttrS) a.s = r_.str("attribute string");
    if (fields & kAttrInts) {
      const size_t n = r_.count("attribute ints count", 1);
      for (size_t i = 0; i < n; ++i) a.ints.push_back(r_.svarint("attribute ints"));
    }
    if (fields & kAttrFloats) {
      const size_t n = r_.count("attribute floats count", 4);
      for (size_t i = 0; i < n; ++i) a.floats.push_back(r_.f32("attribute floats"));
    }
    if (fields & kAttrStrings) {
      const size_t n = r_.count("attribute strings count", 1);
      for (size_t i = 0; i < n; ++i) a.strings.push_back(r_.str("attribute strings"));
    }
    if (fields & kAttrT) {
      a.t = tensor(where);
      if (!a.t.defined()) corrupt(fmt::format("{}: tensor field marked present but empty", where));
    }
    return a;
  }

  static DType dtype(uint8_t code, size_t value_idx) {
    if (code > kMaxDType)
      corrupt(fmt::format("value {}: dtype code {} is not valid", value_idx, code));
    return static_cast<DType>(code);
  }

  Tensor tensor(const std::string& where) {
    const uint8_t code = r_.u8("tensor dtype");
    if (code == 0) return Tensor();
    if (code > kMaxDType)
      corrupt(fmt::format("{}: tensor dtype code {} is not valid", where, code));
    const DType dt = static_cast<DType>(code);
    const size_t rank = r_.count("tensor rank", 1);
    Dims dims;
    int64_t numel = 1;
    for (size_t i = 0; i < rank; ++i) {
      const uint64_t d = r_.varint("tensor dim");
      if (d > static_cast<uint64_t>(kMaxTensorBytes) ||
          __builtin_mul_overflow(numel, static_cast<int64_t>(d), &numel) ||
          numel > kMaxTensorBytes) {
        corrupt(fmt::format("{}: tensor dim {} = {} gives more than {} elements", where, i, d,
                            kMaxTensorBytes));
      }
      dims.push_back(static_cast<int64_t>(d));
    }
    const uint64_t off = r_.varint("tensor offset");
    const uint64_t nbytes = r_.varint("tensor bytes");
    const uint64_t expect = static_cast<uint64_t>(numel) * dtype_size(dt);
    if (nbytes != expect) {
      corrupt(fmt::format("{}: tensor {} {} needs {} bytes, the blob says {}", where,
                          dtype_name(dt), dims_str(dims), expect, nbytes));
    }
    if (off % kGraphPayloadAlignment != 0 || off < data_end_ || off > data_size_ ||
        nbytes > data_size_ - off) {
      corrupt(
          fmt::format("{}: tensor payload [{}, +{}) is misaligned, overlaps the previous one "
                      "(ending at {}) or leaves the data section ({} bytes)",
                      where, off, nbytes, data_end_, data_size_));
    }
    data_end_ = off + nbytes;
    if (borrow_ && nbytes) {
      return Tensor::borrow(dt, std::move(dims), const_cast<uint8_t*>(blob_ + data_offset_ + off));
    }
    Tensor t(dt, std::move(dims));
    if (nbytes) std::memcpy(t.raw(), blob_ + data_offset_ + off, static_cast<size_t>(nbytes));
    return t;
  }

  bool borrow_ = false;
  const uint8_t* blob_;
  Reader r_;
  size_t data_offset_;
  size_t data_size_;
  uint64_t data_end_ = 0;  // end of the last payload read (payloads come in order)
  size_t nvalues_ = 0;
  size_t nnodes_ = 0;
};

}  // namespace

std::string serialize_graph(const Graph& g) {
  Writer w;
  w.str(g.producer);
  w.svarint(g.opset);
  w.varint(g.values.size());
  w.varint(g.nodes.size());
  if (g.values.size() > static_cast<size_t>(std::numeric_limits<ValueId>::max()) ||
      g.nodes.size() > static_cast<size_t>(std::numeric_limits<NodeId>::max())) {
    fail(ErrorCode::kLimit, "serialize_graph: {} values / {} nodes exceed the 32-bit id range",
         g.values.size(), g.nodes.size());
  }
  for (const Value& v : g.values) {
    w.str(v.name);
    w.u8(static_cast<uint8_t>(v.dtype));
    w.u8(v.has_shape ? 1 : 0);
    w.varint(v.dims.size());
    for (int64_t d : v.dims) w.svarint(d);
    w.varint(v.dim_params.size());
    for (const std::string& p : v.dim_params) w.str(p);
    w.svarint(v.producer);
    w.tensor(v.constant);
  }
  for (const Node& n : g.nodes) {
    w.str(n.name);
    w.str(n.op_type);
    w.str(n.domain);
    w.varint(n.inputs.size());
    for (ValueId v : n.inputs) w.svarint(v);
    w.varint(n.outputs.size());
    for (ValueId v : n.outputs) w.svarint(v);
    w.varint(n.attrs.size());
    for (const auto& [key, a] : n.attrs) {
      w.str(key);
      write_attribute(w, a);
    }
    w.varint(n.post_ops.size());
    for (const PostOp& p : n.post_ops) {
      w.u8(static_cast<uint8_t>(p.kind));
      w.f32(p.alpha);
      w.f32(p.beta);
      w.svarint(p.input);
    }
    w.u8(n.dead ? 1 : 0);
  }
  w.varint(g.inputs.size());
  for (ValueId v : g.inputs) w.svarint(v);
  w.varint(g.outputs.size());
  for (ValueId v : g.outputs) w.svarint(v);
  w.varint(g.metadata.size());
  for (const auto& [k, v] : g.metadata) {
    w.str(k);
    w.str(v);
  }
  return w.finish();
}

Graph deserialize_graph(const void* data, size_t size, const DeserializeOptions& opts) {
  if (data == nullptr && size != 0) corrupt("null data");
  const auto* b = static_cast<const uint8_t*>(data);
  if (size < kGraphHeaderBytes) {
    corrupt(fmt::format("{} bytes is shorter than the {}-byte header", size, kGraphHeaderBytes));
  }
  if (std::memcmp(b, kMagic, sizeof(kMagic)) != 0) {
    corrupt("bad magic: not a Shoal graph (expected \"SHOALGRF\")");
  }
  const uint32_t version = load_le<uint32_t>(b + 8);
  if (version != kGraphFormatVersion) {
    corrupt(fmt::format("format version {} is not supported (this build reads version {})", version,
                        kGraphFormatVersion));
  }
  const uint32_t flags = load_le<uint32_t>(b + 12);
  if (flags != 0) corrupt(fmt::format("unknown header flags {:#x}", flags));
  const uint64_t total = load_le<uint64_t>(b + 24);
  if (total != size) {
    corrupt(fmt::format("the header says {} bytes but {} were given (truncated or padded)", total,
                        size));
  }
  if (opts.verify_checksum) {
    const uint64_t stored = load_le<uint64_t>(b + kChecksumOffset);
    const uint64_t actual = blob_checksum(b, size);
    if (stored != actual) {
      corrupt(
          fmt::format("checksum mismatch (stored {:016x}, computed {:016x}): the data is "
                      "corrupt",
                      stored, actual));
    }
  }
  const uint64_t s_off = load_le<uint64_t>(b + 32), s_size = load_le<uint64_t>(b + 40);
  const uint64_t d_off = load_le<uint64_t>(b + 48), d_size = load_le<uint64_t>(b + 56);
  if (s_off != kGraphHeaderBytes || s_size > size - s_off) {
    corrupt(fmt::format("structure section [{}, +{}) does not fit {} bytes after the header", s_off,
                        s_size, size));
  }
  if (d_off % kGraphPayloadAlignment != 0 || d_off < s_off + s_size || d_off > size ||
      d_size != size - d_off) {
    corrupt(
        fmt::format("data section [{}, +{}) is misaligned, overlaps the structure or does not "
                    "end the {}-byte blob",
                    d_off, d_size, size));
  }
  GraphReader reader(b, static_cast<size_t>(s_off), static_cast<size_t>(s_size),
                     static_cast<size_t>(d_off), static_cast<size_t>(d_size), opts.borrow_payloads);
  return reader.read();
}

}  // namespace shoal
