#include "text_graph.h"

#include <cmath>

namespace stagebeam::mllama {

size_t GraphNodeBudget(const TextHparams & hp) { return std::max<size_t>(1024, 64 * static_cast<size_t>(hp.n_block) + 64); }

size_t GraphContextBytes(const TextHparams & hp) {
    const size_t nodes = GraphNodeBudget(hp);
    return ggml_tensor_overhead() * nodes + ggml_graph_overhead_custom(nodes, false);
}

namespace {

ggml_tensor * RmsNorm(ggml_context * ctx, ggml_tensor * x, ggml_tensor * weight, float eps) {
    return ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), weight);
}

// softmax(q·kᵀ·scale + mask)·v over cached rows. q: [hd, H, n]; keys/values: [hd, H_kv, rows] views.
// GQA by ggml's broadcast (query head h reads kv head h / (H / H_kv), as transformers' repeat_kv).
ggml_tensor * Attention(ggml_context * ctx, ggml_tensor * q, ggml_tensor * keys, ggml_tensor * values, ggml_tensor * mask, float scale, bool flash) {
    const int64_t hd = q->ne[0], n_head = q->ne[1], n = q->ne[2];
    keys = ggml_permute(ctx, keys, 0, 2, 1, 3);  // [hd, rows, H_kv]
    q = ggml_permute(ctx, q, 0, 2, 1, 3);        // [hd, n, H]
    if (flash) {
        values = ggml_permute(ctx, values, 0, 2, 1, 3);  // [hd, rows, H_kv]
        if (keys->type != GGML_TYPE_F16) keys = ggml_cast(ctx, keys, GGML_TYPE_F16);
        if (values->type != GGML_TYPE_F16) values = ggml_cast(ctx, values, GGML_TYPE_F16);
        ggml_tensor * out = ggml_flash_attn_ext(ctx, q, keys, values, mask, scale, 0.0f, 0.0f);  // [hd, H, n]
        ggml_flash_attn_ext_set_prec(out, GGML_PREC_F32);
        return ggml_reshape_2d(ctx, out, hd * n_head, n);
    }
    values = ggml_cont(ctx, ggml_permute(ctx, values, 1, 2, 0, 3));  // [rows, hd, H_kv]
    ggml_tensor * kq = ggml_mul_mat(ctx, keys, q);                   // [rows, n, H]
    ggml_mul_mat_set_prec(kq, GGML_PREC_F32);
    kq = ggml_soft_max_ext(ctx, kq, mask, scale, 0.0f);
    ggml_tensor * kqv = ggml_mul_mat(ctx, values, kq);               // [hd, n, H]
    return ggml_cont_2d(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3), hd * n_head, n);
}

ggml_tensor * Mlp(ggml_context * ctx, const TextBlock & b, ggml_tensor * x) {
    return ggml_mul_mat(ctx, b.ffn_down, ggml_swiglu_split(ctx, ggml_mul_mat(ctx, b.ffn_gate, x), ggml_mul_mat(ctx, b.ffn_up, x)));
}

}  // namespace

TextGraph BuildTextGraph(ggml_context * ctx, const TextWeights & w, const KvCache & kv, uint32_t n_tokens, uint32_t n_kv, uint32_t n_outputs,
                         const CrossStore * cross, CrossStore::View view, uint32_t ablate, bool flash_attn) {
    const TextHparams & hp = w.hp;
    const int64_t n = n_tokens, hd = hp.head_dim, n_head = hp.n_head, n_head_kv = hp.n_head_kv, n_gqa = hp.EmbdGqa();
    const bool sees_image = cross && view.lo >= 0;
    TextGraph g;
    g.graph = ggml_new_graph_custom(ctx, GraphNodeBudget(hp), false);

    g.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
    g.positions = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
    g.cells = ggml_new_tensor_1d(ctx, GGML_TYPE_I64, n);
    const ggml_type mask_type = flash_attn ? GGML_TYPE_F16 : GGML_TYPE_F32;
    g.mask = ggml_new_tensor_2d(ctx, mask_type, n_kv, n);
    g.outputs = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_outputs);
    for (ggml_tensor * t : {g.tokens, g.positions, g.cells, g.mask, g.outputs}) ggml_set_input(t);
    ggml_set_name(g.tokens, "tokens");
    ggml_set_name(g.positions, "positions");
    ggml_set_name(g.cells, "cells");
    ggml_set_name(g.mask, "kq_mask");
    ggml_set_name(g.outputs, "output_rows");
    if (sees_image) {
        g.cross_mask = ggml_new_tensor_2d(ctx, mask_type, static_cast<int64_t>(cross->slot_rows()) * view.rows(), n);
        ggml_set_input(g.cross_mask);
        ggml_set_name(g.cross_mask, "cross_mask");
        // An input no op reads is never allocated (and setting it would assert): only when it is used.
        if (!(ablate & kAblateRowMask)) {
            g.row_mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, n);
            ggml_set_input(g.row_mask);
            ggml_set_name(g.row_mask, "row_mask");
        }
    }

    const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hd));
    ggml_tensor * x = ggml_get_rows(ctx, w.tok_embd, g.tokens);
    for (uint32_t il = 0; il < hp.n_block; ++il) {
        const TextBlock & b = w.blocks[il];
        if (b.cross) {
            if (!sees_image) continue;
            // Gated cross-attention (Meta's formula): both branches are multiplied by the row mask, so
            // rows that see no image are unchanged; the attention reads only the image's real tiles.
            ggml_tensor * cur = RmsNorm(ctx, x, b.attn_norm, hp.rms_eps);
            ggml_tensor * q = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, b.wq, cur), hd, n_head, n);
            if (!(ablate & kAblateCrossNorms)) q = ggml_mul(ctx, ggml_rms_norm(ctx, q, hp.rms_eps), b.q_norm);
            const bool gated = !(ablate & kAblateGates), row_masked = !(ablate & kAblateRowMask);
            cur = Attention(ctx, q, cross->ViewK(ctx, il, view), cross->ViewV(ctx, il, view), g.cross_mask, kq_scale, flash_attn);
            cur = ggml_mul_mat(ctx, b.wo, cur);
            if (row_masked) cur = ggml_mul(ctx, cur, g.row_mask);
            x = ggml_add(ctx, x, gated ? ggml_scale(ctx, cur, b.attn_gate) : cur);
            cur = Mlp(ctx, b, RmsNorm(ctx, x, b.ffn_norm, hp.rms_eps));
            if (row_masked) cur = ggml_mul(ctx, cur, g.row_mask);
            x = ggml_add(ctx, x, gated ? ggml_scale(ctx, cur, b.mlp_gate) : cur);
            continue;
        }

        ggml_tensor * cur = RmsNorm(ctx, x, b.attn_norm, hp.rms_eps);
        ggml_tensor * q = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, b.wq, cur), hd, n_head, n);
        ggml_tensor * k = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, b.wk, cur), hd, n_head_kv, n);
        ggml_tensor * v = ggml_mul_mat(ctx, b.wv, cur);
        // Q and K were permuted by the converter for ggml's NORMAL (interleaved) RoPE, as llama.cpp's
        // converter does for llama; rope_freqs carries the llama3 frequency factors.
        q = ggml_rope_ext(ctx, q, g.positions, w.rope_freqs, static_cast<int>(hd), GGML_ROPE_TYPE_NORMAL, static_cast<int>(hp.n_ctx_train),
                          hp.rope_base, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f);
        k = ggml_rope_ext(ctx, k, g.positions, w.rope_freqs, static_cast<int>(hd), GGML_ROPE_TYPE_NORMAL, static_cast<int>(hp.n_ctx_train),
                          hp.rope_base, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f);

        // Write this ubatch's K/V rows into their cells first; the attention below reads the cache.
        ggml_build_forward_expand(g.graph, ggml_set_rows(ctx, kv.k[il], ggml_reshape_2d(ctx, k, n_gqa, n), g.cells));
        ggml_build_forward_expand(g.graph, ggml_set_rows(ctx, kv.v[il], v, g.cells));

        const size_t row = ggml_row_size(kv.k[il]->type, n_gqa);
        ggml_tensor * keys = ggml_view_3d(ctx, kv.k[il], hd, n_head_kv, n_kv, ggml_row_size(kv.k[il]->type, hd), row, 0);
        ggml_tensor * values = ggml_view_3d(ctx, kv.v[il], hd, n_head_kv, n_kv, ggml_row_size(kv.v[il]->type, hd), row, 0);
        cur = Attention(ctx, q, keys, values, g.mask, kq_scale, flash_attn);
        x = ggml_add(ctx, x, ggml_mul_mat(ctx, b.wo, cur));
        x = ggml_add(ctx, x, Mlp(ctx, b, RmsNorm(ctx, x, b.ffn_norm, hp.rms_eps)));
    }
    x = ggml_get_rows(ctx, x, g.outputs);
    x = RmsNorm(ctx, x, w.output_norm, hp.rms_eps);
    g.logits = ggml_mul_mat(ctx, w.output, x);
    ggml_set_name(g.logits, "logits");
    ggml_set_output(g.logits);
    ggml_build_forward_expand(g.graph, g.logits);
    return g;
}

CrossKvGraph BuildCrossKvGraph(ggml_context * ctx, const TextWeights & w, const CrossStore & cross, int32_t slot, uint32_t ablate) {
    const TextHparams & hp = w.hp;
    const int64_t rows = cross.rows_per_image();
    CrossKvGraph g;
    g.graph = ggml_new_graph_custom(ctx, GraphNodeBudget(hp), false);
    g.states = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, hp.n_embd, rows);
    ggml_set_input(g.states);
    ggml_set_name(g.states, "vision_states");
    for (uint32_t il = 0; il < hp.n_block; ++il) {
        const TextBlock & b = w.blocks[il];
        if (!b.cross) continue;
        ggml_tensor * k = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, b.wk, g.states), hp.head_dim, hp.n_head_kv, rows);
        if (!(ablate & kAblateCrossNorms)) k = ggml_mul(ctx, ggml_rms_norm(ctx, k, hp.rms_eps), b.k_norm);
        ggml_tensor * v = ggml_mul_mat(ctx, b.wv, g.states);
        ggml_build_forward_expand(g.graph, ggml_cpy(ctx, ggml_reshape_2d(ctx, k, hp.EmbdGqa(), rows), cross.SlotK(ctx, il, slot)));
        ggml_build_forward_expand(g.graph, ggml_cpy(ctx, v, cross.SlotV(ctx, il, slot)));
    }
    return g;
}

}  // namespace stagebeam::mllama
