// M-RoPE (Qwen2-VL family): an image advances positions by its n_pos, far less than its token count,
// and positions only move forward — the sequence must track n_past itself.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { loadModel, type Context, type Model, type PromptPart } from "../lib/index.js";
import { encodePng, rgbPattern } from "./fixtures/images.js";
import { fixturesDir, llamaBinDir, tinyQwen2vl } from "./fixtures/models.js";

let model: Model;
let context: Context;
const fixture = () => tinyQwen2vl();
const png = encodePng(112, 84, rgbPattern(112, 84, 5));
const ask = (question: string): PromptPart[] => ["[INST] ", { image: png }, `\n${question} [/INST]`];

beforeAll(async () => {
  model = await loadModel({ path: fixture().model, projector: fixture().projector });
  context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1, prefixCache: { sequences: 2 } });
});

afterAll(async () => {
  await model.dispose();
});

test("the projector reports M-RoPE and an image takes fewer positions than tokens", async () => {
  expect(model.projector!.info.mrope).toBe(true);
  expect(await model.projector!.imageTokens(112, 84)).toEqual({ tokens: 12, positions: 4 });
  const s = context.createSequence();
  await s.evaluate(ask("What is this?"));
  expect(s.position).toBe(s.tokens.length - 1 + 4);
  await s.dispose();
});

test("forks after an M-RoPE image continue exactly like a fresh evaluation", async () => {
  const parent = context.createSequence();
  await parent.evaluate(ask("What is this?"));
  const forks = await Promise.all([0, 1, 2].map(() => parent.fork()));
  const results = await context.generate(forks, { maxTokens: 10 }).result();
  const fresh = context.createSequence();
  await fresh.evaluate(ask("What is this?"));
  const [reference] = await context.generate([fresh], { maxTokens: 10 }).result();
  for (const r of results) expect(r.tokens).toEqual(reference!.tokens);
  await Promise.all([parent, fresh, ...forks].map((s) => s.dispose()));
});

test("the prefix cache serves a new question after an M-RoPE image without re-encoding it", async () => {
  const first = await context.createSequenceFrom(ask("What is this?"));
  const encodes = context.stats.imageEncodes;
  const second = await context.createSequenceFrom(ask("Where was it taken?"));
  expect(context.stats.imageEncodes).toBe(encodes);
  const [fromCache] = await context.generate([second], { maxTokens: 10 }).result();
  const fresh = context.createSequence();
  await fresh.evaluate(ask("Where was it taken?"));
  const [reference] = await context.generate([fresh], { maxTokens: 10 }).result();
  expect(fromCache!.tokens).toEqual(reference!.tokens);
  await Promise.all([first, second, fresh].map((s) => s.dispose()));
});

test("greedy continuation equals llama-mtmd-cli's", async () => {
  const image = join(fixturesDir, "mrope.png");
  writeFileSync(image, png);
  const question = "What is in the image?";
  const stdout = execFileSync(
    join(llamaBinDir, "llama-mtmd-cli"),
    ["-m", fixture().model, "--mmproj", fixture().projector, "--image", image, "-p", question, "-n", "12", "--temp", "0", "-t", "1"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 60_000 },
  );
  const prompt = model
    .applyChatTemplate([{ role: "user", content: [{ type: "image" }, { type: "text", text: question }] }])
    .replace(/^<s>/, "");
  const s = context.createSequence();
  await s.evaluate({ prompt, images: [image] });
  const [r] = await context.generate([s], { maxTokens: 12 }).result();
  await s.dispose();
  const ours = Buffer.concat(r!.tokens.filter((t) => !model.isEndOfGeneration(t)).map((t) => Buffer.from(model.native.tokenPiece(t, true)))).toString();
  expect(ours.trim().length).toBeGreaterThan(0);
  expect(stdout.trim()).toBe(ours.trim());
}, 60_000);
