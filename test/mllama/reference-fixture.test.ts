// The mllama parity fixture pipeline works: the pinned venv builds, the generator runs, and what it wrote is
// self-consistent. Parity tests proper (engine vs these references) live next to the engine.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { mllamaReference, readFloat32, readInt32, readReferenceTensor, type MllamaReference } from "../fixtures/mllama/reference.js";

const VOCAB = 128256;
const HEADER = [128000, 128006, 882, 128007, 271, 128256]; // <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>

let ref: MllamaReference | null = null;

beforeAll(async () => {
  ref = await mllamaReference(); // first run on a machine: about 1 min of venv plus 40 s of generation
}, 15 * 60_000);

function need(skip: (note?: string) => void): MllamaReference {
  if (!ref) skip("no Python reference environment on this machine");
  return ref!;
}

test("every manifest tensor exists with the byte size of its shape", ({ skip }) => {
  const r = need(skip);
  const tensors = Object.entries<{ file: string; shape: number[]; dtype: string }>(r.manifest.tensors);
  expect(tensors.length).toBeGreaterThan(10);
  for (const [name, { file, shape, dtype }] of tensors) {
    expect(["float32", "int32"], name).toContain(dtype);
    expect(statSync(join(r.refDir, file)).size, name).toBe(4 * shape.reduce((a, b) => a * b, 1));
  }
  // Every name a case refers to is a tensor.
  for (const group of [r.manifest.cases, r.manifest.incremental]) {
    for (const [caseName, entries] of Object.entries<Record<string, unknown>>(group)) {
      for (const [key, value] of Object.entries(entries)) {
        if (typeof value === "string") expect(r.manifest.tensors, `${caseName}.${key}`).toHaveProperty([value]);
      }
    }
  }
});

test("tokenizer: 128257 tokens, <|image|> = 128256, the image prompt header tokenizes as Llama 3.2 Vision's", ({ skip }) => {
  const r = need(skip);
  expect(r.manifest.tokenizer.size).toBe(128257);
  const tokenizer = JSON.parse(readFileSync(join(r.hfDir, "tokenizer.json"), "utf8"));
  expect(Object.keys(tokenizer.model.vocab).length + tokenizer.added_tokens.length).toBe(128257);
  const added = new Map<string, number>(tokenizer.added_tokens.map((t: { content: string; id: number }) => [t.content, t.id]));
  expect(added.get("<|image|>")).toBe(128256);
  expect([added.get("<|eom_id|>"), added.get("<|eot_id|>"), added.get("<|python_tag|>")]).toEqual([128008, 128009, 128010]);

  const headerText = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>";
  const header = r.manifest.tokenizer.cases.find((c: { text: string }) => c.text === headerText);
  expect(header.ids).toEqual(HEADER);
  expect(header.ids_with_special).toEqual([128000, ...HEADER]); // the template already emits BOS (errata b6)
  expect(Array.from(readInt32(r, r.manifest.cases.image_ar2.input_ids).subarray(0, 6))).toEqual(HEADER);
  expect(r.manifest.tokenizer.cases.length).toBeGreaterThanOrEqual(20);
});

test("chat template renderings: system block with the fixed date without images, none with an image", ({ skip }) => {
  const r = need(skip);
  const { text_only, image } = r.manifest.chat;
  expect(text_only.rendered).toContain("Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
  expect(text_only.rendered.endsWith("<|start_header_id|>assistant<|end_header_id|>\n\n")).toBe(true);
  expect(image.rendered).toBe(
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>Describe this image.<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
  );
  const template = JSON.parse(readFileSync(join(r.hfDir, "chat_template.json"), "utf8")).chat_template;
  expect(template).toContain("Prompting with images is incompatible with system messages.");
});

test("logit dumps match their prompts; incremental steps continue the chat prompt greedily", ({ skip }) => {
  const r = need(skip);
  for (const [name, c] of Object.entries<{ input_ids: string; logits: string }>(r.manifest.cases)) {
    const ids = readInt32(r, c.input_ids);
    const logits = readReferenceTensor(r, c.logits);
    expect(logits.shape, name).toEqual([ids.length, VOCAB]);
    expect(logits.data.every(Number.isFinite), name).toBe(true);
  }
  const chat = readInt32(r, r.manifest.cases.text_chat.input_ids);
  expect(chat.length).toBeGreaterThanOrEqual(30);
  const incr = r.manifest.incremental.text_chat;
  expect(Array.from(readInt32(r, incr.prefill_ids))).toEqual(Array.from(chat));
  const steps = readInt32(r, incr.step_ids);
  expect(readReferenceTensor(r, incr.step_logits).shape).toEqual([steps.length, VOCAB]);
  // The first fed token is the argmax of the prompt's last row.
  const last = readFloat32(r, r.manifest.cases.text_chat.logits).subarray((chat.length - 1) * VOCAB);
  expect(steps[0]).toBe(last.reduce((best, v, i) => (v > last[best]! ? i : best), 0));
  expect(r.manifest.patch_check.pre_image_rows_vs_text_only_max_delta).toBeLessThan(1e-5);
});

test("checkpoint: sharded Hub layout, untied head, 128264 embedding rows, a checksum per tensor", ({ skip }) => {
  const r = need(skip);
  const index = JSON.parse(readFileSync(join(r.hfDir, "model.safetensors.index.json"), "utf8"));
  const shards = new Set(Object.values<string>(index.weight_map));
  expect(shards.size).toBeGreaterThanOrEqual(2);
  for (const shard of shards) expect(existsSync(join(r.hfDir, shard))).toBe(true);
  const sums = JSON.parse(readFileSync(join(r.refDir, "tensors.json"), "utf8"));
  expect(Object.keys(sums).sort()).toEqual(Object.keys(index.weight_map).sort());
  expect(sums["language_model.model.embed_tokens.weight"].shape).toEqual([128264, 64]);
  expect(sums["language_model.lm_head.weight"].shape).toEqual([VOCAB, 64]);
  expect(sums["language_model.lm_head.weight"].sum).not.toBe(sums["language_model.model.embed_tokens.weight"].sum);
  const config = JSON.parse(readFileSync(join(r.hfDir, "config.json"), "utf8"));
  expect(config.text_config.tie_word_embeddings).toBe(false);
  expect(config.image_token_index).toBe(128256);
  expect(config.text_config.rope_parameters.rope_type).toBe("llama3");
  expect(readFloat32(r, r.manifest.rope.inv_freq).length).toBe(8); // head_dim 16
});
