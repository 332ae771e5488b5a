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
        // 128 KiB, glibc's default; setting it at all is what stops the dynamic raising.
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    });
#endif
}

}  // namespace stagebeam
