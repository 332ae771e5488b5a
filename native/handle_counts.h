// Live native handles by kind: a counter each handle struct carries as a member, raised when the handle
// is made and lowered when its last owner drops it. Tests read them (handleCounts()) to show that nothing
// a request, a context or a model made outlives it — the addon's own objects, whatever JS still holds.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace stagebeam {

enum class HandleKind : size_t { Model, Context, Sampler, Projector, Image, Chunks, MllamaModel, MllamaContext, MllamaVision, Count };

// One counter per kind for the whole process (an inline function's static is one object in every file).
inline std::atomic<int64_t> & LiveHandles(HandleKind kind) {
    static std::atomic<int64_t> counts[static_cast<size_t>(HandleKind::Count)];
    return counts[static_cast<size_t>(kind)];
}

template <HandleKind K>
struct LiveCount {
    LiveCount() { ++LiveHandles(K); }
    LiveCount(const LiveCount &) { ++LiveHandles(K); }
    LiveCount & operator=(const LiveCount &) { return *this; }
    ~LiveCount() { --LiveHandles(K); }
};

}  // namespace stagebeam
