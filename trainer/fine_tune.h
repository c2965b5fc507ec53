// fineTune: a short training run of a GraphModule after compression (pruning, low-rank
// decomposition, quantization-aware training), optionally distilled from a teacher. It is
// trainModel (trainer/training.h) with two hooks: the loss (kdLoss against the teacher's
// logits) and, after every optimizer step, re-applying the module's weight masks.
//
// Teacher caching: with cacheTeacher the teacher's logits are computed once for every training
// image (eval mode, no augmentation, no gradient) before the first step and looked up by image
// index at each step, so later epochs cost no teacher forward. Without it the teacher runs in
// eval mode on each (possibly augmented) batch. Without augmentation both give the same losses.
// Deterministic given options.train.seed at any thread count (as trainModel).
#pragma once
#include <cstdint>

#include "trainer/graph_module.h"
#include "trainer/training.h"

namespace hwnas {

// Defaults of TrainOptions for a fine-tune: 1 epoch, SGD lr 0.01 cosine, no augmentation.
TrainOptions defaultFineTuneTrainOptions();

struct FineTuneOptions {
  // epochs, maxSteps, lr, optimizer, batchSize, seed, schedule, weightDecay, padCrop/hflip ...
  // trainLimit / evalLimit (> 0) take the first N images of data.train / data.val (and test).
  TrainOptions train = defaultFineTuneTrainOptions();
  // Distillation: with a teacher the loss is kdLoss(student, teacher, labels, temperature, alpha)
  // = alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy. Not owned; it is
  // run in eval mode and left in the mode it was in.
  nn::Module* teacher = nullptr;
  float alpha = 0.9f;
  float temperature = 4.f;
  bool cacheTeacher = true;
  bool reportTest = false;  // also measure test accuracy (the test set is touched only then)
  std::string checkpointDir;  // empty: no checkpoints (as trainModel)
};

struct FineTuneResult {
  TrainResult train;         // curve, steps, seconds (trainModel's result)
  double valAccuracy = -1;   // after fine-tuning (-1: no validation split)
  double testAccuracy = -1;  // with reportTest, else -1
  int64_t teacherForwards = 0;  // teacher forward calls (cached: one per evaluation batch of the train set)
  double teacherSeconds = 0;    // time spent in them
};

// InputError for impossible options (alpha outside [0, 1], temperature <= 0, a teacher whose
// logits do not match the student's) before any step.
FineTuneResult fineTune(GraphModule& model, const DataSplits& data, const FineTuneOptions& options,
                        const std::function<void(const TrainProgress&)>& onProgress = nullptr);

}  // namespace hwnas
