// libFuzzer target for the server's request parsers: the first byte picks one.
//   0: a KServe v2 infer request body in JSON (server/kserve.h), and when it parses, the
//      response built from its tensors (the JSON and binary output paths);
//   1: the same with the binary tensor data extension (the next two bytes: the JSON header's
//      length, as Inference-Header-Content-Length);
//   2: an image endpoint's query string (cpp-httplib's query parsing, then parse_detect_query).
// shoal::Error is the only acceptable failure; a parsed request must respect the element limit.
// (Multipart bodies are parsed by cpp-httplib itself, whose parser Debian's build keeps
// internal.)
#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "server/detect_query.h"
#include "server/kserve.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int mode = data[0] % 3;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr int64_t kMaxElements = 1 << 16;
  try {
    if (mode == 2) {
      httplib::Request req;
      httplib::detail::parse_query_text(std::string(rest), req.params);
      shoal::vision::DetectorOptions o = shoal::server::parse_detect_query(req);
      if (!(o.conf >= 0 && o.conf <= 1) || o.max_det < 1) __builtin_trap();
      return 0;
    }
    std::optional<size_t> json_length;
    if (mode == 1) {
      if (rest.size() < 2) return 0;
      json_length = static_cast<size_t>(static_cast<uint8_t>(rest[0])) |
                    static_cast<size_t>(static_cast<uint8_t>(rest[1])) << 8;
      rest.remove_prefix(2);
    }
    shoal::server::InferRequest r =
        shoal::server::parse_infer_request(rest, json_length, kMaxElements);
    int64_t total = 0;
    std::vector<std::pair<std::string, shoal::Tensor>> outs;
    for (const shoal::server::InferInput& in : r.inputs) {
      total += in.tensor.numel();
      outs.emplace_back(in.name, in.tensor);
    }
    if (total > kMaxElements) __builtin_trap();
    shoal::server::InferResponse resp = shoal::server::make_infer_response("m", "1", r, outs);
    if (resp.json_length && *resp.json_length > resp.body.size()) __builtin_trap();
  } catch (const shoal::Error&) {
  }
  return 0;
}
