// glibc's malloc, tuned once per process for a long-running server that loads and frees large buffers.
//
// glibc serves allocations of 128 KiB and more with mmap, but raises that threshold to the size of any
// such block once it is freed (up to 32 MiB). After the first model or context is disposed, the next
// ones' buffers (compute buffers, batches, image tensors, tokenizer tables) then come from the heap
// arenas instead — one per thread that allocated, on the libuv and ggml threads — where freed space is
// rarely returned and fragments: RSS grew 13% over 200 load → image → fork → generate → dispose cycles
// (bench/results/reliability.md). A fixed threshold keeps large blocks on mmap, so disposing returns them
// to the system.
//
// Not at glibc's 128 KiB default, though: llama.cpp's samplers allocate vocabulary-wide arrays for every
// token they sample (a grammar's candidates: ~24 bytes a token), and at 128 KiB each of those became an
// mmap, page faults and an munmap — reason() with a grammar ran 4x slower. 8 MiB keeps them on the heap
// up to a 256k-token vocabulary, and measured the same flat RSS over the cycles as 128 KiB (1 and 4 MiB
// too); blocks over 32 MiB (real models' weights, KV caches, compute buffers) are mmapped anyway.
//
// A process that set MALLOC_MMAP_THRESHOLD_ itself keeps its own choice.
#pragma once

namespace stagebeam {

void PinMmapThreshold();

}  // namespace stagebeam
