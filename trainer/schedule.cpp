#include "trainer/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace hwnas::optim {

float WarmupSchedule::lr(int64_t step) const {
  if (step < warmup_) return baseLr_ * (float)(step + 1) / (float)warmup_;
  return after_->lr(step - warmup_);
}

float CosineSchedule::lr(int64_t step) const {
  if (total_ <= 0) return baseLr_;
  const double t = (double)std::min(step, total_);
  return (float)(minLr_ + (baseLr_ - minLr_) * 0.5 * (1.0 + std::cos(M_PI * t / (double)total_)));
}

float StepSchedule::lr(int64_t step) const {
  int k = 0;
  for (int64_t m : milestones_) k += step >= m;
  return baseLr_ * (float)std::pow((double)gamma_, k);
}

std::unique_ptr<LrSchedule> makeSchedule(const std::string& name, float baseLr, int64_t totalSteps, int64_t warmupSteps) {
  warmupSteps = std::clamp<int64_t>(warmupSteps, 0, totalSteps);
  const int64_t rest = totalSteps - warmupSteps;
  std::unique_ptr<LrSchedule> s;
  if (name == "cosine")
    s = std::make_unique<CosineSchedule>(baseLr, rest);
  else if (name == "step")
    s = std::make_unique<StepSchedule>(baseLr, std::vector<int64_t>{rest / 3, 2 * rest / 3}, 0.1f);
  else if (name == "constant")
    s = std::make_unique<ConstantSchedule>(baseLr);
  else
    throw InputError("unknown schedule '" + name + "' (known: cosine, step, constant)");
  if (warmupSteps > 0) s = std::make_unique<WarmupSchedule>(baseLr, warmupSteps, std::move(s));
  return s;
}

}  // namespace hwnas::optim
