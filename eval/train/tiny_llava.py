#!/usr/bin/env python3
# A small LLaVA-style VLM in plain torch, written op for op as llama.cpp runs the GGUF files that
# lib/gguf/trained-llava.ts writes from it: a CLIP ViT as libmtmd's `mlp` projector graph computes it
# (class token concatenated after the patches, the last block skipped, rows 1..n taken), the two-layer
# GELU MLP into the text model, and a llama-architecture text model (RMSNorm, rotary positions in
# adjacent pairs as llama.cpp's "norm" rope, SiLU-gated FFN). Plain torch instead of transformers so
# that every convention is visible here and matches the exported graph without weight permutations.
#
# Training data comes pre-tokenized by scripts/eval-train.mjs with the project's own addon (the chat
# template, libmtmd's chunking, the judges' split prompts), so training and inference see the same
# tokens. The softmax runs over the tokens the data uses plus one shared row standing for every other
# token of the 32000-token vocabulary (its logit offset by log of their count): exactly the full
# softmax of the exported model, whose unused output rows are all that shared row.
#
#   train:  tiny_llava.py train --data DIR --out DIR --config JSON
#   logits: tiny_llava.py logits --weights DIR --ids JSON --image FILE.rgb  (next-token logits, JSON)
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def gelu_ggml(x: torch.Tensor) -> torch.Tensor:
    """ggml_gelu on the CPU: tanh GELU read from a table indexed by the input rounded to f16, stored as f16."""
    y = F.gelu(x.half().float(), approximate="tanh").half().float()
    return torch.where(x <= -10, torch.zeros_like(x), torch.where(x >= 10, x, y))


class Vision(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["v_embd"], c["patch"]
        self.c = c
        self.n_patches = (c["image_size"] // p) ** 2
        self.patch = nn.Conv2d(3, d, p, stride=p, bias=False)
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.pos = nn.Parameter(torch.randn(self.n_patches + 1, d) * 0.02)
        self.pre_ln = nn.LayerNorm(d, eps=1e-5)
        # c["v_layers"] blocks are used; libmtmd skips the file's last block, so the export adds one.
        self.blocks = nn.ModuleList()
        for _ in range(c["v_layers"]):
            b = nn.Module()
            b.ln1, b.ln2 = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)
            b.q, b.k, b.v, b.o = (nn.Linear(d, d) for _ in range(4))
            b.up, b.down = nn.Linear(d, c["v_ff"]), nn.Linear(c["v_ff"], d)
            self.blocks.append(b)
        self.mm0 = nn.Linear(d, c["embd"])
        self.mm2 = nn.Linear(c["embd"], c["embd"])
        self.exact_gelu = False

    def gelu(self, x):
        return gelu_ggml(x) if self.exact_gelu else F.gelu(x, approximate="tanh")

    def forward(self, pixels):  # (B, 3, S, S), normalised
        B = pixels.shape[0]
        d, h = self.c["v_embd"], self.c["v_heads"]
        x = self.patch(pixels).flatten(2).transpose(1, 2)  # (B, n, d), patches in row-major order
        x = torch.cat([x, self.cls.expand(B, 1, d)], 1) + self.pos  # the class token goes last in libmtmd
        x = self.pre_ln(x)
        for b in self.blocks:
            y = b.ln1(x)
            q, k, v = (t(y).view(B, -1, h, d // h).transpose(1, 2) for t in (b.q, b.k, b.v))
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, -1, d)
            x = x + b.o(a)
            x = x + b.down(self.gelu(b.up(b.ln2(x))))
        x = x[:, 1:]  # libmtmd takes rows 1..n: it drops the first patch and keeps the class token
        return self.mm2(self.gelu(self.mm0(x)))


def rope(x, base=10000.0):  # (B, H, T, hd), llama.cpp's "norm" rope: rotates adjacent pairs
    T, hd = x.shape[2], x.shape[3]
    inv = base ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None]
    cos, sin = ang.cos(), ang.sin()
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1).flatten(-2)


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


class Text(nn.Module):
    def __init__(self, c, n_sub, n_unused):
        super().__init__()
        d = c["embd"]
        self.c = c
        self.embed = nn.Embedding(n_sub, d)
        nn.init.normal_(self.embed.weight, std=0.5)
        self.layers = nn.ModuleList()
        for _ in range(c["layers"]):
            l = nn.Module()
            l.attn_norm, l.ffn_norm = RMSNorm(d), RMSNorm(d)
            l.q, l.k, l.v, l.o = (nn.Linear(d, d, bias=False) for _ in range(4))
            l.gate, l.up = nn.Linear(d, c["ff"], bias=False), nn.Linear(d, c["ff"], bias=False)
            l.down = nn.Linear(c["ff"], d, bias=False)
            self.layers.append(l)
        self.norm = RMSNorm(d)
        self.out = nn.Linear(d, n_sub, bias=False)
        # One row for every token the data never uses; the export copies it to all of them.
        self.unused = nn.Parameter(torch.zeros(d))
        self.log_unused = math.log(n_unused) if n_unused > 0 else None

    def hidden(self, x):  # x: (B, T, d) input embeddings
        B, T, d = x.shape
        h = self.c["heads"]
        for l in self.layers:
            y = l.attn_norm(x)
            q, k, v = (t(y).view(B, T, h, d // h).transpose(1, 2) for t in (l.q, l.k, l.v))
            a = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True)
            x = x + l.o(a.transpose(1, 2).reshape(B, T, d))
            y = l.ffn_norm(x)
            x = x + l.down(F.silu(l.gate(y)) * l.up(y))
        return self.norm(x)

    def logits(self, hidden):  # over the subset, then the shared unused row (with its count folded in)
        sub = self.out(hidden)
        if self.log_unused is None:
            return sub
        return torch.cat([sub, (hidden @ self.unused)[..., None] + self.log_unused], -1)


class Llava(nn.Module):
    def __init__(self, c, n_sub, n_unused):
        super().__init__()
        self.c = c
        self.vision = Vision(c)
        self.text = Text(c, n_sub, n_unused)
        mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
        std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def pixels(self, rgb_u8):  # (B, S, S, 3) uint8 → normalised (B, 3, S, S), as libmtmd's preprocessing
        x = rgb_u8.permute(0, 3, 1, 2).float() / 255.0
        return (x - self.mean) / self.std

    def embed(self, ids, images, image_of):
        """ids (B, T) subset ids with -1 where image tokens go; images (N, S, S, 3); image_of (B,) index or -1."""
        x = self.text.embed(ids.clamp(min=0))
        slots = ids < 0
        if slots.any():
            rows = [b for b in range(ids.shape[0]) if image_of[b] >= 0]
            feats = self.vision(self.pixels(images[image_of[rows]]))  # (R, n, d)
            for r, b in enumerate(rows):
                x[b, slots[b]] = feats[r]
        return x


def load_examples(data):
    meta = json.load(open(os.path.join(data, "meta.json")))
    S = meta["image_size"]
    raw = np.fromfile(os.path.join(data, "images.u8"), dtype=np.uint8)
    images = torch.from_numpy(raw.reshape(-1, S, S, 3).copy())
    examples = [json.loads(line) for line in open(os.path.join(data, "examples.jsonl"))]
    return meta, images, examples


def batches(examples, batch_tokens, rng):
    """Batches of similar length (little padding) up to batch_tokens padded tokens, in random order."""
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i]["ids"]), rng.random()))
    out, cur, longest = [], [], 0
    for i in order:
        n = len(examples[i]["ids"])
        if cur and max(longest, n) * (len(cur) + 1) > batch_tokens:
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def collate(examples, idx, to_sub):
    T = max(len(examples[i]["ids"]) for i in idx)
    ids = torch.zeros(len(idx), T, dtype=torch.long)
    labels = torch.full((len(idx), T), -100, dtype=torch.long)
    image_of = torch.full((len(idx),), -1, dtype=torch.long)
    weights = torch.zeros(len(idx), T)
    for r, i in enumerate(idx):
        e = examples[i]
        seq = torch.tensor([to_sub[t] if t >= 0 else -1 for t in e["ids"]], dtype=torch.long)
        ids[r, : len(seq)] = seq
        start = e["loss_from"]  # tokens from here on are predicted (from the one before each)
        labels[r, start - 1 : len(seq) - 1] = seq[start:]
        weights[r, start - 1 : len(seq) - 1] = e.get("weight", 1.0)
        image_of[r] = e["image"]
    return ids, labels, image_of, weights


def train(args):
    c = json.loads(args.config)
    torch.manual_seed(c["seed"])
    torch.set_num_threads(c.get("threads", 2))
    rng = np.random.default_rng(c["seed"])
    meta, images, examples = load_examples(args.data)
    assert meta["image_size"] == c["image_size"], "the data's images must be rendered at the projector's image size"
    used = sorted({t for e in examples for t in e["ids"] if t >= 0} | set(meta["always"]))
    to_sub = {t: i for i, t in enumerate(used)}
    n_unused = meta["n_vocab"] - len(used)
    model = Llava(c, len(used), n_unused)
    params = sum(p.numel() for p in model.parameters())
    print(f"{len(examples)} examples, {len(used)} distinct tokens, {params / 1e6:.2f}M trained parameters", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=c["lr"], betas=(0.9, 0.98))
    budget = c["train_seconds"]
    warmup = 50
    start = time.time()
    step, epoch, seen = 0, 0, 0
    smooth = None
    done = False
    while not done:
        for idx in batches(examples, c["batch_tokens"], rng):
            elapsed = time.time() - start
            if elapsed > budget or (c.get("max_steps") and step >= c["max_steps"]):
                done = True
                break
            # the schedule follows wall time: cosine from lr to lr/10 over the budget
            frac = min(1.0, elapsed / budget)
            lr = c["lr"] * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = lr
            ids, labels, image_of, weights = collate(examples, idx, to_sub)
            x = model.embed(ids, images, image_of)
            h = model.text.hidden(x)
            mask = labels >= 0
            # a weighted mean over predicted tokens: a judge's decision is one token against an answer's ~100,
            # so unweighted it is a rounding error of the loss (the first model never learnt to judge)
            w = weights[mask]
            loss = (F.cross_entropy(model.text.logits(h[mask]), labels[mask], reduction="none") * w).sum() / w.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            seen += len(idx)
            smooth = loss.item() if smooth is None else 0.98 * smooth + 0.02 * loss.item()
            if step % 50 == 0:
                print(f"step {step} epoch {epoch} examples {seen} loss {smooth:.4f} lr {lr:.2e} {time.time() - start:.0f}s", flush=True)
        epoch += 1
    print(f"trained {step} steps, {seen} examples ({seen / len(examples):.2f} epochs) in {time.time() - start:.0f}s, loss {smooth:.4f}", flush=True)
    save(model, used, meta, c, args.out)


def save(model, used, meta, c, out):
    """Every tensor as float32 in one file, with a manifest of names, torch shapes and offsets."""
    os.makedirs(out, exist_ok=True)
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    manifest, offset = [], 0
    with open(os.path.join(out, "weights.f32"), "wb") as f:
        for name, t in tensors.items():
            f.write(t.numpy().astype("<f4").tobytes())
            manifest.append({"name": name, "shape": list(t.shape), "offset": offset})
            offset += t.numel() * 4
    json.dump({"config": c, "used_tokens": used, "n_vocab": meta["n_vocab"], "tensors": manifest}, open(os.path.join(out, "manifest.json"), "w"))


def load(weights):
    m = json.load(open(os.path.join(weights, "manifest.json")))
    raw = np.fromfile(os.path.join(weights, "weights.f32"), dtype="<f4")
    used = m["used_tokens"]
    model = Llava(m["config"], len(used), m["n_vocab"] - len(used))
    state = {}
    for t in m["tensors"]:
        n = int(np.prod(t["shape"])) if t["shape"] else 1
        state[t["name"]] = torch.from_numpy(raw[t["offset"] // 4 : t["offset"] // 4 + n].copy()).view(t["shape"])
    model.load_state_dict(state)
    return model, m


@torch.no_grad()
def logits(args):
    """Next-token logits over the whole vocabulary after `ids` (-1 marks the image's tokens), as the GGUF computes them."""
    model, m = load(args.weights)
    model.vision.exact_gelu = True
    used = m["used_tokens"]
    to_sub = {t: i for i, t in enumerate(used)}
    ids = json.load(open(args.ids))
    S = m["config"]["image_size"]
    image = torch.from_numpy(np.fromfile(args.image, dtype=np.uint8).reshape(1, S, S, 3).copy()) if args.image else None
    # a token the data never used has a zero embedding in the export: give it one here too
    zero = len(used)
    emb = model.text.embed.weight
    model.text.embed = nn.Embedding.from_pretrained(torch.cat([emb, torch.zeros(1, emb.shape[1])]))
    seq = torch.tensor([[to_sub.get(t, zero) if t >= 0 else -1 for t in ids]])
    x = model.embed(seq, image, torch.tensor([0 if image is not None else -1]))
    h = model.text.hidden(x)[0, -1]
    full = (h @ model.text.unused).repeat(m["n_vocab"])
    full[torch.tensor(used)] = model.text.out(h)
    json.dump([float(v) for v in full], sys.stdout)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--config", required=True)
    l = sub.add_parser("logits")
    l.add_argument("--weights", required=True)
    l.add_argument("--ids", required=True)
    l.add_argument("--image")
    a = p.parse_args()
    train(a) if a.cmd == "train" else logits(a)
