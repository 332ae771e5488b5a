#!/usr/bin/env python3
"""Owner-run real-weights check for the mllama engine (docs/real-weights.md): the next-token distribution of one
image prompt from Hugging Face transformers (the reference) and from stagebeam, compared.

    python scripts/mllama-real-check.py --hf DIR --model M.gguf --projector P.gguf --image a.jpg --question "..."

DIR is a Hugging Face mllama checkpoint (e.g. Xkev/Llama-3.2V-11B-cot, LLaVA-CoT) and M.gguf / P.gguf the pair
`stagebeam convert DIR` wrote from it. Not CI: these machines cannot download the weights.

Design: two files. The reference needs torch, so it is Python; stagebeam's engine is only reachable from JavaScript,
so its half is scripts/mllama-real-check.mjs, a plain user of the public API (loadModel, applyChatTemplate,
createSequenceFrom, evaluate with logprobs) that also runs alone. This script runs the reference, then that Node
script as a subprocess (JSON on stdout, the reference's top-k passed as probes so every reference token gets a
stagebeam logprob), and compares. Nothing from the project is imported here.

Like for like: transformers 5.18 departs from Meta's reference in two places, so this script applies the same two
Meta-semantics patches as the parity fixtures (copied verbatim from test/fixtures/mllama/make_tiny_mllama.py):
vision intermediate features are layer INPUTS, and rows before <|image|> get no cross-attention output. Without
them (--no-patches) the rows before <|image|> differ by design, and through self-attention every later row too.
Images go through MllamaImageProcessorPil, which stagebeam's TypeScript preprocessing matches bit for bit.

Exit status: 0 when the top-1 tokens agree, 1 when they (or the prompt's token ids) differ, 2 on usage errors.
"""
import argparse, contextlib, gc, importlib.util, json, math, os, shutil, subprocess, sys, tempfile, time, warnings
from pathlib import Path

import torch
import transformers
from PIL import Image
from transformers import AutoTokenizer, MllamaForConditionalGeneration, MllamaProcessor
from transformers.modeling_outputs import BaseModelOutput
import transformers.models.mllama.modeling_mllama as mm
from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

# The Meta-semantics patches below replace forward() bodies of this exact release; re-check them before bumping.
assert transformers.__version__ == "5.18.0", transformers.__version__
transformers.utils.logging.disable_progress_bar()
# The unpatched encoder (--no-patches, --also-unpatched) still calls its layers with a deprecated keyword.
warnings.filterwarnings("ignore", message=".*`hidden_state` is deprecated.*", category=FutureWarning)

ROOT = Path(__file__).resolve().parents[1]
NODE_HALF = ROOT / "scripts" / "mllama-real-check.mjs"
DATE = "26 Jul 2024"  # fixed on both sides: Llama 3.x templates print today's date in text-only prompts


# ---------------------------------------------------------------- Meta semantics (verbatim from make_tiny_mllama.py)
def enc_forward(self, hidden_states, attention_mask=None, **kw):
    """Intermediate features = the INPUT of layer i (Meta's reference, transformers 4.45); 5.18 keeps outputs."""
    states = ()
    for layer in self.layers:
        states = states + (hidden_states,)
        hidden_states = layer(hidden_states, attention_mask=attention_mask)
    return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=states)


def xlayer_forward(self, hidden_states, cross_attention_states, cross_attention_mask, attention_mask,
                   full_text_row_masked_out_mask, position_ids=None, past_key_values=None, use_cache=False,
                   position_embeddings=None, **kwargs):
    """Meta also zeroes the gated attention output of fully masked rows (text before <|image|>); 5.18 only the
    MLP (transformers PR #47845 would fix it upstream)."""
    residual = hidden_states
    h, _ = self.cross_attn(hidden_states=self.input_layernorm(hidden_states), attention_mask=cross_attention_mask,
                           cross_attention_states=cross_attention_states, past_key_values=past_key_values, **kwargs)
    if full_text_row_masked_out_mask is not None:
        h = full_text_row_masked_out_mask[:, 0] * h
    h = residual + self.cross_attn_attn_gate.tanh() * h
    residual = h
    h = self.mlp(self.post_attention_layernorm(h))
    if full_text_row_masked_out_mask is not None:
        h = full_text_row_masked_out_mask[:, 0] * h
    return residual + self.cross_attn_mlp_gate.tanh() * h


ORIGINAL = (mm.MllamaVisionEncoder.forward, mm.MllamaCrossAttentionDecoderLayer.forward)


@contextlib.contextmanager
def semantics(encoder: bool, xlayer: bool):
    mm.MllamaVisionEncoder.forward = enc_forward if encoder else ORIGINAL[0]
    mm.MllamaCrossAttentionDecoderLayer.forward = xlayer_forward if xlayer else ORIGINAL[1]
    try:
        yield
    finally:
        mm.MllamaVisionEncoder.forward, mm.MllamaCrossAttentionDecoderLayer.forward = ORIGINAL


# ---------------------------------------------------------------- reference
def read_chat_template(hf: Path) -> str:
    """Where the converter (lib/mllama/hf-chat-template.ts) and transformers look, in the same order."""
    if (hf / "chat_template.jinja").exists():
        return (hf / "chat_template.jinja").read_text(encoding="utf-8")
    for name in ("chat_template.json", "tokenizer_config.json"):
        path = hf / name
        if path.exists():
            value = json.loads(path.read_text(encoding="utf-8")).get("chat_template")
            if isinstance(value, list):
                value = next((t for t in value if t.get("name") == "default"), value[0] if value else {}).get("template")
            if isinstance(value, str):
                return value
    sys.exit(f"{hf} has no chat template (chat_template.jinja, chat_template.json or tokenizer_config.json)")


def messages(n_images: int, question: str):
    """The user message: the image(s), then the question."""
    return [{"role": "user", "content": [{"type": "image"}] * n_images + [{"type": "text", "text": question}]}]


def load_images(paths, pil_decode: bool, tmp: Path):
    """PIL images for the reference, and the files stagebeam reads: the originals, or with --pil-decode lossless PNGs
    of PIL's RGB pixels (so decoder differences, e.g. JPEG IDCT rounding, drop out of the comparison)."""
    images, files = [], []
    for i, path in enumerate(paths):
        image = Image.open(path)
        image.load()
        if pil_decode:
            if image.mode != "RGB":
                image = transformers.image_transforms.convert_to_rgb(image)  # what the processor does (RGBA on white)
            files.append(str(tmp / f"image{i}.png"))
            image.save(files[-1])
        else:
            files.append(str(path))
        images.append(image)
    return images, files


@torch.no_grad()
def reference(args, images, top_k: int):
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.torch_dtype]
    tokenizer = AutoTokenizer.from_pretrained(args.hf)
    template = read_chat_template(args.hf)
    processor = MllamaProcessor(image_processor=MllamaImageProcessorPil.from_pretrained(args.hf), tokenizer=tokenizer,
                                chat_template=template)
    prompt = tokenizer.apply_chat_template(messages(len(images), args.question), chat_template=template, tokenize=False,
                                           add_generation_prompt=True, date_string=DATE)
    # The rendered prompt already carries <|begin_of_text|>: no second one.
    inputs = processor(images=[images], text=[prompt], add_special_tokens=False, return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    t0 = time.perf_counter()
    # Straight onto the device where accelerate is installed; else through CPU memory (the whole checkpoint).
    direct = args.device != "cpu" and importlib.util.find_spec("accelerate") is not None
    model = MllamaForConditionalGeneration.from_pretrained(args.hf, dtype=dtype, attn_implementation=args.attn,
                                                           **({"device_map": args.device} if direct else {}))
    model = model.to(args.device).eval()
    load_s = time.perf_counter() - t0
    feed = {"input_ids": inputs["input_ids"].to(args.device),
            "pixel_values": inputs["pixel_values"].to(args.device, dtype),
            **{k: inputs[k].to(args.device) for k in ("aspect_ratio_ids", "aspect_ratio_mask", "cross_attention_mask")}}
    runs = {}
    for name, patched in [("patched", not args.no_patches)] + ([("unpatched", False)] if args.also_unpatched else []):
        t0 = time.perf_counter()
        with semantics(encoder=patched, xlayer=patched):
            logits = model(**feed, use_cache=False).logits[0, -1]
        runs[name] = {"logprobs": torch.log_softmax(logits.float().cpu(), -1), "forward_s": time.perf_counter() - t0}
    del model, feed  # the stagebeam half runs next, in its own process: leave it the memory
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    out = {"side": "transformers", "prompt": prompt, "inputIds": ids, "load_s": load_s,
           "settings": {"dtype": args.torch_dtype, "device": args.device, "attn": args.attn,
                        "patches": not args.no_patches, "transformers": transformers.__version__,
                        "torch": torch.__version__},
           "pixel_values_shape": list(inputs["pixel_values"].shape),
           "aspect_ratio_ids": inputs["aspect_ratio_ids"].tolist()}
    for name, run in runs.items():
        lp = run["logprobs"]
        values, tokens = lp.topk(top_k)
        run["top"] = [{"token": int(t), "logprob": float(v), "text": tokenizer.decode([int(t)])}
                      for t, v in zip(tokens, values)]
    return out, runs


# ---------------------------------------------------------------- stagebeam
def stagebeam(args, files, probes):
    if args.stagebeam_json:
        return json.loads(Path(args.stagebeam_json).read_text())
    opts = {"model": args.model, "projector": args.projector, "question": args.question, "top-k": args.top_k,
            "kv-type": args.kv_type, "gpu-layers": args.gpu_layers, "flash-attention": args.flash_attention,
            "context-size": args.context_size, "date": DATE, "probes": ",".join(map(str, probes))}
    if args.threads:
        opts["threads"] = args.threads
    # --name=value: values may start with a dash (-1, a question).
    cmd = [args.node, str(NODE_HALF), "--json"] + [f"--{k}={v}" for k, v in opts.items()] + [f"--image={f}" for f in files]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        sys.exit(f"the stagebeam half failed (exit {proc.returncode}): {' '.join(cmd)}")
    line = next(l for l in reversed(proc.stdout.splitlines()) if l.startswith("{"))
    result = json.loads(line)
    result["wall_s"] = time.perf_counter() - t0
    return result


# ---------------------------------------------------------------- comparison
def compare(ref_top, ref_lp, sb):
    """top-1 agreement, top-5 overlap, and the largest |Δ logprob| over the shared top-k and over both top-k lists."""
    sb_top = sb["top"]
    sb_lp = {t["token"]: t["logprob"] for t in sb.get("probes", [])}
    sb_lp.update({t["token"]: t["logprob"] for t in sb_top})
    ref_ids, sb_ids = [t["token"] for t in ref_top], [t["token"] for t in sb_top]
    shared = [t for t in ref_ids if t in set(sb_ids)]
    delta = lambda t: abs(sb_lp[t] - float(ref_lp[t]))
    union = [t for t in dict.fromkeys(ref_ids + sb_ids) if t in sb_lp and t < ref_lp.numel()]
    return {"top1_equal": ref_ids[0] == sb_ids[0], "top1": {"transformers": ref_ids[0], "stagebeam": sb_ids[0]},
            "top5_overlap": len(set(ref_ids[:5]) & set(sb_ids[:5])),
            "shared_top_k": len(shared), "k": len(ref_ids),
            "max_abs_delta_shared": max((delta(t) for t in shared), default=math.nan),
            "max_abs_delta_union": max((delta(t) for t in union), default=math.nan),
            "reference_top1_margin": ref_top[0]["logprob"] - ref_top[1]["logprob"]}


def table(ref_top, ref_lp, sb):
    sb_lp = {t["token"]: t["logprob"] for t in sb.get("probes", []) + sb["top"]}
    print(f"{'rank':>4}  {'transformers':<34} {'stagebeam':<34} {'Δ ref token':>12}")
    for i, (r, s) in enumerate(zip(ref_top, sb["top"])):
        d = sb_lp.get(r["token"])
        cell = lambda t: f"{t['token']:>6} {t['logprob']:>10.5f} {json.dumps(t['text'][:12], ensure_ascii=False):<15}"
        diff = "" if d is None else f"{d - r['logprob']:+.2e}"
        print(f"{i + 1:>4}  {cell(r):<34} {cell(s):<34} {diff:>12}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hf", type=Path, required=True, help="Hugging Face mllama checkpoint folder")
    ap.add_argument("--model", help="model GGUF converted from it (stagebeam convert)")
    ap.add_argument("--projector", help="projector GGUF converted from it")
    ap.add_argument("--image", action="append", required=True, help="image path; repeat for up to 3")
    ap.add_argument("--question", required=True)
    ap.add_argument("--top-k", type=int, default=10)
    ref = ap.add_argument_group("reference (transformers)")
    ref.add_argument("--torch-dtype", choices=["float32", "bfloat16"], default="float32",
                     help="float32 (default; LLaVA-CoT is stored in F32, about 44 GB) or bfloat16 (half that, looser)")
    ref.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, cuda:1, ...")
    ref.add_argument("--attn", choices=["eager", "sdpa"], default="eager", help="attention implementation (default eager)")
    ref.add_argument("--no-patches", action="store_true", help="plain transformers 5.18 semantics (differs by design)")
    ref.add_argument("--also-unpatched", action="store_true", help="also report an unpatched forward, for scale")
    sb = ap.add_argument_group("stagebeam (scripts/mllama-real-check.mjs)")
    sb.add_argument("--node", default=shutil.which("node") or "node")
    sb.add_argument("--kv-type", choices=["f32", "f16"], default="f32")
    sb.add_argument("--gpu-layers", type=int, default=-1, help="-1 all (default), 0 CPU only")
    sb.add_argument("--flash-attention", choices=["auto", "on", "off"], default="auto")
    sb.add_argument("--context-size", type=int, default=1024)
    sb.add_argument("--threads", type=int)
    sb.add_argument("--pil-decode", action="store_true",
                    help="give stagebeam PNGs of PIL's decoded pixels (takes JPEG decoder differences out)")
    sb.add_argument("--stagebeam-json", help="compare with a saved `mllama-real-check.mjs --json` output instead")
    ap.add_argument("--reference-only", action="store_true", help="run and print the reference only")
    ap.add_argument("--json-out", help="write the whole report here")
    args = ap.parse_args()
    if not 1 <= len(args.image) <= 3:
        ap.error("give 1 to 3 --image")
    if not args.reference_only and not args.stagebeam_json and not (args.model and args.projector):
        ap.error("--model and --projector are needed (or --stagebeam-json, or --reference-only)")

    with tempfile.TemporaryDirectory(prefix="mllama-real-check-") as tmp:
        images, files = load_images(args.image, args.pil_decode, Path(tmp))
        ref_out, runs = reference(args, images, args.top_k)
        main_run = runs["patched"]
        print(f"reference: transformers {transformers.__version__}, {args.torch_dtype} on {args.device}, "
              f"{'Meta-semantics patches' if not args.no_patches else 'NO patches'}; load {ref_out['load_s']:.1f}s, "
              f"forward {main_run['forward_s']:.1f}s; pixel_values {ref_out['pixel_values_shape']}, "
              f"aspect ratio ids {ref_out['aspect_ratio_ids']}")
        if args.reference_only:
            for i, t in enumerate(main_run["top"]):
                print(f"{i + 1:>4} {t['token']:>7} {t['logprob']:>11.6f} {json.dumps(t['text'])}")
            return 0
        sb_out = stagebeam(args, files, [t["token"] for t in main_run["top"]])

    failures = []
    if sb_out["prompt"] != ref_out["prompt"]:
        failures.append("the rendered prompts differ:\n  transformers " + json.dumps(ref_out["prompt"]) +
                        "\n  stagebeam    " + json.dumps(sb_out["prompt"]))
    if sb_out["inputIds"] != ref_out["inputIds"]:
        failures.append(f"the prompt token ids differ:\n  transformers {ref_out['inputIds']}\n  stagebeam    {sb_out['inputIds']}")
    print(f"stagebeam: {sb_out.get('settings')}" + (f", {sb_out['wall_s']:.1f}s" if "wall_s" in sb_out else ""))
    print(f"prompt ({len(ref_out['inputIds'])} tokens): {json.dumps(ref_out['prompt'])}\n")
    table(main_run["top"], main_run["logprobs"], sb_out)
    report = {"reference": {**ref_out, "top": main_run["top"]}, "stagebeam": sb_out,
              "comparison": compare(main_run["top"], main_run["logprobs"], sb_out)}
    c = report["comparison"]
    print(f"\ntop-1 equal: {c['top1_equal']} ({c['top1']['transformers']} vs {c['top1']['stagebeam']}; reference "
          f"top-1 margin {c['reference_top1_margin']:.4f})")
    print(f"top-5 overlap: {c['top5_overlap']}/5; shared top-{c['k']}: {c['shared_top_k']}/{c['k']}")
    print(f"max |Δ logprob|: {c['max_abs_delta_shared']:.3e} over the shared top-{c['k']}, "
          f"{c['max_abs_delta_union']:.3e} over both top-{c['k']} lists")
    if "unpatched" in runs:
        un = compare(runs["unpatched"]["top"], runs["unpatched"]["logprobs"], sb_out)
        report["comparison_unpatched"] = un
        print(f"(unpatched reference, for scale: top-1 equal {un['top1_equal']}, top-5 overlap {un['top5_overlap']}/5, "
              f"max |Δ| shared {un['max_abs_delta_shared']:.3e})")
    if not c["top1_equal"]:
        near = c["reference_top1_margin"] < c["max_abs_delta_union"]
        failures.append("top-1 differs" + (" (a near tie: the reference's margin is below the largest Δ)" if near else ""))
    for failure in failures:
        print(f"\nFAIL: {failure}")
    print("\nverdict: " + ("FAIL" if failures else "PASS") +
          f" (top-1 {'equal' if c['top1_equal'] else 'differs'}, top-5 overlap {c['top5_overlap']}/5, "
          f"max |Δ| {c['max_abs_delta_shared']:.2e})")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
