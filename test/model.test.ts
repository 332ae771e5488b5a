import { mkdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AbortError, chatTemplateNames, loadModel, type Model } from "../lib/index.js";
import { backendDevices } from "../lib/native.js";
import { fixturesDir, tinyLlama } from "./fixtures/models.js";

let model: Model;

beforeAll(async () => {
  model = await loadModel({ path: tinyLlama() });
});

afterAll(async () => {
  await model.dispose();
});

describe("loadModel", () => {
  test("reports progress up to 1", async () => {
    const progress: number[] = [];
    const m = await loadModel({ path: tinyLlama(), onProgress: (p) => progress.push(p) });
    await m.dispose();
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(1);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
  });

  test("an already aborted signal rejects with AbortError", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(loadModel({ path: tinyLlama(), signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
  });

  test("registers at least the CPU backend, from the addon's folder", () => {
    const devices = backendDevices();
    expect(devices.some((d) => d.type === "cpu")).toBe(true);
  });
});

describe("metadata", () => {
  test("describes the GGUF", () => {
    const m = model.metadata;
    expect(m.architecture).toBe("llama");
    expect(m.name).toContain("tiny llama");
    expect(m.vocabSize).toBe(32000);
    expect(m.embeddingSize).toBe(64);
    expect(m.layerCount).toBe(2);
    expect(m.headCount).toBe(4);
    expect(m.kvHeadCount).toBe(2);
    expect(m.contextLength).toBe(2048);
    expect(m.parameterCount).toBeGreaterThan(4_000_000);
    expect(m.specialTokens.bos).toBe(1);
    expect(m.specialTokens.eos).toBe(2);
    expect(m.addBos).toBe(true);
    expect(m.chatTemplate).toContain("[INST]");
    expect(m.meta["general.architecture"]).toBe("llama");
    expect(m.meta["tokenizer.ggml.model"]).toBe("llama");
  });
});

describe("tokenize / detokenize", () => {
  test("round trip", () => {
    const text = "The quick brown fox jumps over 13 lazy dogs. Ünïcödé ✓ 漢字";
    const tokens = model.tokenize(text, { addSpecial: false });
    expect(tokens.length).toBeGreaterThan(5);
    expect(model.detokenize(tokens)).toBe(text);
  });

  test("text that starts with the BOS text gets no second BOS", () => {
    const tokens = model.tokenize("<s>[INST] hi [/INST]", { parseSpecial: true });
    expect(tokens.filter((t) => t === 1)).toEqual([1]);
    expect(tokens[0]).toBe(1);
  });

  test("addSpecial adds BOS", () => {
    expect(model.tokenize("hi")[0]).toBe(1);
    expect(model.tokenize("hi", { addSpecial: false })[0]).not.toBe(1);
  });

  test("parseSpecial turns special-token text into the token", () => {
    expect(model.tokenize("</s>", { addSpecial: false, parseSpecial: true })).toEqual([2]);
    expect(model.tokenize("</s>", { addSpecial: false, parseSpecial: false }).length).toBeGreaterThan(1);
  });

  test("special tokens render only when asked", () => {
    expect(model.detokenize([1, 15043])).not.toContain("<s>");
    expect(model.detokenize([1, 15043])).toContain("Hello");
    expect(model.detokenize([1, 15043], { special: true })).toContain("<s>");
  });

  test("pieces concatenate to the text and EOG is recognised", () => {
    const tokens = model.tokenize("hello world again", { addSpecial: false });
    const bytes = Buffer.concat(tokens.map((t) => Buffer.from(model.tokenPiece(t))));
    expect(bytes.toString("utf8").trim()).toBe("hello world again");
    expect(model.isEndOfGeneration(2)).toBe(true);
    expect(model.isEndOfGeneration(tokens[0]!)).toBe(false);
  });
});

describe("chat template", () => {
  test("renders the GGUF's Jinja template", () => {
    const text = model.applyChatTemplate([{ role: "user", content: "What is in the image?" }]);
    expect(text).toBe("<s>[INST] What is in the image? [/INST]");
  });

  test("falls back to llama.cpp's renderer for a template the Jinja library cannot parse", () => {
    // Unbalanced Jinja that llama.cpp still recognises as the ChatML family by its markers.
    const template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor";
    const text = model.applyChatTemplate([{ role: "user", content: "hi" }], { template });
    expect(text).toBe("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  });

  test("a name llama.cpp knows renders with llama.cpp's renderer, not as Jinja text", () => {
    expect(chatTemplateNames()).toEqual(expect.arrayContaining(["chatml", "llama3", "gemma"]));
    expect(model.applyChatTemplate([{ role: "user", content: "hi" }], { template: "chatml" })).toBe("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    expect(model.applyChatTemplate([{ role: "user", content: "hi" }], { template: "llama3" })).toBe(
      "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });

  test("a model whose file has no template: NO_CHAT_TEMPLATE naming the fix, until one is passed", async () => {
    const bare = await loadModel({ path: tinyLlama("tiny-llama-no-template", { chatTemplate: null }) });
    try {
      expect(bare.metadata.chatTemplate).toBeNull();
      expect(() => bare.applyChatTemplate([{ role: "user", content: "hi" }])).toThrow(
        expect.objectContaining({ code: "NO_CHAT_TEMPLATE", message: expect.stringMatching(/template option .*chatml/) }),
      );
      await expect(bare.reason({ question: "Why?", maxStageTokens: 2, forceStructure: "prefill", strategy: "single" })).rejects.toMatchObject({ code: "NO_CHAT_TEMPLATE" });
      const result = await bare.reason({ question: "Why?", maxStageTokens: 2, forceStructure: "prefill", strategy: "single", template: "chatml", seed: 1 });
      expect(result.text).toContain("</CONCLUSION>");
    } finally {
      await bare.dispose();
    }
  });

  test("an unrenderable, unknown template is an INVALID_ARGUMENT error", () => {
    expect(() => model.applyChatTemplate([{ role: "user", content: "hi" }], { template: "{% if %}" })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});

describe("fixtures", () => {
  test("the generator is deterministic", () => {
    mkdirSync(fixturesDir, { recursive: true });
    const a = tinyLlama("determinism-a", { seed: 7 });
    const b = tinyLlama("determinism-b", { seed: 7 });
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    const c = tinyLlama("determinism-c", { seed: 8 });
    expect(readFileSync(a).equals(readFileSync(c))).toBe(false);
  });
});
