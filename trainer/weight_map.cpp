#include "trainer/weight_map.h"

namespace hwnas {

WeightMap weightMapOf(const nn::Module& module) {
  WeightMap out;
  for (const auto& [name, v] : module.namedParameters()) out[name] = {v.value().shape(), v.value().toVector()};
  for (const auto& [name, t] : module.namedBuffers()) out[name] = {t.shape(), t.toVector()};
  return out;
}

}  // namespace hwnas
