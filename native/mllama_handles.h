// Reference-counted owners of the mllama engine's objects, as handles.h is for llama.cpp's: a context
// keeps its weights alive, and a decode in flight keeps its context alive, whatever order JS drops them.
#pragma once

#include <atomic>
#include <memory>

#include "handles.h"
#include "mllama/text_context.h"
#include "mllama/weights.h"

namespace stagebeam {

struct MllamaModelHandle {
    LiveCount<HandleKind::MllamaModel> live;
    std::shared_ptr<const mllama::TextWeights> weights;
};

struct MllamaContextHandle {
    LiveCount<HandleKind::MllamaContext> live;
    std::shared_ptr<MllamaModelHandle> model;
    std::shared_ptr<ModelHandle> vocab;  // the tokenizer and samplers' model (a vocabulary-only llama_model)
    std::unique_ptr<mllama::TextContext> text;
    int32_t n_batch = 512;
    int32_t n_vocab = 0;      // tokenizer tokens: the width of the logit rows handed to samplers
    int32_t image_token = -1;
    std::atomic<bool> busy{false};
    OutputScratchSet output_scratch;  // as ContextHandle's: reused by every decode on this context
};

}  // namespace stagebeam
