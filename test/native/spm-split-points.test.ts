// Long texts for SentencePiece vocabularies are tokenized in pieces (native/spm_split_points.h), because
// llama.cpp's SPM tokenizer is quadratic in characters it spells in bytes. The pieces must give exactly
// the tokens of one call: checked here on random texts built to tempt every way a cut could go wrong
// (merges across it, the space prefix each call adds, special-token text at its edges, whitespace
// stripping), with pieces of 1 byte (a cut at every boundary allowed) to 64 bytes.
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { gguf, writeGguf } from "../../lib/gguf/writer.js";
import { readGgufMetadata } from "../../lib/gguf/reader.js";
import { loadModel, type Model } from "../../lib/index.js";
import { seededRandom } from "../../lib/seeded-random.js";
import { fixturesDir, llamaCppDir, tinyLlama } from "../fixtures/models.js";

const WHOLE = 2 ** 30; // a piece length no test text reaches: one llama_tokenize call

/**
 * A vocabulary file like `name`'s with tokenizer.ggml.add_space_prefix set (absent in the shipped files,
 * so true), and some tokens retyped as user-defined: the special-token pass cuts those out of any text.
 */
function vocabVariant(name: string, addSpacePrefix: boolean, userDefined: readonly string[] = []): string {
  const path = join(fixturesDir, `vocab-${name}-prefix-${addSpacePrefix}-user-${userDefined.length}.gguf`);
  if (existsSync(path)) return path;
  const kv = new Map(readGgufMetadata(join(llamaCppDir, "models", `ggml-vocab-${name}.gguf`)).kv);
  kv.set("tokenizer.ggml.add_space_prefix", gguf.bool(addSpacePrefix));
  const tokens = kv.get("tokenizer.ggml.tokens")!.value as string[];
  const types = [...(kv.get("tokenizer.ggml.token_type")!.value as number[])];
  for (const text of userDefined) {
    const id = tokens.indexOf(text);
    if (id < 0) throw new Error(`${name} has no token ${text}`);
    types[id] = 4; // USER_DEFINED
  }
  kv.set("tokenizer.ggml.token_type", gguf.i32s(types));
  mkdirSync(fixturesDir, { recursive: true });
  writeGguf(`${path}.${process.pid}.partial`, kv, []);
  renameSync(`${path}.${process.pid}.partial`, path);
  return path;
}

const PARTS = [
  "the", "hello", "world", "a", "ab", "tion", ",", ".", "123", "é", "ü", "Ω", "😀", "🇫🇷", "漢字", "中文测试", "テスト",
  " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", "\u00a0", "▁", "▁▁", "<s>", "</s>", "<unk>", "<0x41>", "[INST]", "<<SYS>>",
  "<|endoftext|>", "<|user|>", "<|end|>", "x".repeat(40), "😀".repeat(30), "漢".repeat(20),
];

function randomText(seed: number, bytes: number): string {
  const random = seededRandom(seed);
  let text = "";
  while (Buffer.byteLength(text) < bytes) text += PARTS[Math.floor(random() * PARTS.length)];
  return text;
}

const SHAPE = { layers: 1, embeddingSize: 16, heads: 2, kvHeads: 1, feedForwardSize: 32 };

const vocabularies = [
  { name: "llama-spm", path: () => tinyLlama("tiny-llama-spm-split", { vocabPath: join(llamaCppDir, "models", "ggml-vocab-llama-spm.gguf"), ...SHAPE }) },
  { name: "phi-3", path: () => tinyLlama("tiny-llama-phi3-split", { vocabPath: join(llamaCppDir, "models", "ggml-vocab-phi-3.gguf"), ...SHAPE }) },
  { name: "baichuan", path: () => tinyLlama("tiny-llama-baichuan-split", { vocabPath: join(llamaCppDir, "models", "ggml-vocab-baichuan.gguf"), ...SHAPE }) },
  {
    name: "llama-spm without the space prefix",
    path: () => tinyLlama("tiny-llama-spm-noprefix-split", { vocabPath: vocabVariant("llama-spm", false), ...SHAPE }),
  },
  {
    name: "llama-spm with user-defined tokens",
    path: () => tinyLlama("tiny-llama-spm-user-split", { vocabPath: vocabVariant("llama-spm", true, ["tion", "hello", ",", "ab"]), ...SHAPE }),
  },
];

describe.each(vocabularies)("$name", ({ path }) => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel({ path: path(), gpuLayers: 0 });
  });
  afterAll(async () => {
    await model.dispose();
  });

  test("in pieces or in one call, the same tokens", () => {
    let compared = 0;
    for (let seed = 1; seed <= 24; seed++) {
      const text = randomText(seed, 3000);
      for (const [addSpecial, parseSpecial] of [[true, false], [false, false], [true, true], [false, true]] as const) {
        const whole = Array.from(model.native.tokenize(text, addSpecial, parseSpecial, WHOLE));
        for (const pieceBytes of [1, 16, 64]) {
          const pieces = Array.from(model.native.tokenize(text, addSpecial, parseSpecial, pieceBytes));
          expect(pieces, `seed ${seed}, addSpecial ${addSpecial}, parseSpecial ${parseSpecial}, pieces of ${pieceBytes}`).toEqual(whole);
          compared += 1;
        }
      }
    }
    expect(compared).toBe(24 * 4 * 3);
  });

  test("texts that cannot be cut anywhere (all spaces, one long word) are tokenized whole", () => {
    for (const text of [" ".repeat(5000), "x".repeat(5000), "▁".repeat(2000), "\n \n".repeat(2000)]) {
      expect(Array.from(model.native.tokenize(text, true, false, 16))).toEqual(Array.from(model.native.tokenize(text, true, false, WHOLE)));
    }
  });

  test("the public tokenize() gives one call's tokens for a long text", () => {
    const text = randomText(99, 40_000); // over twice the default piece length: tokenized in pieces
    expect(model.tokenize(text)).toEqual(Array.from(model.native.tokenize(text, true, false, WHOLE)));
    expect(model.tokenize(text, { parseSpecial: true, addSpecial: false })).toEqual(Array.from(model.native.tokenize(text, false, true, WHOLE)));
  });
});
