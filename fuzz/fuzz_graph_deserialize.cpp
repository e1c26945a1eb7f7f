// libFuzzer target for the graph deserializer (graph/serialize.h): arbitrary bytes through
// deserialize_graph, once as given and once with the checksum unchecked and the header's sizes
// patched to the input's, so mutations reach the structure parser. shoal::Error is the only
// acceptable failure; an accepted graph must re-serialize to a blob that deserializes and
// re-serializes to the same bytes. Any other exception, crash, leak or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "graph/serialize.h"

namespace {

void check(const uint8_t* data, size_t size, bool verify_checksum) {
  shoal::DeserializeOptions opts;
  opts.verify_checksum = verify_checksum;
  shoal::Graph g;
  try {
    g = shoal::deserialize_graph(data, size, opts);
  } catch (const shoal::Error&) {
    return;
  }
  const std::string blob = shoal::serialize_graph(g);
  const shoal::Graph back = shoal::deserialize_graph(blob.data(), blob.size());
  if (shoal::serialize_graph(back) != blob) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check(data, size, true);
  if (size < shoal::kGraphHeaderBytes) return 0;
  // Header fields (serialize.h): u64 total at 24, u64 data offset at 48 and size at 56.
  std::vector<uint8_t> buf(data, data + size);
  const uint64_t total = size;
  std::memcpy(buf.data() + 24, &total, 8);
  uint64_t data_offset;
  std::memcpy(&data_offset, buf.data() + 48, 8);
  if (data_offset <= size) {
    const uint64_t data_size = size - data_offset;
    std::memcpy(buf.data() + 56, &data_size, 8);
  }
  check(buf.data(), buf.size(), false);
  return 0;
}
