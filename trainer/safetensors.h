// Safetensors: weights on disk in the format Python's `safetensors` reads (8-byte LE header
// length N, N bytes of JSON padded with spaces to 8-byte alignment, then raw LE data).
// Invariant: a save never leaves a half-written file at the final path (temp file + rename);
// a load either returns every tensor intact or throws IoError naming the file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "trainer/tensor.h"

namespace hwnas {

// An int64 array (dtype I64), e.g. step counters stored next to weights.
struct Int64Array {
  Shape shape;
  std::vector<int64_t> values;  // numel(shape) values, row-major
};

// A file's contents. Names are unique across `tensors` and `int64s`; maps keep them sorted,
// which is also the order of the header keys and of the data on disk.
struct SafetensorsData {
  std::map<std::string, Tensor> tensors;       // dtype F32
  std::map<std::string, Int64Array> int64s;    // dtype I64
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// Writes `data` to `path` atomically (temp file in the same folder, then rename). Throws
// InputError for a duplicate or empty name or an undefined tensor, IoError when writing fails.
void saveSafetensors(const std::string& path, const SafetensorsData& data);
void saveSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                     const std::map<std::string, std::string>& metadata = {});
void saveSafetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata = {});

// Reads a safetensors file with F32 and I64 entries. Throws IoError naming the file for a
// missing, truncated or corrupt file (header length beyond the file, invalid JSON, offsets out
// of range or overlapping, shape/offset mismatch) or an unsupported dtype.
SafetensorsData loadSafetensors(const std::string& path);

}  // namespace hwnas
