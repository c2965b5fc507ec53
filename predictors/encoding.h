// Encoder: turns an ArchConfig of a SearchSpace into a fixed-length feature vector for the
// accuracy predictors. Every encoding is derived from what the space lists about itself
// (decisionSlots / decisionIndices, cellTopology), never written per space by hand.
// Invariant: width() is fixed at construction; encode() returns exactly width() values and is a
// pure function of the arch; encodeBatch() equals encode() row by row at any thread count.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "predictors/predictor.h"
#include "search_spaces/search_space.h"

namespace hwnas {

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual std::string name() const = 0;
  virtual int width() const = 0;
  // One name per feature, e.g. "edges[2]=nor_conv_3x3" or "path:nor_conv_1x1>nor_conv_3x3".
  virtual std::vector<std::string> featureNames() const = 0;
  // InputError (from the space) unless arch is valid in the space.
  virtual std::vector<double> encode(const ArchConfig& arch) const = 0;
  // Rows in the order of archs; parallel over archs with a fixed grain (TBB).
  FeatureMatrix encodeBatch(const std::vector<ArchConfig>& archs) const;
};

// Encoder names for makeEncoder:
//   onehot     one indicator per (decision, choice); a decision the arch does not take (a block
//              beyond the chosen depth) is all zeros. Any space that lists its decisions.
//   adjacency  cell spaces: the cell as an op-node DAG (input, one node per edge, output):
//              the indicators of its possible op-node links, then the op of each edge, both
//              only for edges on a live input->output path (a path without a "none" op).
//   path       cell spaces: the number of live input->output paths per op sequence
//              (BANANAS's path encoding, counting paths: two paths with the same ops give 2).
//   cellstats  cell spaces: per op, its live edges, the live paths through it and the most of
//              it on one live path; the number of live paths per length; output connected.
//   a+b+...    the concatenation of encoders a, b, ... in that order, e.g. "onehot+path".
// The encoder keeps a reference to `space`, which must outlive it. InputError on an unknown
// name or an encoding the space cannot give (a cell encoding of a non-cell space).
std::unique_ptr<Encoder> makeEncoder(const SearchSpace& space, const std::string& name);

}  // namespace hwnas
