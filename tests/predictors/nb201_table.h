// Test helper: NB201 CIFAR-10 valid accuracy (data/nb201/nb201_cifar10valid_200ep.csv) per
// official index, and seeded draws of disjoint train / held-out index sets.
#pragma once
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/rng.h"
#include "search_spaces/nb201_space.h"

namespace hwnas::testing {

inline const std::vector<double>& nb201ValidAcc() {
  static const std::vector<double> acc = [] {
    const std::string path = std::string(HWNAS_SOURCE_DIR) + "/data/nb201/nb201_cifar10valid_200ep.csv";
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot open " + path);
    std::string line;
    std::getline(f, line);
    std::vector<std::string> head;
    {
      std::stringstream ss(line);
      std::string c;
      while (std::getline(ss, c, ',')) head.push_back(c);
    }
    size_t col = 0;
    while (col < head.size() && head[col] != "valid_acc") ++col;
    std::vector<double> out(Nb201Space::kArchs, -1);
    while (std::getline(f, line)) {
      std::stringstream ss(line);
      std::string c;
      std::vector<std::string> cells;
      while (std::getline(ss, c, ',')) cells.push_back(c);
      out.at(std::stoi(cells.at(0))) = std::stod(cells.at(col));
    }
    return out;
  }();
  return acc;
}

// A seeded permutation of all indices: the first nTrain for training, the next nTest held out.
inline void nb201Split(uint64_t seed, int nTrain, int nTest, std::vector<int>& train, std::vector<int>& test) {
  std::vector<int> p(Nb201Space::kArchs);
  for (int i = 0; i < Nb201Space::kArchs; ++i) p[i] = i;
  Rng rng(seed);
  for (int i = Nb201Space::kArchs - 1; i > 0; --i) std::swap(p[i], p[rng.uniformInt(uint64_t(i) + 1)]);
  train.assign(p.begin(), p.begin() + nTrain);
  test.assign(p.begin() + nTrain, p.begin() + nTrain + nTest);
}

inline std::vector<ArchConfig> nb201Archs(const std::vector<int>& idx) {
  std::vector<ArchConfig> a;
  for (int i : idx) a.push_back(Nb201Space::fromIndex(i));
  return a;
}

inline std::vector<double> nb201Targets(const std::vector<int>& idx) {
  std::vector<double> y;
  for (int i : idx) y.push_back(nb201ValidAcc().at(i));
  return y;
}

}  // namespace hwnas::testing
