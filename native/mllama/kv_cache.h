// The self-attention KV cache of the mllama engine: one pool of cells shared by every sequence, the way
// llama.cpp's unified cache works, so a fork only adds its id to the parent's cells (no K/V bytes move)
// and a prefix shared by many candidates is stored once.
//
// A cell holds one token's K and V rows in every self-attention block, its position, and the set of
// sequences that contain it. A token at position p of sequence s attends to every cell that holds s at
// a position <= p (llama.cpp's rule, without sliding windows or ALiBi).
#pragma once

#include <bitset>
#include <cstdint>
#include <map>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "weights.h"

namespace stagebeam::mllama {

constexpr int kMaxSequences = 256;  // as llama.cpp's LLAMA_MAX_SEQ

class KvCache {
  public:
    // K/V tensors for every self-attention block, on that block's device, zeroed (errata b1: padded
    // ranges are read, and NaN garbage would poison a whole softmax row).
    KvCache(const TextWeights & weights, uint32_t size, uint32_t n_seq, ggml_type type);
    ~KvCache();
    KvCache(const KvCache &) = delete;
    KvCache & operator=(const KvCache &) = delete;

    uint32_t size() const { return static_cast<uint32_t>(pos_.size()); }
    uint32_t used() const { return used_; }
    ggml_type type() const { return type_; }
    // Bytes of the K/V buffers (allocated whole at creation, whichever cells are used).
    size_t Bytes() const;

    // Cells for n new tokens (any free ones, not necessarily contiguous); empty if there are not enough.
    std::vector<uint32_t> Find(uint32_t n) const;
    void Apply(const std::vector<uint32_t> & cells, const int32_t * positions, const int32_t * seq_ids);

    void SeqCopy(int32_t src, int32_t dst, int32_t p0, int32_t p1);
    // seq < 0: every sequence. Positions in [p0, p1); negative bounds are open.
    void SeqRemove(int32_t seq, int32_t p0, int32_t p1);
    int32_t SeqPosMin(int32_t seq) const;
    int32_t SeqPosMax(int32_t seq) const;
    void Clear();

    // Cells the graph reads: every used cell lies below this (padded to 256 for GPU kernels).
    uint32_t ViewSize() const;
    // mask[t * n_kv + c] for token t of the ubatch (sequence, position) over the first n_kv cells.
    void FillMask(float * mask, uint32_t n_kv, const int32_t * positions, const int32_t * seq_ids, uint32_t n_tokens, uint32_t rows) const;

    // Per self block (index = block number; null for cross blocks): [head_dim * n_head_kv, size].
    std::vector<ggml_tensor *> k;
    std::vector<ggml_tensor *> v;

  private:
    void Untag(uint32_t cell, int32_t seq);

    ggml_type type_;
    std::vector<int32_t> pos_;  // -1: free
    std::vector<std::bitset<kMaxSequences>> seq_;
    std::vector<std::map<int32_t, int32_t>> seq_pos_;  // per sequence: position -> cells at it
    uint32_t used_ = 0;
    uint32_t head_ = 0;  // where Find starts looking
    std::vector<ggml_context *> ctxs_;
    std::vector<ggml_backend_buffer_t> buffers_;
};

}  // namespace stagebeam::mllama
