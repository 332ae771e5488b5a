#!/usr/bin/env node
// `npm run eval:train`: the small VLM on which `stagebeam eval` measures what search buys, made here from
// one seed: generate the synthetic data (lib/synthetic) → tokenize it with the project's own addon exactly
// as the search will prompt (chat template, libmtmd's chunks, the judges' split prompts and forced
// answers) → train in torch (eval/train/tiny_llava.py, CPU) → export to GGUF + mmproj with the project's
// writer (lib/gguf/trained-llava.ts). Cached in eval/.models/<key>, the key hashing seed, sizes and the
// training code, so a rerun reuses the model. Prints each step's wall time.
// Usage: node scripts/eval-train.mjs [--seed N] [--train-seconds S] [--force] [--print-dir]
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { evalRow, generateSplit, stagedAnswer } from "../dist/synthetic/dataset.js";
import { judgeExamples } from "../dist/synthetic/judge-pairs.js";
import { writeTinyClip } from "../dist/gguf/tiny-clip.js";
import { writeTinyLlama } from "../dist/gguf/tiny-llama.js";
import { writeTrainedLlava } from "../dist/gguf/trained-llava.js";
import { questionPrompt } from "../dist/eval/question-prompt.js";
import { FORCED_CHOICE_PREFIX, FORCED_VERDICT_PREFIX, pairwisePrompt } from "../dist/reasoning/judge-prompts.js";
import { deriveSeed } from "../dist/reasoning/seeds.js";
import { seededRandom } from "../dist/seeded-random.js";
import { loadModel } from "../dist/model.js";
import { preparePrompt } from "../dist/prompt.js";
import { render } from "../dist/synthetic/raster.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "0" },
    "train-seconds": { type: "string", default: "2100" },
    force: { type: "boolean", default: false },
    /** Only print the cache folder of this seed's model (for scripts/eval-run.mjs). */
    "print-dir": { type: "boolean", default: false },
  },
});
const seed = Number(values.seed);
const trainSeconds = Number(values["train-seconds"]);

/** Sizes: trained within the time budget on 2 cores, and fast enough that 500 rows × 6 searches fit ~20 min. */
export const MODEL = { embd: 192, layers: 4, heads: 4, ff: 576, v_embd: 128, v_layers: 3, v_heads: 4, v_ff: 384, image_size: 64, patch: 8 };
const DATA = { train: Number(process.env.EVAL_TRAIN_ITEMS ?? 10000), heldOut: 500 };
const config = { ...MODEL, seed, lr: 2e-3, batch_tokens: 5000, train_seconds: trainSeconds, threads: 2 };

const trainer = join(root, "eval", "train", "tiny_llava.py");
/** Raise when the training examples this script makes change (the cache key does not read this file). */
const EXAMPLES_VERSION = 2;
const key = createHash("sha256")
  .update(JSON.stringify({ config, DATA, EXAMPLES_VERSION }))
  .update(readFileSync(trainer))
  .digest("hex")
  .slice(0, 12);
const dir = join(root, "eval", ".models", `seed${seed}-${key}`);
const modelPath = join(dir, "model.gguf");
const projectorPath = join(dir, "mmproj.gguf");
const vocabPath = join(root, "llama.cpp", "models", "ggml-vocab-llama-spm.gguf");
const python = join(root, "eval", ".venv", "bin", "python");

if (values["print-dir"]) {
  console.log(dir);
  process.exit(0);
}
const clock = Date.now();
const lap = (what, since) => process.stderr.write(`${what}: ${((Date.now() - since) / 1000).toFixed(1)} s\n`);
if (existsSync(modelPath) && existsSync(projectorPath) && !values.force) {
  process.stderr.write(`cached: ${dir}\n`);
  console.log(dir);
  process.exit(0);
}
if (!existsSync(python)) {
  process.stderr.write(`no training venv at ${python}: python3 -m venv eval/.venv && eval/.venv/bin/pip install torch==2.13.0+cpu numpy==2.4.6 (from the local wheelhouse)\n`);
  process.exit(2);
}
mkdirSync(dir, { recursive: true });

// 1. data
let t = Date.now();
const { train, heldOut } = generateSplit({ seed, train: DATA.train, heldOut: DATA.heldOut, size: MODEL.image_size });
writeFileSync(join(dir, "heldout.jsonl"), heldOut.map((item) => JSON.stringify(evalRow(item))).join("\n") + "\n");
lap(`data (${train.length} training items, ${heldOut.length} held out)`, t);

// 2. tokenize through the addon, with a random-weight model of the same vocabulary, chat template and
// projector geometry (the tokens depend on nothing else)
t = Date.now();
const tokDir = join(dir, "tokenizer");
mkdirSync(tokDir, { recursive: true });
writeTinyLlama(join(tokDir, "model.gguf"), { vocabPath, embeddingSize: 64 });
writeTinyClip(join(tokDir, "mmproj.gguf"), { textEmbeddingSize: 64, imageSize: MODEL.image_size, patchSize: MODEL.patch });
const model = await loadModel({ path: join(tokDir, "model.gguf"), projector: join(tokDir, "mmproj.gguf") });
const eos = model.metadata.specialTokens.eos;
const userTurn = (text, image) => model.applyChatTemplate([{ role: "user", content: image ? [{ type: "image" }, { type: "text", text }] : text }]);
/** A prompt as a sequence evaluates it: text tokens, -1 for each image position. */
async function promptIds(prompt, image) {
  const prepared = await preparePrompt(model, image ? { prompt, images: [image] } : prompt, { addSpecial: true, parseSpecial: true });
  return prepared.segments.flatMap((s) => (s.type === "text" ? s.tokens : Array(s.cells).fill(-1)));
}
/** A judge's prompt as SearchRun.judgeSequence evaluates it: the shared lead, then the rest tokenized on its own. */
async function judgeIds(message, image) {
  const rendered = userTurn(message.text, image);
  const at = rendered.indexOf(message.text);
  if (at < 0) throw new Error("the chat template does not keep the judge's message verbatim");
  const lead = rendered.slice(0, at + message.shared.length);
  return [...(await promptIds(lead, image)), ...model.tokenize(rendered.slice(lead.length), { addSpecial: false, parseSpecial: true })];
}
const answerIds = (text) => [...model.tokenize(text, { addSpecial: false, parseSpecial: false }), eos];
/** The forced words of the logprob judge and the token that decides (judge.ts choiceLogprobs). */
function forcedChoice(forced, options, chosen) {
  const variants = options.map((o) => model.tokenize(`${forced} ${o}`, { addSpecial: false }));
  let k = 0;
  while (variants.every((v) => k < v.length - 1 && v[k] === variants[0][k])) k++;
  return [...variants[0].slice(0, k), variants[chosen][k]];
}

const images = [];
const examples = [];
const add = (ids, target, image, weight = 1) => examples.push({ ids: [...ids, ...target], loss_from: ids.length, image, weight });
/**
 * Loss weight of a judge's target tokens. The first model (version 1: one stage judge per item, weight 1)
 * never learnt to judge: its logprob judge gave "1" and "2" a coin's odds, because a decision is one
 * token against the ~100 of each staged answer in the mean loss.
 */
const JUDGE_WEIGHT = 4;
const random = seededRandom(deriveSeed(seed, "training-mix"));
for (const item of train) {
  const rgb = render(item.scene);
  if (rgb.width !== MODEL.image_size || rgb.height !== MODEL.image_size) throw new Error("images must be rendered at the projector's image size");
  const image = images.length;
  images.push(Buffer.from(rgb.data));
  const question = questionPrompt(item);
  // the four-stage answer, as the model writes it with structure forcing off (the default)
  add(await promptIds(userTurn(question, true), item.image), answerIds(stagedAnswer(item.stages)), image);
  // two stage judges per item (two random stages), each as the generate judge answers or as the logprob
  // judge reads
  const judges = judgeExamples(item, seed);
  const first = Math.floor(random() * 4);
  for (const stage of [first, (first + 1 + Math.floor(random() * 3)) % 4]) {
    const pair = judges[stage];
    const pairIds = await judgeIds({ text: pair.prompt, shared: pair.prompt.slice(0, pair.prompt.indexOf("Response 1: ")) }, item.image);
    if (random() < 0.5) add(pairIds, answerIds(pair.target), image, JUDGE_WEIGHT);
    else add(pairIds, forcedChoice(FORCED_CHOICE_PREFIX, ["1", "2"], pair.better - 1), image, JUDGE_WEIGHT);
  }
  // the reasoning check (text only), one in three items
  if (random() < 1 / 3) {
    const check = judges[4 + (random() < 0.5 ? 0 : 1)];
    const ids = await judgeIds({ text: check.prompt, shared: check.prompt.slice(0, check.prompt.indexOf("Reasoning: ")) }, null);
    if (random() < 0.5) add(ids, answerIds(check.target), -1, JUDGE_WEIGHT);
    else add(ids, forcedChoice(FORCED_VERDICT_PREFIX, ["correct", "incorrect"], check.verdict === "correct" ? 0 : 1), -1, JUDGE_WEIGHT);
  }
  // best-of-n's judge: two whole answers, two in five items
  if (random() < 2 / 5) {
    const right = stagedAnswer(item.stages).trim();
    const wrong = stagedAnswer({ ...item.stages, CAPTION: random() < 0.5 ? item.wrong.CAPTION : item.stages.CAPTION, REASONING: item.wrong.REASONING, CONCLUSION: item.wrong.CONCLUSION }).trim();
    const better = random() < 0.5 ? 1 : 2;
    const message = pairwisePrompt("ANSWER", question, better === 1 ? right : wrong, better === 1 ? wrong : right);
    const ids = await judgeIds(message, item.image);
    if (random() < 0.5) add(ids, answerIds(`Since response ${better} answers the question correctly, I choose response ${better}.`), image, JUDGE_WEIGHT);
    else add(ids, forcedChoice(FORCED_CHOICE_PREFIX, ["1", "2"], better - 1), image, JUDGE_WEIGHT);
  }
}
await model.dispose();
const data = join(dir, "tokens");
mkdirSync(data, { recursive: true });
writeFileSync(join(data, "images.u8"), Buffer.concat(images));
writeFileSync(join(data, "examples.jsonl"), examples.map((e) => JSON.stringify(e)).join("\n") + "\n");
writeFileSync(join(data, "meta.json"), JSON.stringify({ image_size: MODEL.image_size, n_vocab: model.vocabSize, always: [eos] }));
const tokens = examples.reduce((n, e) => n + e.ids.length, 0);
lap(`tokenize (${examples.length} examples, ${tokens} tokens)`, t);

// 3. train
t = Date.now();
const weights = join(dir, "weights");
const trained = spawnSync(python, [trainer, "train", "--data", data, "--out", weights, "--config", JSON.stringify(config)], {
  stdio: "inherit",
  // torch's OpenMP threads spin while they wait for each other: on 2 cores shared with other work that
  // made training 25 times slower; passive waiting keeps it near the uncontended speed
  env: { ...process.env, OMP_WAIT_POLICY: "passive" },
});
if (trained.status !== 0) {
  process.stderr.write(`training failed (exit ${trained.status})\n`);
  process.exit(1);
}
lap("train", t);

// 4. export (to temporary names first: a cached model is always whole)
t = Date.now();
writeTrainedLlava({ weightsDir: weights, vocabPath, modelPath: `${modelPath}.part`, projectorPath: `${projectorPath}.part` });
renameSync(`${projectorPath}.part`, projectorPath);
renameSync(`${modelPath}.part`, modelPath);
rmSync(tokDir, { recursive: true, force: true });
lap("export", t);
writeFileSync(join(dir, "train.json"), JSON.stringify({ seed, config, data: DATA, examples: examples.length, tokens, wallSeconds: (Date.now() - clock) / 1000 }, null, 2));
lap("eval:train total", clock);
console.log(dir);
