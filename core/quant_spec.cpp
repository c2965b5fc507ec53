#include "core/quant_spec.h"

#include "core/error.h"

namespace hwnas {

Json QuantSpec::toJson() const {
  Json j;
  j["format"] = "hwnas-quant";
  j["version"] = 1;
  j["calibration"] = calibration;
  Json layersJson = Json::object();
  for (const auto& [name, q] : layers) {
    layersJson[name] = {{"int8", q.int8},
                        {"weight_scales", q.weightScales},
                        {"input_scale", q.inputScale},
                        {"input_zero_point", q.inputZeroPoint},
                        {"output_scale", q.outputScale},
                        {"output_zero_point", q.outputZeroPoint}};
  }
  j["layers"] = layersJson;
  return j;
}

QuantSpec QuantSpec::fromJson(const Json& j, const std::string& where) {
  if (!j.is_object() || j.value("format", "") != "hwnas-quant")
    throw InputError(where + ": not an hwnas quantization spec (\"format\": \"hwnas-quant\" missing)");
  if (j.value("version", 0) != 1)
    throw InputError(where + ": quantization spec version " + std::to_string(j.value("version", 0)) +
                     " is not supported (this build reads version 1)");
  QuantSpec spec;
  spec.calibration = j.value("calibration", "");
  if (!j.contains("layers") || !j["layers"].is_object()) throw InputError(where + ": \"layers\" must be an object");
  for (const auto& [name, l] : j["layers"].items()) {
    const std::string at = where + ": layers." + name;
    try {
      LayerQuant q;
      q.int8 = l.at("int8").get<bool>();
      q.weightScales = l.at("weight_scales").get<std::vector<float>>();
      q.inputScale = l.at("input_scale").get<float>();
      q.inputZeroPoint = l.at("input_zero_point").get<int32_t>();
      q.outputScale = l.at("output_scale").get<float>();
      q.outputZeroPoint = l.at("output_zero_point").get<int32_t>();
      if (q.inputScale <= 0 || q.outputScale <= 0) throw InputError(at + ": scales must be > 0");
      for (float s : q.weightScales)
        if (!(s > 0)) throw InputError(at + ".weight_scales: every scale must be > 0");
      spec.layers[name] = q;
    } catch (const Json::exception& e) {
      throw InputError(at + ": " + e.what());
    }
  }
  return spec;
}

}  // namespace hwnas
