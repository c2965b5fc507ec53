// The bridge from a YAML MBConv search space to its weight-sharing supernet: a SupernetDef
// whose stages allow exactly the space's choices, so that every architecture of the space,
// turned into a network by space.toModelDef(arch), is a subnet of it. Invariant: for every
// arch of the space, resolveSubnet(supernetFromSpace(space), space.toModelDef(arch)) succeeds.
#pragma once
#include "search_spaces/mbconv_space.h"
#include "search_spaces/supernet_def.h"
#include "search_spaces/supernet_train.h"

namespace hwnas {

// One SupernetStage per space stage: its stride; out choices = every (out x width multiplier)
// the space allows, scaled as toModelDef does (makeDivisible(c * w / 100, 8)); kernel and
// expand choices; the block types except skip; SE allowed when `se` offers true; depth choices
// the space's, or 1..max depth when a block may be `skip` (skipped blocks are left out, so the
// kept blocks take the stage's first positions, as elastic depth does). Stem and head widths
// follow the width multipliers; resolutions are the space's. Activations carry no weights: a
// subnet's per-block activation is used as given (the stage's `act` is the last choice).
SupernetDef supernetFromSpace(const MbconvSpace& space);

// Subnets drawn as the space draws them: largest = toModelDef(space.largest()), smallest =
// toModelDef(space.smallest()), sample = toModelDef(space.sample(rng)). Used by trainSupernet
// so the sandwich rule's random subnets are uniform over the space's architectures. The
// sampler keeps a pointer to `space`, which must outlive it.
SubnetSampler spaceSampler(const MbconvSpace& space);

// The number of blocks each stage keeps in `arch` (its depth minus skipped blocks): what
// resolveSubnet must assign for the subnet to use the stage's own weights.
std::vector<int> keptBlocksPerStage(const MbconvSpace& space, const ArchConfig& arch);

}  // namespace hwnas
