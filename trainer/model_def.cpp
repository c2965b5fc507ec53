#include "trainer/model_def.h"

#include <sstream>

#include "core/error.h"
#include "core/yaml_util.h"

namespace hwnas {

namespace {

ops::Act readAct(const YamlNode& n, const std::string& key, ops::Act def) {
  if (!n.has(key)) return def;
  try {
    return ops::actFromName(n[key].asString());
  } catch (const ConfigError&) {
    throw;
  } catch (const InputError& e) {
    n[key].fail(e.what());
  }
}

int readPositive(const YamlNode& n, const std::string& key, int def, int maxValue = 1 << 20) {
  if (!n.has(key)) return def;
  int v = n[key].asInt();
  if (v <= 0 || v > maxValue) n[key].fail("must be between 1 and " + std::to_string(maxValue) + ", got " + std::to_string(v));
  return v;
}

int readKernel(const YamlNode& n, const std::string& key, int def) {
  int k = readPositive(n, key, def, 15);
  if (k % 2 == 0) n[key].fail("kernel sizes must be odd (same padding), got " + std::to_string(k));
  return k;
}

ModelDef parse(const YamlNode& root) {
  if (!root.isMap()) root.fail("a model file must be a map with keys name, input, classes, stem, blocks, head");
  root.checkKeys({"name", "input", "classes", "stem", "blocks", "head"});
  ModelDef d;
  d.name = root.getString("name", "model");
  if (root.has("input")) {
    YamlNode in = root["input"];
    in.checkKeys({"channels", "height", "width"});
    d.inChannels = readPositive(in, "channels", 1, 64);
    d.height = readPositive(in, "height", 28, 4096);
    d.width = readPositive(in, "width", 28, 4096);
  }
  d.numClasses = readPositive(root, "classes", 10, 100000);
  YamlNode stem = root["stem"];
  stem.checkKeys({"out", "kernel", "stride", "act"});
  d.stemOut = readPositive(stem, "out", 16);
  d.stemKernel = readKernel(stem, "kernel", 3);
  d.stemStride = readPositive(stem, "stride", 1, 4);
  d.stemAct = readAct(stem, "act", ops::Act::ReLU6);
  int h = (d.height - 1) / d.stemStride + 1, w = (d.width - 1) / d.stemStride + 1;
  for (const YamlNode& b : root["blocks"].items()) {
    b.checkKeys({"type", "out", "kernel", "stride", "expand", "se", "act", "repeat"});
    nn::BlockSpec s;
    s.type = b.has("type") ? b["type"].asEnum({"mbconv", "fused_mbconv", "conv"}) : "mbconv";
    s.out = readPositive(b, "out", 0);
    if (!b.has("out")) b.fail("missing required key 'out'");
    s.kernel = readKernel(b, "kernel", 3);
    s.stride = readPositive(b, "stride", 1, 4);
    s.expand = readPositive(b, "expand", 1, 16);
    s.se = b.getBool("se", false);
    s.act = readAct(b, "act", ops::Act::ReLU6);
    int repeat = readPositive(b, "repeat", 1, 64);
    for (int r = 0; r < repeat; ++r) {
      nn::BlockSpec rs = s;
      if (r > 0) rs.stride = 1;
      h = (h - 1) / rs.stride + 1;
      w = (w - 1) / rs.stride + 1;
      d.blocks.push_back(rs);
    }
  }
  if (root.has("head")) {
    YamlNode head = root["head"];
    head.checkKeys({"out", "act", "dropout"});
    d.headOut = head.has("out") ? head["out"].asInt() : 0;
    if (d.headOut < 0) head["out"].fail("must be >= 0 (0: no head conv)");
    d.headAct = readAct(head, "act", ops::Act::ReLU6);
    d.dropout = head.getDouble("dropout", 0.0);
    if (d.dropout < 0 || d.dropout >= 1) head["dropout"].fail("must be in [0, 1)");
  }
  return d;
}

}  // namespace

ModelDef loadModelDef(const std::string& path) { return parse(YamlNode::loadFile(path)); }
ModelDef parseModelDef(const std::string& text, const std::string& name) { return parse(YamlNode::loadString(text, name)); }

std::string ModelDef::toYaml() const {
  std::ostringstream o;
  o << "name: " << name << "\n";
  o << "input: {channels: " << inChannels << ", height: " << height << ", width: " << width << "}\n";
  o << "classes: " << numClasses << "\n";
  o << "stem: {out: " << stemOut << ", kernel: " << stemKernel << ", stride: " << stemStride
    << ", act: " << ops::actName(stemAct) << "}\n";
  o << "blocks:\n";
  for (const auto& b : blocks)
    o << "  - {type: " << b.type << ", out: " << b.out << ", kernel: " << b.kernel << ", stride: " << b.stride
      << ", expand: " << b.expand << ", se: " << (b.se ? "true" : "false") << ", act: " << ops::actName(b.act) << "}\n";
  o << "head: {out: " << headOut << ", act: " << ops::actName(headAct) << ", dropout: " << dropout << "}\n";
  return o.str();
}

Model::Model(const ModelDef& def, Rng& rng) : def_(def) {
  stem_ = registerModule("stem", std::make_shared<nn::ConvBnAct>(def.inChannels, def.stemOut, def.stemKernel,
                                                                  def.stemStride, 1, def.stemAct, rng));
  int c = def.stemOut;
  for (size_t i = 0; i < def.blocks.size(); ++i) {
    blocks_.push_back(registerModule("blocks." + std::to_string(i), std::make_shared<nn::MBConv>(c, def.blocks[i], rng)));
    c = def.blocks[i].out;
  }
  if (def.headOut > 0) {
    head_ = registerModule("head", std::make_shared<nn::ConvBnAct>(c, def.headOut, 1, 1, 1, def.headAct, rng));
    c = def.headOut;
  }
  if (def.dropout > 0) dropout_ = registerModule("dropout", std::make_shared<nn::Dropout>((float)def.dropout, rng.next()));
  classifier_ = registerModule("classifier", std::make_shared<nn::Linear>(c, def.numClasses, true, rng));
}

Variable Model::forward(const Variable& x) {
  const Shape& s = x.shape();
  if (s.size() != 4 || s[1] != def_.inChannels || s[2] != def_.height || s[3] != def_.width)
    throw ShapeError("model '" + def_.name + "' expects input [N, " + std::to_string(def_.inChannels) + ", " +
                     std::to_string(def_.height) + ", " + std::to_string(def_.width) + "], got " + shapeToString(s));
  Variable h = stem_->forward(x);
  for (auto& b : blocks_) h = b->forward(h);
  if (head_) h = head_->forward(h);
  h = ops::flatten(ops::globalAvgPool(h));
  if (dropout_) h = dropout_->forward(h);
  return classifier_->forward(h);
}

int Model::toGraph(Graph& g, int input, const std::string& name) const {
  int h = stem_->toGraph(g, input, join(name, "stem"));
  for (size_t i = 0; i < blocks_.size(); ++i) h = blocks_[i]->toGraph(g, h, join(name, "blocks." + std::to_string(i)));
  if (head_) h = head_->toGraph(g, h, join(name, "head"));
  h = g.addFlatten(join(name, "flatten"), g.addGlobalAvgPool(join(name, "pool"), h));
  return classifier_->toGraph(g, h, join(name, "classifier"));
}

Graph Model::toGraph(int64_t batch) const {
  Graph g;
  int in = g.addInput("input", {batch, def_.inChannels, def_.height, def_.width});
  toGraph(g, in, "");
  return g;
}

Graph modelGraph(const ModelDef& def) {
  // Building the modules is cheap next to anything that needs a graph; one code path keeps
  // the graph and the trainer's network the same by construction.
  return buildModel(def, 0)->toGraph(1);
}

std::shared_ptr<Model> buildModel(const ModelDef& def, uint64_t seed) {
  Rng rng(seed);
  return std::make_shared<Model>(def, rng);
}

}  // namespace hwnas
