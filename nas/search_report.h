// The files a finished (or resumed) search writes beside search.db: best_arch.json,
// pareto.json, pareto.csv and pareto.svg. Invariants: pure functions of the problem and the
// stored rows (a resumed run writes byte-identical files); every file written atomically.
#pragma once
#include <string>
#include <vector>

#include "core/json_util.h"
#include "nas/search_engine.h"
#include "nas/search_problem.h"

namespace hwnas {

// The cost axes of the front: the minimized objectives, or else the constrained metrics.
std::vector<std::string> paretoAxes(const SearchProblem& problem);
// Indices of rows on the feasible front of (accuracy max, axes min), one per distinct arch,
// sorted by the first axis (then accuracy descending).
std::vector<size_t> paretoFront(const std::vector<QueryRow>& rows, const std::vector<std::string>& axes);

Json archSummary(const SearchProblem& problem, const QueryRow& row);
Json bestArchJson(const SearchProblem& problem, const SearchOutcome& outcome);
Json paretoJson(const SearchProblem& problem, const SearchOutcome& outcome);
std::string paretoCsv(const SearchProblem& problem, const SearchOutcome& outcome);
// Accuracy against each axis, one panel per axis: every queried feasible arch, the front as a
// step line, the budget as a dashed line where the axis is constrained.
std::string paretoSvg(const SearchProblem& problem, const SearchOutcome& outcome);

void writeSearchOutputs(const std::string& dir, const SearchProblem& problem, const SearchOutcome& outcome);

}  // namespace hwnas
