// One decode call on the mllama engine: the request (tokens of any number of sequences) is cut into
// ubatches the text context runs one after another; each ubatch's output rows are widened from the
// output head's 128256 columns to the tokenizer's 128257 (the extra column, <|image|>, is -inf, so no
// sampler, top-k or probe ever picks it) and read by the shared OutputReader.
//
// Atomic like the llama.cpp engine's DecodeWorker: on failure or abort every cell this call added is
// removed again.
#pragma once

#include <napi.h>

#include <memory>

#include "busy_worker.h"
#include "decode_request.h"
#include "mllama_handles.h"
#include "output_reader.h"

namespace stagebeam {

class MllamaDecodeWorker : public BusyWorker<MllamaContextHandle> {
  public:
    MllamaDecodeWorker(Napi::Env env, std::shared_ptr<MllamaContextHandle> context, DecodeRequest request, CancelFlag cancel);

  protected:
    void Execute() override;
    Napi::Value Result(Napi::Env env) override;

  private:
    void Run();
    void Rollback();

    DecodeRequest request_;
    OutputReader reader_;
};

}  // namespace stagebeam
