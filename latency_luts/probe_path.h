// The on-board profiling path: `nas-lut plan` turns a search space into a ProbePlan (every
// distinct fused op any network of the space can hold, from SearchSpace::keyCoveringArchs, with what it takes to build
// and time each op, format in runtime/probe/probe_plan.h), hwnas-probe times it on the board,
// and `nas-lut import` reads its results JSON into a LatencyStore. Invariants: plan op keys are
// the core lowering's keys (the LUT model looks them up unchanged); an import parses and checks
// the whole results file before it writes anything, then writes the rows in one transaction.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "latency_luts/latency_store.h"
#include "latency_luts/profiler.h"
#include "runtime/probe/probe_plan.h"
#include "search_spaces/search_space.h"

namespace hwnas {

struct ProbePlanOptions {
  CoverageOptions coverage;  // only `resolutions` is used: the plan covers every op key of the space (SearchSpace::keyCoveringArchs)
  int batch = 1, threads = 1, repeats = 40, warmup = 5;
};

// Every op key of the space (within coverage.resolutions), in order of first appearance in
// keyCoveringArchs().
runtime::ProbePlan makeProbePlan(const SearchSpace& space, const ProbePlanOptions& options);

struct ProbeImportOptions {
  std::string device;              // required
  std::string kind = "cpu";        // for a new device
  std::string description;         // for a new device; default: the probe's CPU description
  std::string statistic = "min";   // what latency_ms is: the op's fastest sample ("min"; one-op plans have no whole network runs to take it from, unlike profile) or "median"
};

struct ProbeImportReport {
  int64_t rows = 0;
  bool deviceCreated = false;
  bool calibrationWritten = false;
  int threads = 1, batch = 1;
};

// InputError naming the file (and op index) for anything malformed: not JSON, another format,
// a newer version, missing or non-finite fields, min > median, a spec that does not build.
ProbeImportReport importProbeResults(LatencyStore& store, const std::string& path, const ProbeImportOptions& options);

// True when the file looks like hwnas-probe results (a JSON object naming the format).
bool isProbeResultsFile(const std::string& path);

}  // namespace hwnas
