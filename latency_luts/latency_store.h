// LatencyStore: a device latency lookup table in one SQLite file (WAL, PRAGMA user_version =
// kSchemaVersion, schema in docs/latency.md). Devices, and measurements at three key levels:
// op (fused op key from core/lower), block (OFA/ProxylessNAS-style keys) and arch (space_id +
// ArchConfig hash), each with dtype, threads, batch, statistics and provenance. Invariants:
// every write is one transaction (two processes writing at once lose nothing); opening a
// foreign file, a corrupt one or a newer schema throws DbError (exit code 2) before anything is
// written; one row per (device, level, key, dtype, threads, batch), a later write replaces it.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/sqlite.h"

namespace hwnas {

constexpr int kLatencySchemaVersion = 1;
// Written into every row this build produces.
extern const char* const kLatencyToolVersion;

enum class KeyLevel { Op, Block, Arch };
const char* keyLevelName(KeyLevel level);  // "op", "block", "arch"
KeyLevel parseKeyLevel(const std::string& name);  // InputError listing the names

enum class Source { Profiled, Imported, Model };
const char* sourceName(Source s);  // "profiled", "imported", "model"
Source parseSource(const std::string& name);

// Device kinds: cpu, gpu, fpga, mobile, asic (accelerators such as Eyeriss or a VPU).
bool isDeviceKind(const std::string& kind);

struct DeviceInfo {
  std::string name;
  std::string kind;  // isDeviceKind
  std::string description;
};

struct Measurement {
  std::string device;
  KeyLevel level = KeyLevel::Op;
  std::string key;        // op key, block key, or "<space_id>:<arch hash>" (archKey())
  std::string spaceId;    // arch level: the space; "" otherwise
  std::string archHash;   // arch level: 16 hex digits; "" otherwise
  std::string dtype = "f32";
  int threads = 1;
  int batch = 1;
  double latencyMs = 0;   // the value a LUT sum uses: the median for profiled rows, the source's value for imports
  std::optional<double> minMs, medianMs, p90Ms, meanMs, stdMs;
  std::optional<double> energyMj;  // energy per inference where the source has it
  std::optional<int64_t> macs, bytes;  // op level: the op's MACs and bytes moved (fallback regression)
  int64_t repeats = 0;
  Source source = Source::Profiled;
  std::string origin;       // file it was imported from, or what was profiled
  std::string toolVersion;  // filled by put() when empty
  std::string createdAt;    // ISO 8601 UTC; filled by put() when empty
};

std::string archKey(const std::string& spaceId, const std::string& archHash);

// The fixed per-run cost of a device at (dtype, threads, batch), fitted by profile/validate:
// measured whole network = sum of op entries + overheadMs. msPerMflop is the FLOPs-proportional
// baseline's slope, fitted on the same networks.
struct Calibration {
  std::string device;
  std::string dtype = "f32";
  int threads = 1;
  int batch = 1;
  double overheadMs = 0;
  double msPerMflop = 0;
  int networks = 0;
  // The speed probe (probeGraph()) at profiling time: validate scales its measurements by
  // probeMs / the probe's time then, to take out the machine's drift (reported both ways).
  std::optional<double> probeMs;
  std::string origin;
  std::string toolVersion;
  std::string createdAt;
};

// Selects rows; empty strings / zero mean "any".
struct MeasurementFilter {
  std::string device;
  std::optional<KeyLevel> level;
  std::string dtype;
  int threads = 0;
  int batch = 0;
};

class LatencyStore {
 public:
  // Opens or creates `path` (":memory:" for tests). readOnly: never creates or writes; a
  // missing file is an IoError. DbError (exit 2) for a foreign or corrupt file or a newer schema.
  explicit LatencyStore(const std::string& path, bool readOnly = false);
  LatencyStore(LatencyStore&&) noexcept;
  LatencyStore& operator=(LatencyStore&&) noexcept;
  ~LatencyStore();

  const std::string& path() const { return path_; }

  // Adds a device, or updates its description; InputError if it exists with another kind or
  // the kind is unknown.
  void addDevice(const DeviceInfo& device);
  std::optional<DeviceInfo> device(const std::string& name);
  std::vector<DeviceInfo> devices();  // sorted by name
  // InputError "unknown device 'x' in lut.db; the latency table has: a, b" (exit 2).
  DeviceInfo requireDevice(const std::string& name);

  // Inserts or replaces, all in one transaction; each row's device must exist.
  void put(const std::vector<Measurement>& rows);
  void put(const Measurement& row) { put(std::vector<Measurement>{row}); }
  std::optional<Measurement> get(const std::string& device, KeyLevel level, const std::string& key,
                                 const std::string& dtype, int threads, int batch);
  // Rows in (device, level, key, dtype, threads, batch) order.
  std::vector<Measurement> query(const MeasurementFilter& filter);
  // key -> row for one device/level/dtype/threads/batch.
  std::map<std::string, Measurement> table(const std::string& device, KeyLevel level, const std::string& dtype,
                                           int threads, int batch);
  int64_t count(const std::string& device, KeyLevel level);
  // The distinct (dtype, threads, batch) settings a device has rows for, as "f32/t1/b1".
  std::vector<std::string> settings(const std::string& device);

  void setCalibration(const Calibration& c);
  std::optional<Calibration> calibration(const std::string& device, const std::string& dtype, int threads, int batch);
  std::vector<Calibration> calibrations();

  // Copies every device, measurement and calibration of `other` into this store in one
  // transaction. A row that exists in both is replaced only when `other`'s is newer (createdAt).
  // Returns the number of measurement rows written. InputError if a device's kind differs.
  int64_t merge(LatencyStore& other);

 private:
  void createOrCheck(bool readOnly);
  std::unique_ptr<Database> db_;
  std::string path_;
};

// Current time as "2026-12-01T19:47:38Z".
std::string utcTimestamp();

}  // namespace hwnas
