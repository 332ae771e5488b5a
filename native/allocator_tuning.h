// glibc's malloc, tuned once per process for a long-running server that loads and frees large buffers.
//
// glibc serves allocations of 128 KiB and more with mmap, but raises that threshold to the size of any
// such block once it is freed (up to 32 MiB). After the first model or context is disposed, the next
// ones' buffers (compute buffers, batches, image tensors, tokenizer tables) then come from the heap
// arenas instead — one per thread that allocated, on the libuv and ggml threads — where freed space is
// rarely returned and fragments: RSS grew 13% over 200 load → image → fork → generate → dispose cycles
// (bench/results/reliability.md). Pinning the threshold at its default keeps large blocks on mmap, so
// disposing returns them to the system: the same cycles then stay flat, with a lower footprint.
//
// A process that set MALLOC_MMAP_THRESHOLD_ itself keeps its own choice.
#pragma once

namespace stagebeam {

void PinMmapThreshold();

}  // namespace stagebeam
