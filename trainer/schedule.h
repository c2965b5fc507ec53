// Learning-rate schedules as functions of the global step (0-based), kept apart from the
// optimizers. Each is a pure function of its settings, so resuming needs only the step.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hwnas::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual float lr(int64_t step) const = 0;
};

// Linear warm-up from 0 over warmupSteps, then `after` (shifted so it starts at step 0).
class WarmupSchedule : public LrSchedule {
 public:
  WarmupSchedule(float baseLr, int64_t warmupSteps, std::unique_ptr<LrSchedule> after)
      : baseLr_(baseLr), warmup_(warmupSteps), after_(std::move(after)) {}
  float lr(int64_t step) const override;

 private:
  float baseLr_;
  int64_t warmup_;
  std::unique_ptr<LrSchedule> after_;
};

// As torch CosineAnnealingLR stepped once per iteration: minLr + (base-minLr)(1+cos(pi t/T))/2.
class CosineSchedule : public LrSchedule {
 public:
  CosineSchedule(float baseLr, int64_t totalSteps, float minLr = 0.f)
      : baseLr_(baseLr), minLr_(minLr), total_(totalSteps) {}
  float lr(int64_t step) const override;

 private:
  float baseLr_, minLr_;
  int64_t total_;
};

// base * gamma^(number of milestones <= step).
class StepSchedule : public LrSchedule {
 public:
  StepSchedule(float baseLr, std::vector<int64_t> milestones, float gamma)
      : baseLr_(baseLr), milestones_(std::move(milestones)), gamma_(gamma) {}
  float lr(int64_t step) const override;

 private:
  float baseLr_;
  std::vector<int64_t> milestones_;
  float gamma_;
};

class ConstantSchedule : public LrSchedule {
 public:
  explicit ConstantSchedule(float lr) : lr_(lr) {}
  float lr(int64_t) const override { return lr_; }

 private:
  float lr_;
};

// Builds "cosine" | "step" | "constant" with optional warm-up; throws InputError on other names.
// For "step" the milestones are at 1/3 and 2/3 of totalSteps with gamma 0.1.
std::unique_ptr<LrSchedule> makeSchedule(const std::string& name, float baseLr, int64_t totalSteps, int64_t warmupSteps);

}  // namespace hwnas::optim
