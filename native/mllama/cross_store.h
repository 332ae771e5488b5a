// The cross-attention store of an mllama context: for each image, the K and V rows of every
// cross-attention block, computed once from the image's vision states and read by every sequence bound
// to it. Forks share bindings (a reference count per slot), never K/V bytes; a slot is reusable when the
// last sequence bound to it lets go, and a later request for the same image (same id) finds it again as
// long as it has not been overwritten.
//
// Which text rows see which image (Meta's semantics, architecture.md §1.3): a token at position p of
// sequence s sees the image bound to s at a position <= p (the <|image|> token itself included), and only
// that image's real tiles. A row that sees no image gets a finite mask row and a row mask of 0, which
// zeroes both gated branches, so it passes the block unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "weights.h"

namespace stagebeam::mllama {

class CrossStore {
  public:
    // `rows_per_image`: tiles × tokens per tile (padded tiles included, as the vision encoder returns
    // them); each slot is that many rows padded to 256.
    CrossStore(const TextWeights & weights, uint32_t n_slots, uint32_t rows_per_image, uint32_t n_seq, ggml_type type);
    ~CrossStore();
    CrossStore(const CrossStore &) = delete;
    CrossStore & operator=(const CrossStore &) = delete;

    uint32_t slots() const { return static_cast<uint32_t>(slots_.size()); }
    uint32_t rows_per_image() const { return rows_per_image_; }
    uint32_t slot_rows() const { return slot_rows_; }
    // Bytes of the K/V buffers of every slot (allocated whole at creation).
    size_t Bytes() const;

    // A slot already holding image `id`, or -1.
    int32_t Find(const std::string & id) const;
    // A slot no sequence is bound to (preferring one that never held an image), or -1.
    int32_t Free() const;
    // Marks `slot` as holding image `id` with `real_rows` rows that text may see (real tiles only).
    void Fill(int32_t slot, const std::string & id, uint32_t real_rows);
    // Views of block `il`'s K and V rows of one slot: [head_dim * n_head_kv, rows_per_image].
    ggml_tensor * SlotK(ggml_context * ctx, uint32_t il, int32_t slot) const;
    ggml_tensor * SlotV(ggml_context * ctx, uint32_t il, int32_t slot) const;

    bool Bound(int32_t seq) const { return bindings_[seq].slot >= 0; }
    void Bind(int32_t seq, int32_t pos, int32_t slot);
    void SeqCopy(int32_t src, int32_t dst, int32_t p0, int32_t p1);
    void SeqRemove(int32_t seq, int32_t p0, int32_t p1);  // seq < 0: every sequence
    void Clear();

    // The slot token (seq, pos) sees, or -1.
    int32_t SlotSeenBy(int32_t seq, int32_t pos) const;

    // For a ubatch: the slot range [lo, hi] its tokens see (lo = -1 when none sees an image), and the
    // masks over that range's rows: cross mask [rows, n_tokens] (0 / -inf), row mask [n_tokens] (1 / 0).
    struct View {
        int32_t lo = -1;
        int32_t hi = -1;
        uint32_t rows() const { return lo < 0 ? 0 : static_cast<uint32_t>(hi - lo + 1); }
    };
    View ViewFor(const int32_t * seq_ids, const int32_t * positions, uint32_t n) const;
    void FillMasks(const View & view, const int32_t * seq_ids, const int32_t * positions, uint32_t n, float * cross_mask, float * row_mask) const;
    ggml_tensor * ViewK(ggml_context * ctx, uint32_t il, const View & view) const;
    ggml_tensor * ViewV(ggml_context * ctx, uint32_t il, const View & view) const;

  private:
    struct Slot {
        std::string id;  // empty: never filled
        uint32_t real_rows = 0;
        int32_t refs = 0;
    };
    struct Binding {
        int32_t slot = -1;
        int32_t pos = -1;
    };
    ggml_tensor * RowsView(ggml_context * ctx, ggml_tensor * t, uint32_t first_row, uint32_t rows) const;

    uint32_t rows_per_image_;
    uint32_t slot_rows_;
    uint32_t head_dim_;
    uint32_t n_head_kv_;
    std::vector<Slot> slots_;
    std::vector<Binding> bindings_;  // one image per sequence (as Ollama allowed; HF allows more)
    std::vector<ggml_tensor *> k_;   // per block (null for self-attention blocks): [head_dim * n_head_kv, slots * slot_rows]
    std::vector<ggml_tensor *> v_;
    std::vector<ggml_context *> ctxs_;
    std::vector<ggml_backend_buffer_t> buffers_;
};

}  // namespace stagebeam::mllama
