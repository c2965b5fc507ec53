// ProbePlan: the profiling plan that `nas-lut plan` writes and hwnas-probe runs on a board, a
// plain-text list of fused ops (one per line, everything needed to build and time the op) under
// a header. Invariant: parse(format(p)) == p, and every op line builds a valid one-op runtime
// Plan; parse errors name the file and line and nothing is half-read. Format (version 1):
//
//   # comments and blank lines are ignored
//   format hwnas-probe-plan
//   version 1
//   space_id fmnist_small-0123456789abcdef     (space name optional: "space fmnist_small")
//   dtype f32
//   batch 1            threads 1            repeats 40            warmup 5
//   ops 57             (the number of op lines that follow: a truncated file is an error)
//   op <type> key=<op key> in=<shape>[,<shape>...] out=<C> k=<H>x<W> s=<H>x<W> p=<H>x<W>
//      d=<H>x<W> g=<groups> act=<act> gate=<act> bcast=<0|1>      (all on one line)
//   end
//
// <type> and <act> are the runtime's names (runtime/plan.h: conv2d, dwconv2d, linear, add, mul,
// avgpool, maxpool, global_avgpool, se, concat, flatten, act; identity, relu, relu6, hswish,
// hsigmoid, silu, sigmoid). Shapes are batch-1 ("1x16x28x28") like the keys; the header's batch
// is the batch the ops are run at. Keys contain no spaces.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/plan.h"
#include "runtime/runtime_error.h"

namespace hwnas::runtime {

constexpr int kProbePlanVersion = 1;

// A plan file (or plan text) that cannot be read: bad input, exit code 2 in hwnas-probe.
class ProbePlanError : public RuntimeError {
 public:
  explicit ProbePlanError(const std::string& msg) : RuntimeError(msg) {}
};

struct ProbeOp {
  std::string key;                           // the latency table key, echoed into the results
  PlanOp op;                                 // attributes only (no weights, inputs/output unset)
  std::vector<std::vector<int64_t>> inputs;  // input shapes (batch 1)
};

struct ProbePlan {
  int version = kProbePlanVersion;
  std::string spaceId, spaceName;
  std::string dtype = "f32";
  int batch = 1, threads = 1, repeats = 40, warmup = 5;
  std::vector<ProbeOp> ops;
};

// The op line's fields after "op " (no newline).
std::string formatProbeOp(const ProbeOp& op);
std::string formatProbePlan(const ProbePlan& plan);
// `where` names the source in errors ("plan.txt" -> "plan.txt:12: ...").
ProbePlan parseProbePlan(const std::string& text, const std::string& where);
ProbePlan loadProbePlan(const std::string& path);  // ProbePlanError also for a missing file
// One op from an op line's fields (what formatProbeOp writes); ProbePlanError naming `where`.
ProbeOp parseProbeOp(const std::string& fields, const std::string& where);

// Plan op `index` of `plan` as a probe op (its key, attributes and input shapes at batch 1).
ProbeOp probeOpOf(const Plan& plan, size_t index);

// A one-op plan for `op`: its inputs are the plan's inputs, its output the plan's output, weights
// drawn deterministically from the key (uniform +-sqrt(3/fan-in), biases +-0.1). Validated;
// ProbePlanError if the op's attributes do not fit its shapes.
Plan oneOpPlan(const ProbeOp& op, const std::string& where = "probe op");

// FNV-1a 64 of a string (weight seeds, stable across builds and machines).
uint64_t probeHash(const std::string& s);

}  // namespace hwnas::runtime
