#include "nas/supernet_source.h"

#include <algorithm>

#include "core/error.h"
#include "search_spaces/mbconv_space.h"
#include "search_spaces/nb201_supernet.h"
#include "search_spaces/supernet_train.h"
#include "trainer/autograd.h"
#include "trainer/data_loader.h"

namespace hwnas {

namespace {

// Calibrates BN on `calib`, then counts correct predictions on `val`, using only the supernet's
// const members (forward / calibrateBatchNorm are pure). It works for both supernet kinds and on
// batches resized once per resolution, which is why it does not call evaluateSubnetAccuracy.
template <class Net, class Subnet>
double evaluate(const Net& net, const Subnet& subnet, const std::vector<Tensor>& calib, const std::vector<Tensor>& val,
                const std::vector<int32_t>& labels) {
  NoGradGuard noGrad;
  BnStats stats = net.calibrateBatchNorm(subnet, calib);
  int64_t correct = 0, seen = 0;
  for (const Tensor& x : val) {
    Variable logits = net.forward(Variable(x), subnet, &stats);
    const Tensor& l = logits.value();
    const int64_t k = l.size(1);
    for (int64_t i = 0; i < l.size(0); ++i) {
      const float* row = l.data() + i * k;
      correct += (std::max_element(row, row + k) - row) == labels[size_t(seen + i)];
    }
    seen += l.size(0);
  }
  return seen ? 100.0 * double(correct) / double(seen) : 0.0;
}

}  // namespace

SupernetAccuracy::SupernetAccuracy(const std::string& folder, const SupernetSourceOptions& options)
    : folder_(openSupernetFolder(folder)), options_(options) {
  TrainOptions d = folder_.data;
  if (!options.dataDir.empty()) d.dataDir = options.dataDir;
  d.evalLimit = options.valImages;
  data_ = loadDataSplits(d);
  data_.test = ImageDataset();  // selection never sees the test split
  if (data_.val.n == 0) throw InputError(folder + ": the supernet was trained without a validation split (val_size 0)");
  calibrationImages_ =
      options.calibrationImages > 0 ? options.calibrationImages : folder_.info.value("calibration_images", int64_t(2000));
  folder_.net->module().eval();  // before any concurrent use
}

SupernetAccuracy::~SupernetAccuracy() = default;

std::string SupernetAccuracy::spaceId() const { return folder_.space->spaceId(); }

const SupernetAccuracy::Resolution& SupernetAccuracy::batchesFor(int height, int width) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = byResolution_[{height, width}];
  if (!slot) {
    auto r = std::make_unique<Resolution>();
    // As evaluateSubnet: calibration batches of min(batch, 256), seeded by the folder's seed.
    r->calibration = calibrationBatches(data_.train, data_.mean, data_.std, calibrationImages_,
                                        std::min(options_.batchSize, 256), height, width, folder_.data.seed);
    for (int64_t b = 0; b < data_.val.n; b += options_.batchSize) {
      const int64_t e = std::min<int64_t>(data_.val.n, b + options_.batchSize);
      r->val.push_back(resizeBilinear(toTensor(data_.val, b, e, data_.mean, data_.std), height, width));
    }
    slot = std::move(r);
  }
  return *slot;
}

double SupernetAccuracy::accuracy(const ArchConfig& arch) const {
  nn::Module& m = folder_.net->module();
  if (const auto* sn = dynamic_cast<const Supernet*>(&m)) {
    const auto& space = dynamic_cast<const MbconvSpace&>(*folder_.space);
    ModelDef def = space.toModelDef(space.normalize(arch.json()));
    const Resolution& r = batchesFor(def.height, def.width);
    return evaluate(*sn, def, r.calibration, r.val, data_.val.labels);
  }
  if (const auto* nb = dynamic_cast<const Nb201Supernet*>(&m)) {
    const Resolution& r = batchesFor(data_.train.height, data_.train.width);
    return evaluate(*nb, arch, r.calibration, r.val, data_.val.labels);
  }
  throw Error("supernet of " + folder_.space->spaceId() + ": unknown supernet kind");
}

}  // namespace hwnas
