// The tiny random-weight mllama pair: readable, in the converter's layout, with Llama 3.2 Vision's
// vocabulary (128257 tokens), seeded, and a chat template that places images.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { beforeAll, expect, test } from "vitest";
import { readGgufMetadata, type GgufMetadata } from "../../lib/gguf/reader.js";
import { TINY_MLLAMA, writeTinyMllama } from "../../lib/gguf/tiny-mllama.js";
import { GgmlType } from "../../lib/gguf/types.js";
import { PAIR_ID_KEY, textLayout, visionLayout } from "../../lib/mllama/gguf-layout.js";
import { llama3RopeFactors } from "../../lib/mllama/rope-freqs.js";
import { TokenType } from "../../lib/mllama/tokenizer-json.js";
import { fixturesDir, llamaCppDir, vocabPath } from "../fixtures/models.js";

const dir = join(fixturesDir, "tiny-mllama-test");
let pair: { model: string; projector: string };
let text: GgufMetadata;
let vision: GgufMetadata;

beforeAll(() => {
  rmSync(dir, { recursive: true, force: true });
  pair = writeTinyMllama({ dir, seed: 5, vocabPath: vocabPath("llama-bpe") });
  text = readGgufMetadata(pair.model);
  vision = readGgufMetadata(pair.projector);
});

const value = (m: GgufMetadata, key: string) => m.kv.get(key)?.value;

test("writes a readable pair in the converter's layout", () => {
  expect(text.tensors.map((t) => [t.name, t.dims])).toEqual(textLayout(TINY_MLLAMA.text).map((t) => [t.name, t.dims]));
  expect(vision.tensors.map((t) => [t.name, t.dims])).toEqual(visionLayout(TINY_MLLAMA.vision, 64).map((t) => [t.name, t.dims]));
  expect(text.tensors.find((t) => t.name === "token_embd.weight")!.dims).toEqual([64, 128264]);
  expect(text.tensors.find((t) => t.name === "output.weight")!.dims).toEqual([64, 128256]);
  expect(text.tensors.every((t) => t.type === GgmlType.F32)).toBe(true);
  expect(value(text, "general.architecture")).toBe("mllama");
  expect(value(text, "mllama.block_count")).toBe(5);
  expect(value(text, "mllama.attention.cross_attention_layers")).toEqual([1, 3]);
  expect(value(text, "mllama.vocab_size")).toBe(128256);
  expect(value(text, "mllama.image_token_index")).toBe(128256);
  expect(value(vision, "general.type")).toBe("projector");
  expect(value(vision, "mllama.vision.projection_dim")).toBe(64);
  expect(value(vision, "mllama.vision.block_count")).toBe(4);
  expect(value(vision, "mllama.vision.global.block_count")).toBe(2);
  expect(value(vision, PAIR_ID_KEY)).toBe(value(text, PAIR_ID_KEY));
});

test("the vocabulary is llama.cpp's Llama 3 BPE with Llama 3.2 Vision's special names and <|image|>", () => {
  const base = readGgufMetadata(vocabPath("llama-bpe"));
  const tokens = value(text, "tokenizer.ggml.tokens") as string[];
  const types = value(text, "tokenizer.ggml.token_type") as number[];
  expect(tokens).toHaveLength(128257);
  expect(tokens.slice(0, 128000)).toEqual((value(base, "tokenizer.ggml.tokens") as string[]).slice(0, 128000));
  expect(value(text, "tokenizer.ggml.merges")).toEqual(value(base, "tokenizer.ggml.merges"));
  expect([tokens[128000], tokens[128004], tokens[128008], tokens[128009], tokens[128010], tokens[128011], tokens[128255]]).toEqual([
    "<|begin_of_text|>",
    "<|finetune_right_pad_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
    "<|reserved_special_token_2|>",
    "<|reserved_special_token_246|>",
  ]);
  expect([tokens[128256], types[128256]]).toEqual(["<|image|>", TokenType.CONTROL]);
  expect(types.slice(128000).every((t) => t === TokenType.CONTROL)).toBe(true);
  expect([value(text, "tokenizer.ggml.bos_token_id"), value(text, "tokenizer.ggml.eos_token_id"), value(text, "tokenizer.ggml.padding_token_id")]).toEqual([128000, 128009, 128004]);
  expect(value(text, "tokenizer.ggml.pre")).toBe("llama-bpe");
});

test("llama3 rope_freqs, and gates that make the cross and vision paths matter", () => {
  const read = (path: string, meta: GgufMetadata, name: string) => {
    const t = meta.tensors.find((x) => x.name === name)!;
    return new Float32Array(new Uint8Array(readFileSync(path).subarray(meta.dataOffset + t.offset, meta.dataOffset + t.offset + t.byteLength!)).buffer);
  };
  expect(read(pair.model, text, "rope_freqs.weight")).toEqual(llama3RopeFactors(500000, 16, TINY_MLLAMA.text.ropeScaling!));
  expect(Math.abs(read(pair.model, text, "blk.1.cross_attn_attn_gate")[0]!)).toBeGreaterThan(0);
  const position = read(pair.projector, vision, "v.position_embd.gate")[0]!;
  const tile = read(pair.projector, vision, "v.tile_position_embd.gate")[0]!;
  expect(position + tile).toBeCloseTo(1, 6); // (1 − tanh g) + tanh g
});

test("the same seed writes the same files; another seed other weights", () => {
  const again = writeTinyMllama({ dir: join(dir, "again"), seed: 5, vocabPath: vocabPath("llama-bpe") });
  expect(readFileSync(again.model).equals(readFileSync(pair.model))).toBe(true);
  expect(readFileSync(again.projector).equals(readFileSync(pair.projector))).toBe(true);
  const other = writeTinyMllama({ dir: join(dir, "other"), seed: 6, vocabPath: vocabPath("llama-bpe"), type: "q8_0" });
  const meta = readGgufMetadata(other.model);
  expect(meta.tensors.find((t) => t.name === "blk.0.attn_q.weight")!.type).toBe(GgmlType.Q8_0);
  expect(value(meta, PAIR_ID_KEY)).not.toBe(value(text, PAIR_ID_KEY));
});

test("the chat template places <|image|> and drops the system block with an image", () => {
  const template = new Template(value(text, "tokenizer.chat_template") as string);
  const render = (messages: unknown[]) => template.render({ messages, add_generation_prompt: true, bos_token: "<|begin_of_text|>", date_string: "26 Jul 2024" });
  expect(render([{ role: "user", content: [{ type: "image" }, { type: "text", text: "What is this?" }] }])).toBe(
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>What is this?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  );
  expect(render([{ role: "user", content: "Hi" }])).toBe(
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  );
});

// An independent reader: llama.cpp's gguf-py parses the projector (alignment, offsets, sizes, values) when
// python3 with numpy is there. (The model's 400k vocabulary strings take gguf-py ~20 s; convert.test.ts
// checks a whole converted pair the same way.)
const python = spawnSync("python3", ["-c", "import numpy"], { encoding: "utf8" });
test.skipIf(python.status !== 0)("llama.cpp's gguf-py reads the projector, values included", () => {
  const script = `
import sys
sys.path.insert(0, sys.argv[1])
from gguf import GGUFReader
r = GGUFReader(sys.argv[2])
t = {x.name: x for x in r.tensors}
print(len(r.tensors), list(t["mm.0.weight"].data.shape), repr(float(t["v.tile_position_embd.gate"].data[0])))
`;
  const r = spawnSync("python3", ["-c", script, join(llamaCppDir, "gguf-py"), pair.projector], { encoding: "utf8" });
  expect(r.stderr).toBe("");
  const gate = vision.tensors.find((t) => t.name === "v.tile_position_embd.gate")!;
  const bytes = readFileSync(pair.projector).subarray(vision.dataOffset + gate.offset, vision.dataOffset + gate.offset + 4);
  expect(r.stdout.trim()).toBe(`${vision.tensors.length} [64, 96] ${String(bytes.readFloatLE(0))}`);
});
