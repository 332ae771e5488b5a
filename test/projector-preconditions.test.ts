// checkProjectorFile refuses what would make libmtmd abort or dereference null, and accepts every layout
// libmtmd itself accepts: here the one the checks could get wrong, an mlp projector whose feed-forward
// weights are stored the other way round (libmtmd swaps them back), which must still load and encode.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { readGgufMetadata } from "../lib/gguf/reader.js";
import { GgufType, type GgufValue } from "../lib/gguf/types.js";
import { writeGguf } from "../lib/gguf/writer.js";
import { loadModel, type Model } from "../lib/index.js";
import { checkProjectorFile } from "../lib/projector-preconditions.js";
import { encodePng, rgbPattern } from "./fixtures/images.js";
import { fixturesDir, tinyClip, tinyLlama } from "./fixtures/models.js";

/**
 * The tiny clip fixture rewritten: `rename` maps old tensor names to new ones, `dims` replaces a tensor's
 * dims, `kv` replaces metadata values.
 */
function variant(
  name: string,
  rename: Readonly<Record<string, string>>,
  dims: Readonly<Record<string, readonly number[]>> = {},
  kv: Readonly<Record<string, GgufValue>> = {},
): string {
  const source = tinyClip();
  const meta = readGgufMetadata(source);
  const bytes = readFileSync(source);
  const path = join(fixturesDir, `${name}.${process.pid}.gguf`);
  writeGguf(
    path,
    new Map([...meta.kv, ...Object.entries(kv)]),
    meta.tensors.map((t) => ({
      name: rename[t.name] ?? t.name,
      dims: [...(dims[t.name] ?? t.dims)],
      type: t.type,
      // A replaced shape gets zeros of its size (F32, the fixture's type): the writer checks sizes.
      encoded: () => [dims[t.name] ? new Uint8Array(dims[t.name]!.reduce((a, b) => a * b, 4)) : bytes.subarray(meta.dataOffset + t.offset, meta.dataOffset + t.offset + t.byteLength!)],
    })),
  );
  return path;
}

let model: Model;
const written: string[] = [];
beforeAll(async () => {
  model = await loadModel({ path: tinyLlama() });
});
afterAll(async () => {
  await model.dispose();
  for (const path of written) rmSync(path, { force: true });
});

test("feed-forward weights stored the other way round pass, load and encode an image", async () => {
  const swap: Record<string, string> = {};
  for (const t of readGgufMetadata(tinyClip()).tensors) {
    if (t.name.includes("ffn_up")) swap[t.name] = t.name.replace("ffn_up", "ffn_down");
    if (t.name.includes("ffn_down")) swap[t.name] = t.name.replace("ffn_down", "ffn_up");
  }
  const path = variant("tiny-clip-ffn-swapped", swap);
  written.push(path);
  expect(() => checkProjectorFile(path)).not.toThrow();
  const projector = await model.loadProjector(path, { threads: 1, useGpu: false });
  const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 1 });
  const sequence = await context.createSequenceFrom([{ image: encodePng(28, 28, rgbPattern(28, 28, 3)) }, "Hi"]);
  expect(sequence.tokens.length).toBeGreaterThan(1);
  await context.dispose();
  await projector.dispose?.();
});

test.each([
  ["a missing projection bias", { "mm.0.bias": "mm.0.bias.renamed" }, {}, /lacks mm\.0\.bias/],
  ["a missing query weight", { "v.blk.0.attn_q.weight": "v.blk.0.attn_q.weigh" }, {}, /lacks v\.blk\.0\.attn_q\.weight/],
  ["a bias as wide as nothing it is added to", {}, { "mm.2.bias": [17] }, /mm\.2\.bias is \[17\]/],
  ["too few position embeddings", {}, { "v.position_embd.weight": [32, 3] }, /v\.position_embd\.weight/],
] as const)("%s is INVALID_PROJECTOR, before libmtmd sees the file", (what, rename, dims, message) => {
  const path = variant(`tiny-clip-${what.replaceAll(" ", "-")}`, rename, dims);
  written.push(path);
  expect(() => checkProjectorFile(path)).toThrow(message);
  try {
    checkProjectorFile(path);
  } catch (error) {
    expect((error as { code: string }).code).toBe("INVALID_PROJECTOR");
  }
});

test.each([
  ["clip.vision.image_size", { type: GgufType.UINT8, value: 56 }, "a uint8"],
  ["clip.vision.image_size", { type: GgufType.INT32, value: 56 }, "an int32"],
  ["clip.use_gelu", { type: GgufType.UINT32, value: 1 }, "a uint32"],
  ["clip.projector_type", { type: GgufType.ARRAY, itemType: GgufType.STRING, value: ["mlp"] }, "an array of string"],
  ["clip.vision.attention.layer_norm_epsilon", { type: GgufType.FLOAT64, value: 1e-5 }, "a float64"],
] as [string, GgufValue, string][])("%s stored as another type than libmtmd reads is INVALID_PROJECTOR, not an abort (%j)", async (key, value, got) => {
  const path = variant(`tiny-clip-type-${key}-${value.type}`, {}, {}, { [key]: value });
  written.push(path);
  expect(() => checkProjectorFile(path)).toThrow(expect.objectContaining({ code: "INVALID_PROJECTOR", message: expect.stringContaining(`${key} is ${got}`) }));
  // through the public API too: the model stays usable
  await expect(model.loadProjector(path, { threads: 1, useGpu: false })).rejects.toMatchObject({ code: "INVALID_PROJECTOR" });
});
