// Hierarchical (macro -> micro) search support: which decisions of a space are macro and which
// micro (from what the space lists about itself: decisionSlots() and choices()), and PhaseSpace,
// a view of a space in which one level is held fixed, so any Strategy searches only the other.
// Invariants: every arch a PhaseSpace returns is valid in the base space; in a Micro phase its
// macro decisions equal the fixed arch's, in a Macro phase every micro decision the arch takes
// is at the fixed setting; given the same Rng state the same arch comes back.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "search_spaces/search_space.h"

namespace hwnas {

// A decision slot is micro when the last key of its path (without an index: "edges[3]" ->
// "edges", "stages[1].blocks[2].kernel" -> "kernel") is a key anywhere under the space's
// choices()["micro"]; every other slot is macro (resolution, width, a stage's depth and out).
// One flag per decisionSlots() entry. InputError when the space does not list its decisions.
std::vector<bool> microSlots(const SearchSpace& space);

// The value a micro decision takes during the macro phase: the choice at index (n - 1) / 2 of
// its n choices ("middle": kernel [3, 5] -> 3, expand [2, 4, 6] -> 4, se [false, true] -> false),
// the last ("largest") or the first ("smallest").
enum class MicroSetting { Middle, Largest, Smallest };
MicroSetting parseMicroSetting(const std::string& s);  // InputError on another name
const char* microSettingName(MicroSetting s);

// Reads / writes the value at a decision path ("stages[1].blocks[0].kernel") of an arch's JSON.
const Json* jsonAtPath(const Json& j, const std::string& path);
void setJsonAtPath(Json& j, const std::string& path, const Json& value);

class PhaseSpace : public SearchSpace {
 public:
  enum class Level { Macro, Micro };
  // Macro: searches the macro decisions, every micro decision held at `setting`.
  // Micro: searches the micro decisions with every macro decision of `fixed` (a valid arch).
  // `base` must outlive this object.
  static std::unique_ptr<PhaseSpace> macro(const SearchSpace& base, MicroSetting setting);
  static std::unique_ptr<PhaseSpace> micro(const SearchSpace& base, const ArchConfig& fixed);

  Level level() const { return level_; }
  // The arch with the phase's fixed decisions imposed (the micro setting, or fixed's macro).
  ArchConfig impose(const ArchConfig& arch) const;
  // True when arch's macro decisions (Micro phase) or micro decisions (Macro phase) are the fixed ones.
  bool holdsFixed(const ArchConfig& arch) const;
  // The macro decisions of an arch as "path=value;..." (equal for archs of one micro phase).
  std::string macroKey(const ArchConfig& arch) const;

  std::string kind() const override { return base_.kind(); }
  const std::string& name() const override { return base_.name(); }
  Json definition() const override { return base_.definition(); }
  Json choices() const override { return base_.choices(); }
  void validate(const ArchConfig& arch) const override { base_.validate(arch); }
  ArchConfig sample(Rng& rng) const override;
  // Redraws the phase's free decisions; `prob` is scaled by (all decisions / free decisions) of
  // the arch, so a mutation changes as many free decisions on average as one of the whole space.
  ArchConfig mutate(const ArchConfig& arch, double prob, Rng& rng) const override;
  ArchConfig crossover(const ArchConfig& a, const ArchConfig& b, Rng& rng) const override;
  std::string cardinality() const override { return base_.cardinality(); }  // an upper bound
  void enumerate(const std::function<bool(const ArchConfig&)>& fn) const override;
  ArchConfig largest() const override { return impose(base_.largest()); }
  ArchConfig smallest() const override { return impose(base_.smallest()); }
  std::vector<DecisionSlot> decisionSlots() const override { return slots_; }
  std::vector<int> decisionIndices(const ArchConfig& arch) const override { return base_.decisionIndices(arch); }
  Graph toGraph(const ArchConfig& arch) const override { return base_.toGraph(arch); }

 private:
  PhaseSpace(const SearchSpace& base, Level level);
  bool isFree(size_t slot) const { return micro_[slot] == (level_ == Level::Micro); }
  const SearchSpace& base_;
  Level level_;
  std::vector<DecisionSlot> slots_;
  std::vector<bool> micro_;
  MicroSetting setting_ = MicroSetting::Middle;
  ArchConfig fixed_;
};

}  // namespace hwnas
