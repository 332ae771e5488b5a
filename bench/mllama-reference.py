#!/usr/bin/env python3
"""The reference's way of running stage-level beam search, for the mllama benchmark (bench/mllama.mjs): Hugging
Face transformers on the CPU, as LLaVA-CoT's own inference code drives it.

    python bench/mllama-reference.py '{"hf": DIR, "image": PATH, "width": 4, ...}'   → one line of JSON

What the reference does, and so what this does (spec: staged-reasoning.md §2): for each stage, each of the N
candidates is a separate `model.generate` call on the whole conversation — the image and question, the stages
chosen so far and the stage's opening — so each one runs the vision encoder and the prompt again; then a random
sequential knockout of N−1 pairwise judgements, each a `generate` call on a new conversation with the image
(encoded again); at REASONING each candidate of a pair is first checked alone by a text-only call.

With `budgetSeconds`, the loop stops before the first call that would start past the budget and reports
`complete: false`, with every call it made (role, stage, seconds, tokens) and the calls it did not make: at the
realistic shape on 2 cores the whole search takes about two hours, each image call 4–5 minutes, and the calls are
alike, so bench/mllama.mjs projects the rest from the measured ones (and says so).

Everything that is not the reference's cost model is held equal to stagebeam's run in the same benchmark: the
prompts (the judge wording comes from stagebeam's own functions, passed in with placeholders), the sampling
(temperature 0.6, top-p 0.9), the stage openings prefilled, the token budgets (a stage that reaches its budget
is closed), the seed. The model runs in float32 with the default (SDPA) attention, on `threads` threads.
"""
import json, random, sys, time


class OutOfBudget(Exception):
    pass

import torch
from PIL import Image
from transformers import AutoTokenizer, MllamaForConditionalGeneration, StoppingCriteria, StoppingCriteriaList
from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil
from transformers.models.mllama.processing_mllama import MllamaProcessor

FIRST, SECOND, HINT = "\u0001", "\u0002", "\u0003"


class StopOnText(StoppingCriteria):
    """Stops when `text` appears in the newly generated text; like the reference, it decodes the whole new text
    at every step."""

    def __init__(self, tokenizer, prompt_length, text):
        self.tokenizer, self.prompt_length, self.text = tokenizer, prompt_length, text

    def __call__(self, input_ids, scores, **kwargs):
        return self.text in self.tokenizer.decode(input_ids[0, self.prompt_length:])


def main():
    o = json.loads(sys.argv[1])
    torch.set_num_threads(o["threads"])
    torch.manual_seed(o["seed"])
    rng = random.Random(o["seed"])
    t_load = time.perf_counter()
    model = MllamaForConditionalGeneration.from_pretrained(o["hf"], dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(o["hf"])
    processor = MllamaProcessor(image_processor=MllamaImageProcessorPil.from_pretrained(o["hf"]), tokenizer=tokenizer,
                                chat_template=o["chatTemplate"])
    image = Image.open(o["image"]).convert("RGB")
    load_seconds = time.perf_counter() - t_load
    counts = {"imageEncodes": 0, "promptTokens": 0, "generatedTokens": 0, "judgeCalls": 0, "generateCalls": 0}
    calls = []  # every generate call made: role (candidate, judge, check), stage, seconds, tokens
    budget = o.get("budgetSeconds")

    def render(text, with_image):
        content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": text}]
        return processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                             date_string=o["dateString"])

    @torch.no_grad()
    def generate(prompt, with_image, max_tokens, role, stage, stop=None):
        if budget is not None and time.perf_counter() - t0 > budget:
            raise OutOfBudget()
        t_call = time.perf_counter()
        inputs = processor(images=[image] if with_image else None, text=prompt, add_special_tokens=False, return_tensors="pt")
        n = inputs["input_ids"].shape[1]
        criteria = StoppingCriteriaList([StopOnText(tokenizer, n, stop)]) if stop else None
        out = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=True, temperature=0.6, top_p=0.9, top_k=0,
                             stopping_criteria=criteria, pad_token_id=tokenizer.pad_token_id)
        new = out[0, n:]
        counts["generateCalls"] += 1
        counts["imageEncodes"] += 1 if with_image else 0
        counts["promptTokens"] += n
        counts["generatedTokens"] += int(new.shape[0])
        calls.append({"role": role, "stage": stage, "image": with_image, "seconds": time.perf_counter() - t_call,
                      "promptTokens": n, "generatedTokens": int(new.shape[0])})
        print(f"reference: call {counts['generateCalls']} ({'image' if with_image else 'text only'}), {n} prompt tokens, "
              f"{int(new.shape[0])} generated, {time.perf_counter() - t0:.1f} s into the search", file=sys.stderr, flush=True)
        return tokenizer.decode(new, skip_special_tokens=True)

    question_prompt = render(o["question"], True)
    answer = ""
    chosen = {}
    stage_seconds = {}
    t0 = time.perf_counter()
    complete = True
    try:
        for stage in o["stages"]:
            ts = time.perf_counter()
            name, opening, closing = stage["name"], stage["opening"], stage["closing"]
            prefix = question_prompt + answer + opening
            candidates = []
            for _ in range(o["width"]):
                text = generate(prefix, True, o["maxStageTokens"], "candidate", name, stop=closing)
                body = text.split(closing)[0]
                candidates.append({"text": opening + body + " " + closing, "content": body.strip()})
            pool = list(candidates)
            hint = "\n".join(chosen[s] for s in stage["hintStages"] if s in chosen) or None
            while len(pool) > 1:
                a, b = rng.sample(pool, 2)
                winner = None
                if name == "REASONING":  # each checked alone, text only (no image)
                    for c, other in ((a, b), (b, a)):
                        check = o["checkTemplate"].replace(HINT, chosen.get("CAPTION", "")).replace(FIRST, c["content"])
                        verdict = generate(render(check, False), False, o["maxJudgeTokens"], "check", name)
                        counts["judgeCalls"] += 1
                        if "incorrect" in verdict:  # the reference's test
                            winner = other
                            break
                if winner is None:
                    template = o["pairwiseTemplates"][name]
                    judge = template.replace(FIRST, a["content"]).replace(SECOND, b["content"]).replace(HINT, hint or "")
                    raw = generate(render(judge, True), True, o["maxJudgeTokens"], "judge", name)
                    counts["judgeCalls"] += 1
                    winner = a if "I choose response 1" in raw else b  # the reference: anything else is response 2
                pool.remove(a)
                pool.remove(b)
                pool.append(winner)
            answer += pool[0]["text"]
            chosen[name] = pool[0]["content"]
            stage_seconds[name] = time.perf_counter() - ts
    except OutOfBudget:
        complete = False
    seconds = time.perf_counter() - t0
    # The calls a full search makes (the reference's path at REASONING: both checks, then the pairwise judge,
    # which is what a verdict without "incorrect" leads to), for projecting an incomplete run.
    planned = []
    for stage in o["stages"]:
        planned += [{"role": "candidate", "stage": stage["name"]}] * o["width"]
        for _ in range(o["width"] - 1):
            if stage["name"] == "REASONING":
                planned += [{"role": "check", "stage": stage["name"]}] * 2
            planned.append({"role": "judge", "stage": stage["name"]})
    print(json.dumps({"complete": complete, "calls": calls, "plannedCalls": planned, "seconds": seconds,
                      "loadSeconds": load_seconds, "stageSeconds": stage_seconds, "counts": counts,
                      "answerChars": len(answer), "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
