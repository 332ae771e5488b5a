// Our greedy continuation of a raw prompt must equal what llama.cpp's own examples/simple prints for
// the same model: same sources, same build flags (scripts/prepare-native.mjs --peers builds it).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { loadModel, type Context, type Model } from "../lib/index.js";
import { writeFileSync } from "node:fs";
import { encodePng, rgbPattern } from "./fixtures/images.js";
import { fixturesDir, llamaBinDir, tinyClip, tinyLlama } from "./fixtures/models.js";

const llamaSimple = join(llamaBinDir, "llama-simple");
const llamaMtmdCli = join(llamaBinDir, "llama-mtmd-cli");
let model: Model;
let context: Context;

beforeAll(async () => {
  for (const tool of [llamaSimple, llamaMtmdCli]) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing: build llama.cpp's reference tools with \`npm run build:peers\``);
  }
  model = await loadModel({ path: tinyLlama(), projector: tinyClip() });
  context = await model.createContext({ contextSize: 512, sequences: 2, threads: 1 });
});

afterAll(async () => {
  await model.dispose();
});

const pieces = (tokens: readonly number[]) =>
  Buffer.concat(tokens.map((t) => Buffer.from(model.native.tokenPiece(t, true)))).toString("utf8");

test.each([
  ["Hello my name is"],
  ["Über den Wolken: 42 × 7 = ?"],
])("greedy continuation of %j equals llama-simple's", async (prompt) => {
  const nPredict = 16;
  // llama-simple runs with its default 4 threads, slow on 2 cores but deterministic.
  const stdout = execFileSync(llamaSimple, ["-m", tinyLlama(), "-n", String(nPredict), prompt], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
    timeout: 60_000,
  });

  const sequence = context.createSequence();
  await sequence.evaluate(prompt); // BOS added, special text parsed: as llama-simple tokenizes
  const promptText = pieces(sequence.tokens);
  const [result] = await context.generate([sequence], { maxTokens: nPredict }).result();
  await sequence.dispose();

  expect(stdout.startsWith(promptText)).toBe(true);
  const theirs = stdout.slice(promptText.length).replace(/\n$/, "");
  const eog = result!.stopReason === "eog";
  const ours = pieces(eog ? result!.tokens.slice(0, -1) : result!.tokens);
  expect(ours.length).toBeGreaterThan(0);
  expect(ours).toBe(theirs);
}, 120_000);

test.each([
  ["What is in the image?", 1],
  ["Describe every object you can see, one by one.", 2],
])("with an image, greedy continuation of %j equals llama-mtmd-cli's", async (question, seed) => {
  const image = join(fixturesDir, `parity-${seed}.png`);
  writeFileSync(image, encodePng(56, 56, rgbPattern(56, 56, seed)));
  const nPredict = 12;
  const stdout = execFileSync(
    llamaMtmdCli,
    ["-m", tinyLlama(), "--mmproj", tinyClip(), "--image", image, "-p", question, "-n", String(nPredict), "--temp", "0", "-t", "1"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 60_000 },
  );

  // mtmd-cli renders the user turn with the model's chat template and puts the image marker first.
  const prompt = model
    .applyChatTemplate([{ role: "user", content: [{ type: "image" }, { type: "text", text: question }] }])
    .replace(/^<s>/, ""); // BOS is added as a token, as mtmd-cli does
  const sequence = context.createSequence();
  await sequence.evaluate({ prompt, images: [image] });
  const [result] = await context.generate([sequence], { maxTokens: nPredict }).result();
  await sequence.dispose();

  const eog = result!.stopReason === "eog";
  const ours = pieces(eog ? result!.tokens.slice(0, -1) : result!.tokens);
  expect(ours.trim().length).toBeGreaterThan(0);
  expect(stdout).toContain(ours);
  expect(stdout.trim()).toBe(ours.trim());
}, 120_000);
