import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  AbortError,
  InvalidImageError,
  InvalidModelError,
  loadModel,
  type Context,
  type Model,
  type PromptPart,
} from "../lib/index.js";
import { encodePng, pngClaiming, rgbPattern } from "./fixtures/images.js";
import { fixturesDir, tinyClip, tinyLlama } from "./fixtures/models.js";

let model: Model;
let context: Context;
const pixels = rgbPattern(56, 56, 1);
const png = encodePng(56, 56, pixels);
let pngPath: string;
const question = (image: PromptPart): PromptPart[] => ["[INST] ", image, "\nWhat is in the image? [/INST]"];

beforeAll(async () => {
  model = await loadModel({ path: tinyLlama(), projector: tinyClip() });
  context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1 });
  pngPath = join(fixturesDir, "pattern.png");
  writeFileSync(pngPath, png);
});

afterAll(async () => {
  await model.dispose();
});

describe("projector", () => {
  test("loads with progress up to 1", async () => {
    const progress: number[] = [];
    const other = await loadModel({ path: tinyLlama() });
    await other.loadProjector(tinyClip(), { onProgress: (p) => progress.push(p) });
    await other.dispose();
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(1);
  });

  test("reports its capabilities and image token count", async () => {
    const projector = model.projector!;
    expect(projector.info).toMatchObject({ vision: true, audio: false, mrope: false, nonCausal: false, marker: "<__media__>", embeddingSize: 64 });
    expect(await projector.imageTokens(56, 56)).toEqual({ tokens: 16, positions: 16 });
  });

  test("the chat template places images in user turns as media markers", async () => {
    const text = model.applyChatTemplate([{ role: "user", content: [{ type: "image" }, { type: "text", text: "\nWhat is this?" }] }]);
    expect(text).toBe("<s>[INST] <__media__>\nWhat is this? [/INST]");
    // The template's own BOS text becomes the one BOS token: none is added in front of it.
    const s = context.createSequence();
    await s.evaluate({ prompt: text, images: [png] });
    expect(s.tokens.filter((t) => t === 1)).toEqual([1]);
    expect(s.tokens[0]).toBe(1);
    await s.dispose();
  });
});

describe("evaluate once, then fork", () => {
  test("an image evaluated then forked 4 ways is encoded once; every fork equals a fresh evaluation", async () => {
    const before = context.stats.imageEncodes;
    const parent = context.createSequence();
    await parent.evaluate(question({ image: png }));
    expect(context.stats.imageEncodes - before).toBe(1);
    expect(parent.position).toBe(parent.tokens.length - 1 + 16); // text positions + 16 image positions

    const forks = await Promise.all([0, 1, 2, 3].map(() => parent.fork()));
    const forked = await context.generate(forks, { maxTokens: 12 }).result();
    expect(context.stats.imageEncodes - before).toBe(1);

    const fresh = context.createSequence();
    await fresh.evaluate(question({ image: png }));
    const [reference] = await context.generate([fresh], { maxTokens: 12 }).result();
    for (const r of forked) expect(r.tokens).toEqual(reference!.tokens);
    await Promise.all([parent, fresh, ...forks].map((s) => s.dispose()));
    expect(context.usedCells).toBe(0);
  });

  test("the image matters: another image gives another continuation", async () => {
    const run = async (image: Uint8Array) => {
      const s = context.createSequence();
      await s.evaluate(question({ image: { width: 56, height: 56, data: image } }));
      const [r] = await context.generate([s], { maxTokens: 8 }).result();
      await s.dispose();
      return r!.tokens;
    };
    expect(await run(rgbPattern(56, 56, 2))).not.toEqual(await run(rgbPattern(56, 56, 3)));
  });
});

describe("image inputs", () => {
  test("path, Buffer, data URL, raw RGB and a marked prompt give the same logits", async () => {
    const inputs: (PromptPart[] | { prompt: string; images: unknown[] })[] = [
      question({ image: pngPath }),
      question({ image: png }),
      question({ image: new Uint8Array(png) }),
      question({ image: `data:image/png;base64,${png.toString("base64")}` }),
      question({ image: { width: 56, height: 56, data: pixels } }),
      { prompt: "[INST] <__media__>\nWhat is in the image? [/INST]", images: [png] },
    ];
    const tops = [];
    for (const input of inputs) {
      const s = context.createSequence();
      const { next } = await s.evaluate(input as PromptPart[], { logprobs: { topK: 10 } });
      tops.push(next!.top);
      await s.dispose();
    }
    for (const top of tops.slice(1)) expect(top).toEqual(tops[0]);
  });

  test("images are identified by content: the id is the same whatever the input form", async () => {
    const projector = model.projector!;
    const a = await projector.loadImage(png);
    const b = await projector.loadImage({ width: 56, height: 56, data: pixels });
    expect(a.id).toMatch(/^[0-9a-f]{64}$/);
    expect(b.id).toBe(a.id);
  });
});

describe("errors", () => {
  test("corrupt or truncated image bytes are INVALID_IMAGE", async () => {
    const s = context.createSequence();
    await expect(s.evaluate(question({ image: png.subarray(0, 60) }))).rejects.toMatchObject({ code: "INVALID_IMAGE" });
    const garbage = Buffer.concat([png.subarray(0, 8), Buffer.alloc(200, 7)]);
    await expect(s.evaluate(question({ image: garbage }))).rejects.toBeInstanceOf(InvalidImageError);
    expect(s.position).toBe(0);
    await s.dispose();
  });

  test("a header claiming too many pixels is INVALID_IMAGE before anything is decoded", async () => {
    const s = context.createSequence();
    const rss = process.memoryUsage().rss;
    for (const [w, h] of [[65535, 65535], [40000, 10], [16384, 16384]]) {
      await expect(s.evaluate(question({ image: pngClaiming(w!, h!) })), `${w}x${h}`).rejects.toMatchObject({
        code: "INVALID_IMAGE",
        message: expect.stringMatching(new RegExp(`${w}x${h}: .*at most 32768`)),
      });
    }
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 1024 * 1024); // nothing of gigabytes was allocated
    expect(s.position).toBe(0);
    await s.dispose();
  });

  test("webp and unknown formats are UNSUPPORTED_IMAGE, naming the format", async () => {
    const webp = Buffer.concat([Buffer.from("RIFF"), Buffer.alloc(4), Buffer.from("WEBPVP8 "), Buffer.alloc(64)]);
    const s = context.createSequence();
    await expect(s.evaluate(question({ image: webp }))).rejects.toThrow(/webp/);
    await expect(s.evaluate(question({ image: webp }))).rejects.toMatchObject({ code: "UNSUPPORTED_IMAGE" });
    await expect(s.evaluate(question({ image: Buffer.from("hello world, not an image") }))).rejects.toMatchObject({ code: "UNSUPPORTED_IMAGE" });
    await s.dispose();
  });

  test("a missing image file is IMAGE_NOT_FOUND; wrong raw sizes are INVALID_IMAGE", async () => {
    const s = context.createSequence();
    await expect(s.evaluate(question({ image: "/nonexistent.png" }))).rejects.toMatchObject({ code: "IMAGE_NOT_FOUND" });
    await expect(s.evaluate(question({ image: { width: 56, height: 56, data: new Uint8Array(10) } }))).rejects.toMatchObject({
      code: "INVALID_IMAGE",
    });
    await s.dispose();
  });

  test("media markers that do not match the images are MEDIA_MARKER_MISMATCH", async () => {
    const s = context.createSequence();
    await expect(s.evaluate({ prompt: "<__media__> and <__media__>", images: [png] })).rejects.toMatchObject({ code: "MEDIA_MARKER_MISMATCH" });
    await expect(s.evaluate({ prompt: "no marker", images: [png] })).rejects.toMatchObject({ code: "MEDIA_MARKER_MISMATCH" });
    await s.dispose();
  });

  test("a projector whose embedding size does not match the text model is PROJECTOR_MISMATCH", async () => {
    const wrong = tinyClip("tiny-clip-32", { textEmbeddingSize: 32 });
    await expect(model.loadProjector(wrong)).rejects.toMatchObject({ code: "PROJECTOR_MISMATCH" });
    expect(model.projector).not.toBeNull();
  });

  test("a file that is not an mmproj is INVALID_PROJECTOR", async () => {
    await expect(model.loadProjector(tinyLlama())).rejects.toBeInstanceOf(InvalidModelError);
    await expect(model.loadProjector(tinyLlama())).rejects.toMatchObject({ code: "INVALID_PROJECTOR" });
  });

  test("an image that needs more cells than the context has is CONTEXT_FULL", async () => {
    const big = await loadModel({ path: tinyLlama(), projector: tinyClip("tiny-clip-448", { imageSize: 448 }) });
    const small = await big.createContext({ contextSize: 256, sequences: 1, threads: 1 });
    expect((await big.projector!.imageTokens(448, 448)).tokens).toBe(1024);
    const s = small.createSequence();
    await expect(s.evaluate(question({ image: { width: 448, height: 448, data: rgbPattern(448, 448) } }))).rejects.toMatchObject({
      code: "CONTEXT_FULL",
    });
    expect(small.usedCells).toBe(0);
    await big.dispose();
  });

  test("a failure half-way (no free cells for the image) rolls the whole evaluation back", async () => {
    const small = await model.createContext({ contextSize: 256, sequences: 2, threads: 1 });
    const filler = small.createSequence();
    await filler.evaluate(model.tokenize("x ".repeat(100)));
    // Leave 12 free cells: room for the text before the image, not for its 16 image tokens.
    await small.generate([filler], { maxTokens: small.freeCells - 12, ignoreEog: true }).result();
    expect(small.freeCells).toBe(12);
    const s = small.createSequence();
    await expect(s.evaluate(question({ image: png }))).rejects.toMatchObject({ code: "CONTEXT_FULL" });
    expect(s.position).toBe(0);
    expect(s.tokens).toEqual([]);
    expect(small.freeCells).toBe(12);
    await filler.dispose();
    await s.evaluate(question({ image: png }));
    expect(small.stats.imageEncodes).toBe(1); // counts images that made it into the cache
    await small.dispose();
  });

  test("images without a projector are NO_PROJECTOR", async () => {
    const plain = await loadModel({ path: tinyLlama() });
    const c = await plain.createContext({ contextSize: 256, sequences: 1, threads: 1 });
    await expect(c.createSequence().evaluate(question({ image: png }))).rejects.toMatchObject({ code: "NO_PROJECTOR" });
    await plain.dispose();
  });

  test("generating right after an image, with no text after it, is INVALID_ARGUMENT", async () => {
    const s = context.createSequence();
    await s.evaluate(["[INST] ", { image: png }]);
    await expect(context.generate([s]).result()).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await s.evaluate(" [/INST]");
    const [r] = await context.generate([s], { maxTokens: 3 }).result();
    expect(r!.tokens).toHaveLength(3);
    await s.dispose();
  });

  test("an aborted image evaluation leaves nothing behind", async () => {
    const s = context.createSequence();
    const controller = new AbortController();
    controller.abort();
    await expect(s.evaluate(question({ image: png }), { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
    expect(s.position).toBe(0);
    await s.dispose();
    expect(context.usedCells).toBe(0);
  });
});
