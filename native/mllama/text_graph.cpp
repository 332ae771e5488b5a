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

}  // namespace

TextGraph BuildTextGraph(ggml_context * ctx, const TextWeights & w, const KvCache & kv, uint32_t n_tokens, uint32_t n_kv, uint32_t n_outputs) {
    const TextHparams & hp = w.hp;
    const int64_t n = n_tokens, hd = hp.head_dim, n_head = hp.n_head, n_head_kv = hp.n_head_kv, n_gqa = hp.EmbdGqa();
    TextGraph g;
    g.graph = ggml_new_graph_custom(ctx, GraphNodeBudget(hp), false);

    g.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
    g.positions = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
    g.cells = ggml_new_tensor_1d(ctx, GGML_TYPE_I64, n);
    g.mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n_kv, n);
    g.outputs = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_outputs);
    for (ggml_tensor * t : {g.tokens, g.positions, g.cells, g.mask, g.outputs}) ggml_set_input(t);
    ggml_set_name(g.tokens, "tokens");
    ggml_set_name(g.positions, "positions");
    ggml_set_name(g.cells, "cells");
    ggml_set_name(g.mask, "kq_mask");
    ggml_set_name(g.outputs, "output_rows");

    const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hd));
    ggml_tensor * x = ggml_get_rows(ctx, w.tok_embd, g.tokens);
    for (uint32_t il = 0; il < hp.n_block; ++il) {
        const TextBlock & b = w.blocks[il];
        if (b.cross) continue;

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
        keys = ggml_permute(ctx, keys, 0, 2, 1, 3);                                           // [hd, n_kv, n_head_kv]
        values = ggml_cont(ctx, ggml_permute(ctx, values, 1, 2, 0, 3));                       // [n_kv, hd, n_head_kv]
        q = ggml_permute(ctx, q, 0, 2, 1, 3);                                                  // [hd, n, n_head]
        ggml_tensor * kq = ggml_mul_mat(ctx, keys, q);                                         // [n_kv, n, n_head]; GQA by broadcast
        ggml_mul_mat_set_prec(kq, GGML_PREC_F32);
        kq = ggml_soft_max_ext(ctx, kq, g.mask, kq_scale, 0.0f);
        ggml_tensor * kqv = ggml_mul_mat(ctx, values, kq);                                     // [hd, n, n_head]
        cur = ggml_cont_2d(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3), hd * n_head, n);
        x = ggml_add(ctx, x, ggml_mul_mat(ctx, b.wo, cur));

        cur = RmsNorm(ctx, x, b.ffn_norm, hp.rms_eps);
        cur = ggml_swiglu_split(ctx, ggml_mul_mat(ctx, b.ffn_gate, cur), ggml_mul_mat(ctx, b.ffn_up, cur));
        x = ggml_add(ctx, x, ggml_mul_mat(ctx, b.ffn_down, cur));
    }
    x = ggml_get_rows(ctx, x, g.outputs);
    x = RmsNorm(ctx, x, w.output_norm, hp.rms_eps);
    g.logits = ggml_mul_mat(ctx, w.output, x);
    ggml_set_name(g.logits, "logits");
    ggml_set_output(g.logits);
    ggml_build_forward_expand(g.graph, g.logits);
    return g;
}

}  // namespace stagebeam::mllama
