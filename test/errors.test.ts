// Every bad input becomes a typed error with a stable code; none may take the process down. Each test
// ends with the process still here; the last one proves the native layer still works afterwards.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { writeGguf } from "../lib/gguf/writer.js";
import { readGgufMetadata } from "../lib/gguf/reader.js";
import {
  ContextFullError,
  DisposedError,
  InvalidArgumentError,
  InvalidGrammarError,
  InvalidModelError,
  loadModel,
  ModelNotFoundError,
  StagebeamError,
  type Context,
  type Model,
} from "../lib/index.js";
import { fixturesDir, tinyLlama } from "./fixtures/models.js";

let model: Model;
let context: Context;

beforeAll(async () => {
  model = await loadModel({ path: tinyLlama() });
  context = await model.createContext({ contextSize: 256, sequences: 4, threads: 1 });
  mkdirSync(fixturesDir, { recursive: true });
});

afterAll(async () => {
  await model.dispose();
});

const code = (c: string) => expect.objectContaining({ code: c });

describe("model files", () => {
  test("a missing file is MODEL_NOT_FOUND", async () => {
    await expect(loadModel({ path: "/nonexistent/model.gguf" })).rejects.toBeInstanceOf(ModelNotFoundError);
    await expect(loadModel({ path: fixturesDir })).rejects.toMatchObject({ code: "MODEL_NOT_FOUND" });
  });

  test("a file that is not GGUF is INVALID_GGUF", async () => {
    const path = join(fixturesDir, "not-a-model.gguf");
    writeFileSync(path, "this is plainly not a GGUF file\n".repeat(100));
    const error = await loadModel({ path }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidModelError);
    expect(error.code).toBe("INVALID_GGUF");
  });

  test("a GGUF cut inside its header is INVALID_GGUF", async () => {
    const path = join(fixturesDir, "truncated-header.gguf");
    writeFileSync(path, readFileSync(tinyLlama()).subarray(0, 5000));
    await expect(loadModel({ path })).rejects.toMatchObject({ code: "INVALID_GGUF" });
  });

  test("a GGUF cut inside its tensor data is INVALID_GGUF", async () => {
    const full = readFileSync(tinyLlama());
    const path = join(fixturesDir, "truncated-data.gguf");
    writeFileSync(path, full.subarray(0, Math.floor(full.length * 0.6)));
    await expect(loadModel({ path })).rejects.toMatchObject({ code: "INVALID_GGUF" });
  });

  test("an unknown architecture is UNSUPPORTED_ARCHITECTURE", async () => {
    const meta = readGgufMetadata(tinyLlama());
    meta.kv.set("general.architecture", { type: 8, value: "no-such-arch" });
    const path = join(fixturesDir, "unknown-arch.gguf");
    writeGguf(path, meta.kv, []);
    const error = await loadModel({ path }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidModelError);
    expect(error.code).toBe("UNSUPPORTED_ARCHITECTURE");
    expect(error.message).toContain("no-such-arch");
  });
});

describe("context options", () => {
  test.each([
    [{ sequences: 0 }],
    [{ sequences: 100_000 }],
    [{ contextSize: -5 }],
    [{ batchSize: 16, ubatchSize: 32 }],
    [{ threads: 0 }],
    [{ contextSize: 1.5 }],
    [{ flashAttention: "maybe" as "auto" }],
    // Not numbers at all: found before the memory estimate does arithmetic on them (a fuzz find).
    [{ contextSize: Symbol("size") as unknown as number }],
    [{ threads: "2" as unknown as number }],
  ])("%j is INVALID_ARGUMENT", async (options) => {
    await expect(model.createContext(options)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe("tokens and sequences", () => {
  test.each([[[-1]], [[32000]], [[1.5]], [[Number.NaN]]])("evaluating %j is INVALID_TOKEN", async (tokens) => {
    const sequence = context.createSequence();
    await expect(sequence.evaluate(tokens)).rejects.toMatchObject({ code: "INVALID_TOKEN" });
    expect(sequence.length).toBe(0);
    await sequence.dispose();
  });

  test("detokenizing an out-of-range token is INVALID_TOKEN", () => {
    expect(() => model.detokenize([5, 999_999])).toThrow(StagebeamError);
    expect(() => model.detokenize([5, 999_999])).toThrow(code("INVALID_TOKEN"));
  });

  test("a prompt longer than the context is CONTEXT_FULL, and the sequence is unchanged", async () => {
    const sequence = context.createSequence();
    await expect(sequence.evaluate("word ".repeat(400))).rejects.toBeInstanceOf(ContextFullError);
    expect(sequence.length).toBe(0);
    expect(context.usedCells).toBe(0);
    await sequence.dispose();
  });

  test("generating from an empty sequence is INVALID_ARGUMENT", async () => {
    const sequence = context.createSequence();
    await expect(context.generate([sequence]).result()).rejects.toBeInstanceOf(InvalidArgumentError);
    await sequence.dispose();
  });

  test("the same sequence twice, or another context's sequence, is INVALID_ARGUMENT", async () => {
    const sequence = context.createSequence();
    await sequence.evaluate("hi");
    await expect(context.generate([sequence, sequence]).result()).rejects.toBeInstanceOf(InvalidArgumentError);
    const other = await model.createContext({ contextSize: 64, sequences: 1, threads: 1 });
    await expect(other.generate([sequence]).result()).rejects.toBeInstanceOf(InvalidArgumentError);
    await other.dispose();
    await expect(context.generate([sequence], { maxTokens: -1 }).result()).rejects.toBeInstanceOf(InvalidArgumentError);
    await sequence.dispose();
  });
});

describe("sampling", () => {
  test.each([
    [{ temperature: -1 }],
    [{ temperature: Number.NaN }],
    [{ topP: 2 }],
    [{ topK: -3 }],
    [{ seed: -1 }],
    [{ logitBias: [[40_000, 1]] as [number, number][] }],
    [{ logitBias: "no" as unknown as [number, number][] }],
  ])("%j is rejected with a typed error", (sampling) => {
    expect(() => context.createSequence({ sampling })).toThrow(StagebeamError);
    expect(context.freeSequences).toBe(4);
  });

  test("a grammar that does not parse is INVALID_GRAMMAR", () => {
    expect(() => context.createSequence({ sampling: { grammar: 'root ::= "unterminated' } })).toThrow(InvalidGrammarError);
    expect(() => context.createSequence({ sampling: { grammar: 'start ::= "a"' } })).toThrow(code("INVALID_GRAMMAR"));
  });

  test("forbidding every token is SAMPLING_FAILED, not an abort", async () => {
    const logitBias = Array.from({ length: 32000 }, (_, t) => [t, -Infinity] as [number, number]);
    const sequence = context.createSequence({ sampling: { logitBias } });
    await sequence.evaluate("hi");
    await expect(context.generate([sequence], { maxTokens: 2 }).result()).rejects.toMatchObject({ code: "SAMPLING_FAILED" });
    await sequence.dispose();
  });
});

describe("disposed objects", () => {
  test("using a disposed sequence, context or model is DISPOSED", async () => {
    const m = await loadModel({ path: tinyLlama() });
    const c = await m.createContext({ contextSize: 64, sequences: 2, threads: 1 });
    const s = c.createSequence();
    await s.dispose();
    await expect(s.evaluate("x")).rejects.toBeInstanceOf(DisposedError);
    await expect(s.fork()).rejects.toBeInstanceOf(DisposedError);
    await c.dispose();
    expect(() => c.createSequence()).toThrow(DisposedError);
    await m.dispose();
    expect(() => m.tokenize("x")).toThrow(DisposedError);
    await expect(m.createContext()).rejects.toBeInstanceOf(DisposedError);
  });
});

test("after all of the above the process and the native layer still work", async () => {
  const sequence = context.createSequence();
  await sequence.evaluate("still alive");
  const [r] = await context.generate([sequence], { maxTokens: 4 }).result();
  expect(r!.tokens).toHaveLength(4);
  await sequence.dispose();
});
