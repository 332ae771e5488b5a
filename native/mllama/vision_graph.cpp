#include "vision_graph.h"

#include <cmath>
#include <cstring>

namespace stagebeam::mllama {

int64_t VisionAttentionChunk(const VisionHparams & hp) {
    // The largest divisor of L whose scores ([L, c, heads] F32) stay within 256 MiB: small enough to
    // leave memory for the rest, large enough that each matmul is big (536 rows at 11B shapes).
    const int64_t L = static_cast<int64_t>(hp.PaddedPositions()) * hp.max_tiles, budget = int64_t(256) << 20;
    for (int64_t n = 1; n <= L; ++n) {
        if (L % n == 0 && (L / n) * L * hp.n_head * static_cast<int64_t>(sizeof(float)) <= budget) return L / n;
    }
    return 1;
}

size_t VisionGraphNodeBudget(const VisionHparams & hp, int64_t chunk) {
    const size_t chunks = static_cast<size_t>(static_cast<int64_t>(hp.PaddedPositions()) * hp.max_tiles / chunk);
    return std::max<size_t>(1024, (64 + 8 * chunks) * static_cast<size_t>(hp.n_block + hp.n_global) + 8 * hp.intermediate.size() + 256);
}

size_t VisionGraphContextBytes(const VisionHparams & hp, int64_t chunk) {
    const size_t nodes = VisionGraphNodeBudget(hp, chunk);
    return ggml_tensor_overhead() * nodes + ggml_graph_overhead_custom(nodes, false);
}

void UnfoldPatches(const VisionHparams & hp, const float * pixels, float * out) {
    const size_t S = hp.image_size, p = hp.patch_size, C = hp.channels, side = hp.PatchesPerSide();
    for (size_t t = 0; t < hp.max_tiles; ++t) {
        const float * tile = pixels + t * C * S * S;
        for (size_t py = 0; py < side; ++py) {
            for (size_t px = 0; px < side; ++px) {
                for (size_t c = 0; c < C; ++c) {
                    for (size_t ky = 0; ky < p; ++ky) {
                        std::memcpy(out, tile + c * S * S + (py * p + ky) * S + px * p, p * sizeof(float));
                        out += p;
                    }
                }
            }
        }
    }
}

void FillPaddingMask(const VisionHparams & hp, int32_t real_tiles, bool enabled, ggml_fp16_t * out) {
    const size_t per_tile = hp.PaddedPositions(), L = per_tile * hp.max_tiles;
    const ggml_fp16_t zero = ggml_fp32_to_fp16(0.0f), masked = ggml_fp32_to_fp16(-INFINITY);
    std::vector<uint8_t> padding(L);
    for (size_t i = 0; i < L; ++i) padding[i] = (i / per_tile) >= static_cast<size_t>(real_tiles) || (i % per_tile) >= hp.Positions();
    for (size_t q = 0; q < L; ++q) {
        ggml_fp16_t * row = out + q * L;
        for (size_t k = 0; k < L; ++k) row[k] = enabled && padding[q] && padding[k] ? masked : zero;
    }
}

namespace {

ggml_tensor * LayerNorm(ggml_context * ctx, ggml_tensor * x, ggml_tensor * weight, ggml_tensor * bias, float eps) {
    return ggml_add(ctx, ggml_mul(ctx, ggml_norm(ctx, x, eps), weight), bias);
}

// Plain multi-head self-attention over the whole sequence x [D, L], no biases, no RoPE.
ggml_tensor * Attention(ggml_context * ctx, const VisionHparams & hp, const VisionBlock & b, ggml_tensor * x, ggml_tensor * mask, bool flash_attn,
                        int64_t c) {
    const int64_t D = hp.n_embd, hd = hp.HeadDim(), H = hp.n_head, L = x->ne[1];
    if (flash_attn) {
        // FA wants q [hd, L, H] and K/V [hd, L, H] (V not transposed); K/V are cast to F16 as llama.cpp's
        // build_attn_mha does (errata b9). The result comes out permuted, [hd, H, L].
        ggml_tensor * q = ggml_permute(ctx, ggml_reshape_3d(ctx, ggml_mul_mat(ctx, b.wq, x), hd, H, L), 0, 2, 1, 3);
        ggml_tensor * k = ggml_cast(ctx, ggml_permute(ctx, ggml_reshape_3d(ctx, ggml_mul_mat(ctx, b.wk, x), hd, H, L), 0, 2, 1, 3), GGML_TYPE_F16);
        ggml_tensor * v = ggml_cast(ctx, ggml_permute(ctx, ggml_reshape_3d(ctx, ggml_mul_mat(ctx, b.wv, x), hd, H, L), 0, 2, 1, 3), GGML_TYPE_F16);
        ggml_tensor * out = ggml_flash_attn_ext(ctx, q, k, v, mask, 1.0f / std::sqrt(static_cast<float>(hd)), 0.0f, 0.0f);
        ggml_flash_attn_ext_set_prec(out, GGML_PREC_F32);
        return ggml_mul_mat(ctx, b.wo, ggml_reshape_2d(ctx, out, D, L));
    }
    // Softmax attention in query chunks: each chunk's [L keys, c queries, H] scores are a plain matmul
    // (the CPU's fast GEMM), the softmax and a second matmul, and only one chunk's scores exist at a time
    // (all of them at once would be 2.6 GB per layer at 11B shapes). Every query row's softmax is its own,
    // so chunking changes no result. Q is laid out so that each chunk is contiguous: ggml's fast matmul
    // paths skip strided operands (a strided Q view made this 3x slower).
    const int64_t n_chunks = L / c;
    ggml_tensor * q = ggml_reshape_4d(ctx, ggml_mul_mat(ctx, b.wq, x), hd, H, c, n_chunks);
    q = ggml_cont(ctx, ggml_permute(ctx, q, 0, 2, 1, 3));  // [hd, c, H, chunks]
    ggml_tensor * k = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_3d(ctx, ggml_mul_mat(ctx, b.wk, x), hd, H, L), 0, 2, 1, 3));  // [hd, L, H]
    ggml_tensor * v = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_3d(ctx, ggml_mul_mat(ctx, b.wv, x), hd, H, L), 1, 2, 0, 3));  // [L, hd, H]
    ggml_tensor * out = nullptr;
    for (int64_t i = 0; i < n_chunks; ++i) {
        ggml_tensor * qc = ggml_view_3d(ctx, q, hd, c, H, q->nb[1], q->nb[2], static_cast<size_t>(i) * q->nb[3]);
        ggml_tensor * mc = ggml_view_2d(ctx, mask, L, c, mask->nb[1], static_cast<size_t>(i * c) * mask->nb[1]);
        ggml_tensor * kq = ggml_mul_mat(ctx, k, qc);  // [L keys, c queries, H]
        ggml_mul_mat_set_prec(kq, GGML_PREC_F32);
        kq = ggml_soft_max_ext(ctx, kq, mc, 1.0f / std::sqrt(static_cast<float>(hd)), 0.0f);
        ggml_tensor * kqv = ggml_mul_mat(ctx, v, kq);  // [hd, c, H]
        ggml_tensor * rows = ggml_cont_2d(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3), D, c);
        out = out ? ggml_concat(ctx, out, rows, 1) : rows;
    }
    return ggml_mul_mat(ctx, b.wo, out);
}

// A pre-LN encoder layer; global layers scale both branches by their (tanh'd) gates.
ggml_tensor * Layer(ggml_context * ctx, const VisionHparams & hp, const VisionBlock & b, ggml_tensor * x, ggml_tensor * mask, bool flash_attn,
                    int64_t chunk) {
    ggml_tensor * cur = Attention(ctx, hp, b, LayerNorm(ctx, x, b.attn_norm_w, b.attn_norm_b, hp.eps), mask, flash_attn, chunk);
    if (b.gated) cur = ggml_scale(ctx, cur, b.attn_gate);
    x = ggml_add(ctx, x, cur);
    cur = LayerNorm(ctx, x, b.ffn_norm_w, b.ffn_norm_b, hp.eps);
    cur = ggml_add(ctx, ggml_mul_mat(ctx, b.ffn_up_w, cur), b.ffn_up_b);
    cur = ggml_gelu_erf(ctx, cur);  // hidden_act "gelu" is the exact erf form, not the tanh approximation
    cur = ggml_add(ctx, ggml_mul_mat(ctx, b.ffn_down_w, cur), b.ffn_down_b);
    if (b.gated) cur = ggml_scale(ctx, cur, b.ffn_gate);
    return ggml_add(ctx, x, cur);
}

// Row `id` of an embedding table [width, ids] as a contiguous [ne0, ne1, ne2] tensor.
ggml_tensor * TableRow(ggml_context * ctx, ggml_tensor * table, int32_t id, int64_t ne0, int64_t ne1, int64_t ne2) {
    ggml_tensor * row = ggml_view_1d(ctx, table, table->ne[0], static_cast<size_t>(id) * table->nb[1]);
    return ggml_reshape_3d(ctx, row, ne0, ne1, ne2);
}

}  // namespace

VisionGraph BuildVisionGraph(ggml_context * ctx, const VisionWeights & w, int32_t aspect_ratio_id, bool flash_attn, int64_t chunk) {
    const VisionHparams & hp = w.hp;
    const int64_t D = hp.n_embd, T = hp.max_tiles, P = hp.Patches(), N = hp.Positions(), Np = hp.PaddedPositions(), L = Np * T;
    VisionGraph g;
    g.graph = ggml_new_graph_custom(ctx, VisionGraphNodeBudget(hp, chunk), false);
    g.patches = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, hp.PatchValues(), P * T);
    g.mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, L, L);
    ggml_set_input(g.patches);
    ggml_set_input(g.mask);
    ggml_set_name(g.patches, "patches");
    ggml_set_name(g.mask, "vision_mask");

    // Patch embedding: the conv kernel [p, p, C, D] viewed as [C·p·p, D] times the unfolded patches.
    ggml_tensor * x = ggml_mul_mat(ctx, ggml_reshape_2d(ctx, w.patch_embd, hp.PatchValues(), D), g.patches);  // [D, P·T]
    x = ggml_reshape_3d(ctx, x, D, P, T);
    // Pre-tile embedding: one vector per tile, gated, added to every patch of the tile.
    x = ggml_add(ctx, x, ggml_scale(ctx, TableRow(ctx, w.pre_tile_embd, aspect_ratio_id, D, 1, T), w.pre_tile_gate));
    // Class token first in every tile.
    ggml_tensor * cls = ggml_repeat_4d(ctx, ggml_reshape_3d(ctx, w.class_embd, D, 1, 1), D, 1, T, 1);
    x = ggml_concat(ctx, cls, x, 1);  // [D, N, T]
    // Gated position embedding ((1 - tanh g) stored), then the gated per-tile position table (tanh g).
    x = ggml_add(ctx, x, ggml_scale(ctx, w.position_embd, w.position_gate));
    x = ggml_add(ctx, x, ggml_scale(ctx, TableRow(ctx, w.tile_position_embd, aspect_ratio_id, D, N, T), w.tile_position_gate));
    x = LayerNorm(ctx, x, w.pre_ln_w, w.pre_ln_b, hp.eps);
    // Zero rows pad each tile to a multiple of 8 AFTER the norm, as transformers does (F.pad).
    x = ggml_pad(ctx, x, 0, static_cast<int>(Np - N), 0, 0);  // [D, Np, T]
    x = ggml_reshape_2d(ctx, x, D, L);

    std::vector<ggml_tensor *> intermediate(hp.intermediate.size(), nullptr);
    for (uint32_t il = 0; il < hp.n_block; ++il) {
        // Meta semantics: an intermediate feature is the INPUT of its layer.
        for (size_t k = 0; k < hp.intermediate.size(); ++k) {
            if (hp.intermediate[k] == static_cast<int32_t>(il)) intermediate[k] = x;
        }
        x = Layer(ctx, hp, w.blocks[il], x, g.mask, flash_attn, chunk);
    }
    x = LayerNorm(ctx, x, w.post_ln_w, w.post_ln_b, hp.eps);
    x = ggml_reshape_3d(ctx, x, D, Np, T);
    x = ggml_add(ctx, x, ggml_scale(ctx, TableRow(ctx, w.post_tile_embd, aspect_ratio_id, D, 1, T), w.post_tile_gate));
    x = ggml_reshape_2d(ctx, x, D, L);
    for (const VisionBlock & b : w.global_blocks) x = Layer(ctx, hp, b, x, g.mask, flash_attn, chunk);

    // [final | stack(intermediates, dim=-1)]: the stack interleaves per channel (element c·K + k), which
    // concatenating [1, D, L] slices along dim 0 reproduces.
    if (!intermediate.empty()) {
        ggml_tensor * stacked = ggml_reshape_3d(ctx, intermediate[0], 1, D, L);
        for (size_t k = 1; k < intermediate.size(); ++k) stacked = ggml_concat(ctx, stacked, ggml_reshape_3d(ctx, intermediate[k], 1, D, L), 0);
        x = ggml_concat(ctx, x, ggml_reshape_2d(ctx, stacked, D * static_cast<int64_t>(intermediate.size()), L), 0);  // [OD, L]
    }
    // Drop the padding rows of every tile, then project.
    const int64_t OD = hp.OutputDim();
    x = ggml_cont(ctx, ggml_view_3d(ctx, x, OD, N, T, x->nb[1], static_cast<size_t>(Np) * x->nb[1], 0));
    x = ggml_reshape_2d(ctx, x, OD, N * T);
    g.states = ggml_add(ctx, ggml_mul_mat(ctx, w.mm_w, x), w.mm_b);  // [projection_dim, N·T]
    ggml_set_name(g.states, "cross_attention_states");
    ggml_set_output(g.states);
    ggml_build_forward_expand(g.graph, g.states);
    return g;
}

}  // namespace stagebeam::mllama
