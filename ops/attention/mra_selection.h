// MRA-2's block selection (SPEC 2, step 2; no gradient): from the block logits minus their row
// maxima, plus 5e3 on the prior blocks (the first `prior_first` block rows and columns, and
// the band |I - J| < prior_diagonal), the top `blocks_per_row * nb` entries (at most nb^2) of
// each batch-head's whole nb x nb grid. Blocks without tokens are never taken; ties go to the
// lower (I, J) in row-major order, so the choice is deterministic.
#pragma once
#include <cstdint>

#include "ops/attention/block_selection.h"
#include "ops/attention/mra_lowres.h"

namespace ops {

struct MraSelectionRule {
  int64_t blocks_per_row = 8, prior_first = 1, prior_diagonal = 0;
};

template <class T>
BlockSelection select_mra_blocks(const BlockAttentionProblem& p, const LowResolution& lr, const MraSelectionRule& rule);

}  // namespace ops
