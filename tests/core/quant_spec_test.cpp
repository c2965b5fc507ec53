// QuantSpec JSON: round trip, and garbage refused with an InputError naming where and what.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/quant_spec.h"

namespace hwnas {
namespace {

QuantSpec sample() {
  QuantSpec s;
  s.calibration = "minmax";
  LayerQuant q;
  q.weightScales = {0.5f, 0.25f};
  q.inputScale = 0.1f;
  q.inputZeroPoint = -3;
  q.outputScale = 0.2f;
  q.outputZeroPoint = 7;
  s.layers["stem.conv"] = q;
  LayerQuant off = q;
  off.int8 = false;
  s.layers["head.conv"] = off;
  return s;
}

std::string errorOf(const Json& j) {
  try {
    QuantSpec::fromJson(j, "spec.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(QuantSpec, JsonRoundTripAndFind) {
  const QuantSpec back = QuantSpec::fromJson(sample().toJson());
  EXPECT_EQ(back.calibration, "minmax");
  ASSERT_NE(back.find("stem.conv"), nullptr);
  EXPECT_EQ(back.find("stem.conv")->weightScales, (std::vector<float>{0.5f, 0.25f}));
  EXPECT_EQ(back.find("stem.conv")->inputZeroPoint, -3);
  EXPECT_EQ(back.find("stem.conv")->outputZeroPoint, 7);
  EXPECT_EQ(back.find("head.conv"), nullptr);  // present but fp32
  EXPECT_EQ(back.find("missing"), nullptr);
}

TEST(QuantSpec, GarbageIsAnInputErrorNamingTheProblem) {
  EXPECT_NE(errorOf(Json::array()).find("not an hwnas quantization spec"), std::string::npos);
  EXPECT_NE(errorOf(Json{{"format", "other"}}).find("not an hwnas quantization spec"), std::string::npos);
  Json newer = sample().toJson();
  newer["version"] = 2;
  EXPECT_NE(errorOf(newer).find("version 2"), std::string::npos);
  Json noLayers = sample().toJson();
  noLayers.erase("layers");
  EXPECT_NE(errorOf(noLayers).find("\"layers\""), std::string::npos);
  Json badScale = sample().toJson();
  badScale["layers"]["stem.conv"]["input_scale"] = 0;
  EXPECT_NE(errorOf(badScale).find("layers.stem.conv"), std::string::npos);
  Json badWeight = sample().toJson();
  badWeight["layers"]["stem.conv"]["weight_scales"] = {1.0, -1.0};
  EXPECT_NE(errorOf(badWeight).find("weight_scales"), std::string::npos);
  Json missingKey = sample().toJson();
  missingKey["layers"]["stem.conv"].erase("output_zero_point");
  EXPECT_NE(errorOf(missingKey).find("layers.stem.conv"), std::string::npos);
  Json wrongType = sample().toJson();
  wrongType["layers"]["stem.conv"]["int8"] = "yes";
  EXPECT_NE(errorOf(wrongType).find("layers.stem.conv"), std::string::npos);
}

}  // namespace
}  // namespace hwnas
