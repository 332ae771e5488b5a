// Working memory for reading a decode call's logit rows (output_reader.h): a candidate array and a
// sort order, each a vocabulary wide, per reading thread.
//
// Owned by the context and reused by every decode call on it, not allocated per call: at 32k–128k
// tokens these are 0.4–1.5 MB a thread, and a fresh allocation every step costs page faults each token
// (or, above the mmap threshold the addon sets — allocator_tuning.h — an mmap and munmap too). A context
// runs one decode at a time (its busy flag), so one set suffices.
#pragma once

#include <cstdint>
#include <vector>

#include "llama.h"

namespace stagebeam {

struct OutputScratch {
    std::vector<llama_token_data> candidates;
    std::vector<int32_t> order;
};

using OutputScratchSet = std::vector<OutputScratch>;

}  // namespace stagebeam
