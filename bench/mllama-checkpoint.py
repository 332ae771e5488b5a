#!/usr/bin/env python3
"""A random-weight Llama-3.2-Vision checkpoint at a realistic shape, for the mllama benchmark (bench/mllama.mjs).

    python bench/mllama-checkpoint.py OUT_DIR --llama-cpp llama.cpp

Vision: the real encoder of Llama-3.2-11B-Vision (1280 wide, 32 local + 8 global layers, 16 heads, FFN 5120,
560-pixel tiles of 14-pixel patches, up to 4 tiles, intermediate layers 3/7/15/23/30, 7680-wide output).
Text: Llama-3.2-1B width (2048 wide, 32/8 heads, FFN 8192, the 128256-token Llama 3 vocabulary) with 16
self-attention layers plus 4 gated cross-attention layers (every fifth, as the 11B model has 8 in 40).

Speed does not depend on trained values, so the weights are transformers' own initialisation, with the
gates that start at zero drawn at random (a zero gate would leave the cross path a no-op in the numbers
while it still costs its compute) and the output head scaled so that sampling is not stuck on one token.
The tokenizer, chat template and special tokens are the parity fixture's (test/fixtures/mllama).
Everything is seeded. Float32 safetensors, about 11 GB; bench/mllama.mjs converts it once and caches both.
"""
import argparse, json, sys
from pathlib import Path

import torch
from transformers import MllamaConfig, MllamaForConditionalGeneration

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test" / "fixtures" / "mllama"))
from make_tiny_mllama import IMAGE_ID, build_tokenizer, write_tokenizer_files  # noqa: E402

TEXT_LAYERS = 20
CROSS_LAYERS = [3, 8, 13, 18]


def config() -> MllamaConfig:
    c = MllamaConfig(
        vision_config=dict(hidden_size=1280, attention_heads=16, num_hidden_layers=32, num_global_layers=8,
                           intermediate_size=5120, intermediate_layers_indices=[3, 7, 15, 23, 30],
                           vision_output_dim=7680, image_size=560, patch_size=14, max_num_tiles=4, norm_eps=1e-5),
        text_config=dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=TEXT_LAYERS,
                         num_attention_heads=32, num_key_value_heads=8, cross_attention_layers=CROSS_LAYERS,
                         rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                                              high_freq_factor=4.0, original_max_position_embeddings=8192),
                         rms_norm_eps=1e-5, max_position_embeddings=131072, tie_word_embeddings=False,
                         bos_token_id=128000, eos_token_id=[128001, 128008, 128009], pad_token_id=128004),
        image_token_index=IMAGE_ID)
    c.architectures = ["MllamaForConditionalGeneration"]
    return c


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--llama-cpp", type=Path, required=True)
    args = ap.parse_args()
    torch.manual_seed(20241115)
    args.out.mkdir(parents=True, exist_ok=True)
    model = MllamaForConditionalGeneration(config()).float().eval()
    for name, p in model.named_parameters():
        if p.numel() == 1 and "gate" in name:
            p.uniform_(-1, 1)
    model.lm_head.weight.normal_(0, 0.05)
    model.save_pretrained(args.out, max_shard_size="2GB")
    write_tokenizer_files(build_tokenizer(args.llama_cpp), args.out)
    pre = json.loads((args.out / "preprocessor_config.json").read_text())
    pre["size"] = {"height": 560, "width": 560}  # the real tile size (the fixture's is 28)
    (args.out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2))
    print(json.dumps({"parameters": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
