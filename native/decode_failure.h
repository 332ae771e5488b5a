// What a failed llama_decode means, as the typed error JS gets: one wording for every worker that calls it.
#pragma once

#include <cstdint>
#include <string>

#include "errors.h"
#include "log_capture.h"

namespace stagebeam {

// rc: llama_decode's nonzero result; cancelled: the call's cancellation flag was raised.
[[noreturn]] inline void ThrowDecodeFailure(int32_t rc, bool cancelled) {
    if (rc == 2 || cancelled) throw NativeError("ABORTED", "the operation was aborted");
    if (rc == 1) {
        throw NativeError("CONTEXT_FULL",
                          "the context has no free KV cells for this batch: dispose sequences you no longer need, "
                          "or create the context with a larger contextSize");
    }
    std::string why = CapturedErrors();
    throw NativeError("DECODE_FAILED", "llama_decode failed with code " + std::to_string(rc) + (why.empty() ? "" : " (" + why + ")"));
}

}  // namespace stagebeam
