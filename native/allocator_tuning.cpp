#include "allocator_tuning.h"

#include <cstdlib>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace stagebeam {

void PinMmapThreshold() {
#if defined(__GLIBC__)
    static std::once_flag once;  // Init runs once per environment (worker threads load the addon too)
    std::call_once(once, [] {
        if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) return;
        // Setting it at all is what stops the dynamic raising; why 8 MiB: allocator_tuning.h.
        mallopt(M_MMAP_THRESHOLD, 8 * 1024 * 1024);
    });
#endif
}

}  // namespace stagebeam
