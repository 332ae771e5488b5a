#include "cross_store.h"

#include <algorithm>
#include <limits>
#include <map>

#include "../errors.h"
#include "ggml-alloc.h"

namespace stagebeam::mllama {

CrossStore::CrossStore(const TextWeights & weights, uint32_t n_slots, uint32_t rows_per_image, uint32_t n_seq, ggml_type type)
    : rows_per_image_(rows_per_image),
      slot_rows_((rows_per_image + 255) / 256 * 256),
      head_dim_(weights.hp.head_dim),
      n_head_kv_(weights.hp.n_head_kv),
      slots_(n_slots),
      bindings_(n_seq) {
    const TextHparams & hp = weights.hp;
    k_.assign(hp.n_block, nullptr);
    v_.assign(hp.n_block, nullptr);
    std::map<ggml_backend_buffer_type_t, ggml_context *> ctx_of;
    for (uint32_t il = 0; il < hp.n_block; ++il) {
        const TextBlock & b = weights.blocks[il];
        if (!b.cross) continue;
        ggml_backend_buffer_type_t buft = ggml_backend_dev_buffer_type(b.device);
        ggml_context *& c = ctx_of[buft];
        if (!c) {
            c = ggml_init({ggml_tensor_overhead() * 2 * (hp.n_block + 1), nullptr, /*no_alloc =*/true});
            if (!c) throw NativeError("CONTEXT_CREATE_FAILED", "out of memory creating the image store");
            ctxs_.push_back(c);
        }
        k_[il] = ggml_new_tensor_2d(c, type, hp.EmbdGqa(), static_cast<int64_t>(n_slots) * slot_rows_);
        v_[il] = ggml_new_tensor_2d(c, type, hp.EmbdGqa(), static_cast<int64_t>(n_slots) * slot_rows_);
        ggml_format_name(k_[il], "cross_k_%u", il);
        ggml_format_name(v_[il], "cross_v_%u", il);
    }
    for (auto & [buft, c] : ctx_of) {
        ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(c, buft);
        if (!buf) {
            throw NativeError("CONTEXT_CREATE_FAILED", std::string("could not allocate the image store on ") + ggml_backend_buft_name(buft) +
                                                           ": create the context with fewer images");
        }
        // Rows past an image's end and unused slots are read through views (masked, or zeroed by the row
        // mask): they must hold numbers, not NaN (errata b1).
        ggml_backend_buffer_clear(buf, 0);
        buffers_.push_back(buf);
    }
}

size_t CrossStore::Bytes() const {
    size_t bytes = 0;
    for (ggml_backend_buffer_t b : buffers_) bytes += ggml_backend_buffer_get_size(b);
    return bytes;
}

CrossStore::~CrossStore() {
    for (auto * b : buffers_) ggml_backend_buffer_free(b);
    for (auto * c : ctxs_) ggml_free(c);
}

int32_t CrossStore::Find(const std::string & id) const {
    for (size_t s = 0; s < slots_.size(); ++s) {
        if (!slots_[s].id.empty() && slots_[s].id == id) return static_cast<int32_t>(s);
    }
    return -1;
}

int32_t CrossStore::Free() const {
    int32_t reusable = -1;
    for (size_t s = 0; s < slots_.size(); ++s) {
        if (slots_[s].refs > 0) continue;
        if (slots_[s].id.empty()) return static_cast<int32_t>(s);
        if (reusable < 0) reusable = static_cast<int32_t>(s);
    }
    return reusable;
}

void CrossStore::Fill(int32_t slot, const std::string & id, uint32_t real_rows) {
    slots_[slot].id = id;
    slots_[slot].real_rows = real_rows;
}

ggml_tensor * CrossStore::RowsView(ggml_context * ctx, ggml_tensor * t, uint32_t first_row, uint32_t rows) const {
    const size_t row = t->nb[1];
    // [head_dim, n_head_kv, rows]: the layout attention reads (heads of one row are contiguous).
    return ggml_view_3d(ctx, t, head_dim_, n_head_kv_, rows, ggml_row_size(t->type, head_dim_), row, row * first_row);
}

ggml_tensor * CrossStore::SlotK(ggml_context * ctx, uint32_t il, int32_t slot) const {
    return ggml_view_2d(ctx, k_[il], k_[il]->ne[0], rows_per_image_, k_[il]->nb[1], k_[il]->nb[1] * slot_rows_ * slot);
}

ggml_tensor * CrossStore::SlotV(ggml_context * ctx, uint32_t il, int32_t slot) const {
    return ggml_view_2d(ctx, v_[il], v_[il]->ne[0], rows_per_image_, v_[il]->nb[1], v_[il]->nb[1] * slot_rows_ * slot);
}

ggml_tensor * CrossStore::ViewK(ggml_context * ctx, uint32_t il, const View & view) const {
    return RowsView(ctx, k_[il], slot_rows_ * view.lo, slot_rows_ * view.rows());
}

ggml_tensor * CrossStore::ViewV(ggml_context * ctx, uint32_t il, const View & view) const {
    return RowsView(ctx, v_[il], slot_rows_ * view.lo, slot_rows_ * view.rows());
}

void CrossStore::Bind(int32_t seq, int32_t pos, int32_t slot) {
    bindings_[seq] = {slot, pos};
    slots_[slot].refs += 1;
}

void CrossStore::SeqCopy(int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    const Binding b = bindings_[src];
    if (b.slot < 0 || src == dst) return;
    const int32_t lo = p0 < 0 ? 0 : p0;
    const int32_t hi = p1 < 0 ? std::numeric_limits<int32_t>::max() : p1;
    if (b.pos < lo || b.pos >= hi) return;
    if (bindings_[dst].slot >= 0) slots_[bindings_[dst].slot].refs -= 1;
    Bind(dst, b.pos, b.slot);
}

void CrossStore::SeqRemove(int32_t seq, int32_t p0, int32_t p1) {
    const int32_t lo = p0 < 0 ? 0 : p0;
    const int32_t hi = p1 < 0 ? std::numeric_limits<int32_t>::max() : p1;
    for (int32_t s = 0; s < static_cast<int32_t>(bindings_.size()); ++s) {
        if (seq >= 0 && s != seq) continue;
        Binding & b = bindings_[s];
        if (b.slot < 0 || b.pos < lo || b.pos >= hi) continue;
        slots_[b.slot].refs -= 1;
        b = Binding{};
    }
}

void CrossStore::Clear() {
    for (auto & b : bindings_) b = Binding{};
    for (auto & s : slots_) s.refs = 0;
}

int32_t CrossStore::SlotSeenBy(int32_t seq, int32_t pos) const {
    const Binding & b = bindings_[seq];
    return b.slot >= 0 && b.pos <= pos ? b.slot : -1;
}

CrossStore::View CrossStore::ViewFor(const int32_t * seq_ids, const int32_t * positions, uint32_t n) const {
    View view;
    for (uint32_t t = 0; t < n; ++t) {
        const int32_t slot = SlotSeenBy(seq_ids[t], positions[t]);
        if (slot < 0) continue;
        view.lo = view.lo < 0 ? slot : std::min(view.lo, slot);
        view.hi = std::max(view.hi, slot);
    }
    return view;
}

void CrossStore::FillMasks(const View & view, const int32_t * seq_ids, const int32_t * positions, uint32_t n, float * cross_mask,
                           float * row_mask) const {
    const uint32_t rows = slot_rows_ * view.rows();
    const float blocked = -std::numeric_limits<float>::infinity();
    for (uint32_t t = 0; t < n; ++t) {
        float * row = cross_mask + static_cast<size_t>(t) * rows;
        const int32_t slot = SlotSeenBy(seq_ids[t], positions[t]);
        if (slot < 0) {
            // Finite everywhere, so the softmax is defined on every backend; the row mask zeroes the result.
            std::fill(row, row + rows, 0.0f);
            row_mask[t] = 0.0f;
            continue;
        }
        std::fill(row, row + rows, blocked);
        const uint32_t first = slot_rows_ * static_cast<uint32_t>(slot - view.lo);
        std::fill(row + first, row + first + slots_[slot].real_rows, 0.0f);
        row_mask[t] = 1.0f;
    }
}

}  // namespace stagebeam::mllama
