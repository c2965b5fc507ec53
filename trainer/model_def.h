// ModelDef: a standalone network described in YAML (stem, blocks, head), the format of
// configs/models/*.yaml and of the model.yaml that nas-train writes next to its weights.
// buildModel() turns it into a trainer Module; the YAML round-trips through toYaml().
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "trainer/nn.h"

namespace hwnas {

struct ModelDef {
  std::string name = "model";
  int inChannels = 1, height = 28, width = 28;
  int numClasses = 10;
  // stem: one conv-BN-act
  int stemOut = 16, stemKernel = 3, stemStride = 1;
  ops::Act stemAct = ops::Act::ReLU6;
  std::vector<nn::BlockSpec> blocks;  // repeats already expanded
  // head: 1x1 conv-BN-act to headOut (0: none), global average pool, dropout, linear
  int headOut = 0;
  ops::Act headAct = ops::Act::ReLU6;
  double dropout = 0.0;

  std::string toYaml() const;
};

// Parses a model YAML. Unknown keys, wrong types and impossible values are ConfigErrors with
// file:line:col and key path. `repeat: n` on a block expands to n blocks (stride only on the first).
ModelDef loadModelDef(const std::string& path);
ModelDef parseModelDef(const std::string& yamlText, const std::string& name = "<string>");

// The network: stem -> blocks -> head. Parameter names: stem.*, blocks.<i>.*, head.*, classifier.*
class Model : public nn::Module {
 public:
  Model(const ModelDef& def, Rng& rng);
  Variable forward(const Variable& x) override;
  int toGraph(Graph& g, int input, const std::string& name) const override;
  // The whole network as a Graph with an input of [batch, C, H, W].
  Graph toGraph(int64_t batch = 1) const;
  const ModelDef& def() const { return def_; }

 private:
  ModelDef def_;
  std::shared_ptr<nn::ConvBnAct> stem_, head_;
  std::vector<std::shared_ptr<nn::MBConv>> blocks_;
  std::shared_ptr<nn::Dropout> dropout_;
  std::shared_ptr<nn::Linear> classifier_;
};

std::shared_ptr<Model> buildModel(const ModelDef& def, uint64_t seed);

// The architecture's Graph (batch 1) without building weights: for costs (MACs, params, memory).
Graph modelGraph(const ModelDef& def);

}  // namespace hwnas
