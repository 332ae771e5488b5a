#include "kv_cache.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "../errors.h"
#include "ggml-alloc.h"

namespace stagebeam::mllama {

KvCache::KvCache(const TextWeights & weights, uint32_t size, uint32_t n_seq, ggml_type type)
    : type_(type), pos_(size, -1), seq_(size), seq_pos_(n_seq) {
    const TextHparams & hp = weights.hp;
    k.assign(hp.n_block, nullptr);
    v.assign(hp.n_block, nullptr);
    std::map<ggml_backend_buffer_type_t, ggml_context *> ctx_of;
    for (uint32_t il = 0; il < hp.n_block; ++il) {
        const TextBlock & b = weights.blocks[il];
        if (b.cross) continue;
        ggml_backend_buffer_type_t buft = ggml_backend_dev_buffer_type(b.device);
        ggml_context *& c = ctx_of[buft];
        if (!c) {
            c = ggml_init({ggml_tensor_overhead() * 2 * (hp.n_block + 1), nullptr, /*no_alloc =*/true});
            if (!c) throw NativeError("CONTEXT_CREATE_FAILED", "out of memory creating the KV cache");
            ctxs_.push_back(c);
        }
        k[il] = ggml_new_tensor_2d(c, type, hp.EmbdGqa(), size);
        v[il] = ggml_new_tensor_2d(c, type, hp.EmbdGqa(), size);
        ggml_format_name(k[il], "cache_k_%u", il);
        ggml_format_name(v[il], "cache_v_%u", il);
    }
    for (auto & [buft, c] : ctx_of) {
        ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(c, buft);
        if (!buf) {
            throw NativeError("CONTEXT_CREATE_FAILED", std::string("could not allocate the KV cache on ") + ggml_backend_buft_name(buft) +
                                                           ": try a smaller contextSize");
        }
        ggml_backend_buffer_clear(buf, 0);
        buffers_.push_back(buf);
    }
}

size_t KvCache::Bytes() const {
    size_t bytes = 0;
    for (ggml_backend_buffer_t b : buffers_) bytes += ggml_backend_buffer_get_size(b);
    return bytes;
}

KvCache::~KvCache() {
    for (auto * b : buffers_) ggml_backend_buffer_free(b);
    for (auto * c : ctxs_) ggml_free(c);
}

std::vector<uint32_t> KvCache::Find(uint32_t n) const {
    std::vector<uint32_t> cells;
    if (n > size() - used_) return cells;
    cells.reserve(n);
    const uint32_t total = size();
    for (uint32_t i = 0; i < total && cells.size() < n; ++i) {
        const uint32_t c = (head_ + i) % total;
        if (pos_[c] < 0) cells.push_back(c);
    }
    return cells;
}

void KvCache::Apply(const std::vector<uint32_t> & cells, const int32_t * positions, const int32_t * seq_ids) {
    for (size_t i = 0; i < cells.size(); ++i) {
        const uint32_t c = cells[i];
        pos_[c] = positions[i];
        seq_[c].reset();
        seq_[c].set(seq_ids[i]);
        seq_pos_[seq_ids[i]][positions[i]] += 1;
        used_ += 1;
    }
    if (!cells.empty()) head_ = (cells.back() + 1) % size();
}

void KvCache::Untag(uint32_t cell, int32_t seq) {
    seq_[cell].reset(seq);
    auto & positions = seq_pos_[seq];
    auto it = positions.find(pos_[cell]);
    if (it != positions.end() && --it->second == 0) positions.erase(it);
    if (seq_[cell].none()) {
        pos_[cell] = -1;
        used_ -= 1;
        head_ = std::min(head_, cell);
    }
}

void KvCache::SeqCopy(int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    if (src == dst) return;
    const int32_t lo = p0 < 0 ? 0 : p0;
    const int32_t hi = p1 < 0 ? std::numeric_limits<int32_t>::max() : p1;
    for (uint32_t c = 0; c < size(); ++c) {
        if (pos_[c] < lo || pos_[c] >= hi || !seq_[c].test(src) || seq_[c].test(dst)) continue;
        seq_[c].set(dst);
        seq_pos_[dst][pos_[c]] += 1;
    }
}

void KvCache::SeqRemove(int32_t seq, int32_t p0, int32_t p1) {
    const int32_t lo = p0 < 0 ? 0 : p0;
    const int32_t hi = p1 < 0 ? std::numeric_limits<int32_t>::max() : p1;
    for (uint32_t c = 0; c < size(); ++c) {
        if (pos_[c] < lo || pos_[c] >= hi) continue;
        if (seq >= 0) {
            if (seq_[c].test(seq)) Untag(c, seq);
            continue;
        }
        for (int32_t s = 0; s < static_cast<int32_t>(seq_pos_.size()) && pos_[c] >= 0; ++s) {
            if (seq_[c].test(s)) Untag(c, s);
        }
    }
}

int32_t KvCache::SeqPosMin(int32_t seq) const {
    const auto & positions = seq_pos_[seq];
    return positions.empty() ? -1 : positions.begin()->first;
}

int32_t KvCache::SeqPosMax(int32_t seq) const {
    const auto & positions = seq_pos_[seq];
    return positions.empty() ? -1 : positions.rbegin()->first;
}

void KvCache::Clear() {
    std::fill(pos_.begin(), pos_.end(), -1);
    for (auto & s : seq_) s.reset();
    for (auto & m : seq_pos_) m.clear();
    used_ = 0;
    head_ = 0;
}

uint32_t KvCache::ViewSize() const {
    uint32_t top = 0;
    for (uint32_t c = size(); c > 0; --c) {
        if (pos_[c - 1] >= 0) {
            top = c;
            break;
        }
    }
    const uint32_t padded = (std::max<uint32_t>(top, 1) + 255) / 256 * 256;
    return std::min(padded, size());
}

void KvCache::FillMask(float * mask, uint32_t n_kv, const int32_t * positions, const int32_t * seq_ids, uint32_t n_tokens, uint32_t rows) const {
    const float blocked = -std::numeric_limits<float>::infinity();
    for (uint32_t t = 0; t < rows; ++t) {
        float * row = mask + static_cast<size_t>(t) * n_kv;
        if (t >= n_tokens) {
            std::fill(row, row + n_kv, blocked);
            continue;
        }
        const int32_t s = seq_ids[t], p = positions[t];
        for (uint32_t c = 0; c < n_kv; ++c) row[c] = pos_[c] >= 0 && pos_[c] <= p && seq_[c].test(s) ? 0.0f : blocked;
    }
}

}  // namespace stagebeam::mllama
