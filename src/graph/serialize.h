// A compact, versioned, checksummed binary form of the graph IR (for the compiled-model disk cache:
// an optimised, shape-specialised graph reloads without ONNX parsing, inference or passes).
// Knows the IR only; nothing about files, memory budgets, backends or threads.
//
// Layout (all integers little-endian; format version 1):
//   [0, 64)      header: magic "SHOALGRF", u32 version, u32 flags (0), u64 checksum (XXH3-64 of
//                bytes [24, total)), u64 total size, u64 structure offset (64) and size,
//                u64 data offset (a multiple of 64) and size
//   structure    graph fields, values, nodes, inputs/outputs, metadata: LEB128 varints (signed
//                ones zigzag), strings as length + bytes, floats as their 4 raw bytes
//   data         constant tensor payloads (values' constants and tensor attributes), each at a
//                64-byte aligned offset from the start of the blob, in order, not overlapping
// Every Graph field is kept, dead nodes and producer indices included, so a deserialized graph is
// field-for-field equal to the serialized one and re-serializes to the same bytes. (A kGraph
// attribute keeps only its kind: the IR holds no subgraph, the importer refuses them.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "graph/ir.h"

namespace shoal {

inline constexpr uint32_t kGraphFormatVersion = 1;
inline constexpr size_t kGraphHeaderBytes = 64;
inline constexpr size_t kGraphPayloadAlignment = 64;

// Throws kLimit when a count or size does not fit the format (never for a real model).
std::string serialize_graph(const Graph& g);

struct DeserializeOptions {
  // Off only where the checksum is known to be wrong on purpose (fuzzing the structure parser):
  // every other check still runs, so a bad blob still throws and never reads out of bounds.
  bool verify_checksum = true;
  // Constants borrow their payloads from the blob instead of copying them (the blob must outlive
  // the graph and every tensor sharing its constants; see CompiledModel::detach_constants_from).
  bool borrow_payloads = false;
};

// Validates everything (header, version, checksum, every count against the bytes left, dtype and
// kind codes, value/node/input indices, tensor sizes and payload bounds, live nodes in execution
// order) and throws shoal::Error(kInvalidModel) naming what is wrong and where. Op-level meaning
// (attributes, shapes) is left to compilation, as for an imported graph. Constants are copied out
// of `data`, which need not be aligned and may be freed afterwards.
Graph deserialize_graph(const void* data, size_t size, const DeserializeOptions& opts = {});

}  // namespace shoal
