#!/usr/bin/env node
// npm run bench:mllama: the mllama engine at a realistic shape, and the reference's way of doing the same
// stage-beam search on the same weights, side by side in one run. Writes bench/results/mllama.md and
// mllama.json (with --smoke: smoke-mllama.*, on the tiny parity checkpoint, which npm test runs so the
// harness cannot rot).
//
// The model (bench/mllama-checkpoint.py): random weights, Llama-3.2-11B-Vision's real vision encoder and an
// mllama text decoder of Llama-3.2-1B width (16 self-attention + 4 cross-attention layers), converted to
// stagebeam's default pair (text Q8_0, projector F16) and cached in bench/.models. Rows: the image encode,
// the cross K/V of one image, decode speed at widths 1/2/4/8 forked from one image prompt, stage-beam width
// 4 and single, memory (KV cache, cross-attention store, peak RSS), and the reference loop
// (bench/mllama-reference.py: transformers on the CPU, every candidate and judge a generate() call that
// encodes the image and the prompt again).
//
//   node bench/mllama.mjs [--smoke --hf DIR] [--python PATH] [--skip-reference] [--reference-minutes M]
// The first full run writes the checkpoint (~2 min, 11 GB) and converts it (~1 min). stagebeam's rows take
// about 25 minutes on 2 cores; the reference loop about two hours (28 image calls of 4–5 minutes each).
// --reference-minutes M stops it after M minutes and projects the rest from the calls it measured, by role
// (a lower bound: calls later in the search have longer prompts, and text-only checks not reached count 0).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { basename, dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { convertModel, loadModel } from "../dist/index.js";
import { pairwisePrompt, reasoningCheckPrompt } from "../dist/reasoning/judge-prompts.js";
import { stageHint } from "../dist/reasoning/choose-stage.js";
import { closeTag, stageOpening, STAGES } from "../dist/reasoning/stages.js";
import { writeBmp } from "./image.mjs";
import { runSearches } from "./search.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    smoke: { type: "boolean" },
    hf: { type: "string" },
    python: { type: "string" },
    "skip-reference": { type: "boolean" },
    "reference-minutes": { type: "string" },
  },
});
const smoke = Boolean(args.smoke);
const started = Date.now();
const say = (message) => {
  const s = Math.round((Date.now() - started) / 1000);
  console.error(`bench:mllama [${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}]: ${message}`);
};
const threads = Number(process.env.BENCH_THREADS ?? (smoke ? 1 : availableParallelism()));
const python = args.python ?? join(root, "test", ".venv-mllama", "bin", "python");
const models = join(root, "bench", ".models");
const WIDTHS = [1, 2, 4, 8];
const TARGET_WIDTH = smoke ? 2 : 4;
const setup = {
  threads,
  seed: 1,
  contextSize: smoke ? 4096 : 8192,
  maxStageTokens: smoke ? 8 : 64,
  maxJudgeTokens: smoke ? 8 : 32,
  decodeTokens: smoke ? 4 : 32,
  question: "How many apples are on the table, and what colour are they?",
};

function fail(message) {
  console.error(`bench:mllama: ${message}`);
  process.exit(1);
}

/** The Hugging Face checkpoint: the one named by --hf, or the realistic-shape one, written on first use. */
function checkpoint() {
  if (args.hf) return args.hf;
  if (smoke) fail("--smoke needs --hf DIR (the tiny parity checkpoint: test/.fixtures/mllama/hf)");
  const dir = join(models, "mllama-bench-hf");
  if (!existsSync(join(dir, "config.json"))) {
    if (!existsSync(python)) fail(`${python} is missing: run the mllama tests once (they build the venv), or pass --python`);
    say(`writing the random-weight checkpoint to ${dir} (~2 min, 11 GB) …`);
    execFileSync(python, [join(root, "bench", "mllama-checkpoint.py"), `${dir}.partial`, "--llama-cpp", join(root, "llama.cpp")], { stdio: "inherit" });
    renameSync(`${dir}.partial`, dir);
  }
  return dir;
}

/** stagebeam's pair, converted from the checkpoint once: text Q8_0, projector F16 (the converter's q8_0 default). */
async function pair(hf) {
  const stem = smoke ? "smoke-mllama" : "mllama-bench";
  const type = smoke ? "f32" : "q8_0";
  const model = join(models, `${stem}-${type}.gguf`);
  const projector = join(models, `mmproj-${stem}-${type}.gguf`);
  if (!existsSync(model) || !existsSync(projector)) {
    say(`converting ${hf} to ${type} …`);
    await convertModel({ input: hf, output: model, projectorOutput: projector, type });
  }
  return { model, projector, type };
}

const once = (value) => ({ median: value, min: value, max: value, runs: 1 });

/** Image encode, cross K/V and decode at each width, in this process; returns rows' raw numbers. */
async function engineRows(paths, image) {
  const model = await loadModel({ path: paths.model, projector: paths.projector });
  try {
    const context = await model.createContext({ contextSize: setup.contextSize, sequences: 16, threads });
    const warm = await context.createSequenceFrom("Warm up the weights.");
    await context.generate([warm], { maxTokens: 2, ignoreEog: true }).result();
    await warm.dispose();

    // The vision encoder: preprocessing (tiles) and the encoder, the projector's cache empty.
    const projector = model.projector;
    const decoded = await projector.loadImage(image);
    let t0 = performance.now();
    await projector.encode(decoded);
    const encodeSeconds = (performance.now() - t0) / 1000;

    // The cross K/V of every cross-attention layer, from the cached vision states: a prompt that is the
    // image alone (BOS and <|image|>: two tokens of text work besides).
    const encodesBefore = projector.encodes;
    t0 = performance.now();
    const bare = await context.createSequenceFrom({ prompt: "<|begin_of_text|><|image|>", images: [image] });
    const crossSeconds = (performance.now() - t0) / 1000;
    if (projector.encodes !== encodesBefore) throw new Error("the cross K/V row encoded the image again");
    await bare.dispose();

    // Decode speed at each width: forks of one image + question prompt, generating in one batch.
    const prompt = model.applyChatTemplate([{ role: "user", content: [{ type: "image" }, { type: "text", text: setup.question }] }]);
    const parent = await context.createSequenceFrom({ prompt, images: [image] });
    const decode = [];
    for (const width of WIDTHS) {
      const forks = await Promise.all(Array.from({ length: width }, () => parent.fork()));
      t0 = performance.now();
      await context.generate(forks, { maxTokens: setup.decodeTokens, ignoreEog: true, seed: 1 }).result();
      const seconds = (performance.now() - t0) / 1000;
      decode.push({ width, seconds, tokensPerSecond: (width * setup.decodeTokens) / seconds, stepsPerSecond: setup.decodeTokens / seconds });
      await Promise.all(forks.map((f) => f.dispose()));
    }
    await parent.dispose();
    const memory = context.info.memory;
    await context.dispose();
    return { encodeSeconds, crossSeconds, decode, memory, vision: projector.vision, weightsBytes: model.metadata.sizeBytes };
  } finally {
    await model.dispose();
  }
}

/** The reference loop (bench/mllama-reference.py) on the checkpoint, the same search as ours. */
function referenceRun(hf, image, template) {
  // The stages whose chosen texts make up a stage's judge hint, in order: asked of stageHint itself.
  const hintStages = (stage) => STAGES.filter((s) => stageHint(stage, { [s]: s }));
  const templates = Object.fromEntries(
    STAGES.map((s) => [s, pairwisePrompt(s, setup.question, "\u0001", "\u0002", hintStages(s).length ? "\u0003" : undefined).text]),
  );
  const input = {
    hf,
    image,
    width: TARGET_WIDTH,
    seed: setup.seed,
    threads,
    question: setup.question,
    maxStageTokens: setup.maxStageTokens,
    maxJudgeTokens: setup.maxJudgeTokens,
    budgetSeconds: args["reference-minutes"] === undefined ? null : Number(args["reference-minutes"]) * 60,
    chatTemplate: template,
    dateString: "26 Jul 2024",
    stages: STAGES.map((name) => ({
      name,
      opening: stageOpening(name),
      closing: closeTag(name),
      hintStages: hintStages(name),
    })),
    pairwiseTemplates: templates,
    checkTemplate: reasoningCheckPrompt(setup.question, "\u0003", "\u0001").text,
  };
  // Its progress (one line per generate call) goes to our stderr as it runs.
  const child = spawnSync(python, [join(root, "bench", "mllama-reference.py"), JSON.stringify(input)], { encoding: "utf8", maxBuffer: 1 << 26, stdio: ["ignore", "pipe", "inherit"] });
  if (child.status !== 0) return { error: `exit ${child.status} (its error is above)` };
  return project(JSON.parse(child.stdout.trim().split("\n").at(-1)));
}

/**
 * A reference run's whole-search time: measured when it completed; else the measured part plus each call
 * it did not make at the mean time of the measured calls of its role (candidate, judge: with the image;
 * check: text only, 0 s when none was measured) — a lower bound, since prompts grow stage by stage.
 */
function project(run) {
  const byRole = (calls, role) => calls.filter((c) => c.role === role);
  const remaining = {};
  let projectedSeconds = run.seconds;
  for (const role of ["candidate", "judge", "check"]) {
    const measured = byRole(run.calls, role);
    const left = Math.max(0, byRole(run.plannedCalls, role).length - measured.length);
    const mean = measured.length ? measured.reduce((s, c) => s + c.seconds, 0) / measured.length : 0;
    remaining[role] = left;
    projectedSeconds += left * mean;
  }
  const imageCalls = run.plannedCalls.filter((c) => c.role !== "check").length;
  return { ...run, projectedSeconds: run.complete ? run.seconds : projectedSeconds, remaining, plannedImageEncodes: imageCalls };
}

function machine() {
  return { date: new Date().toISOString(), cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, threads, node: process.version };
}

async function main() {
  mkdirSync(models, { recursive: true });
  const hf = checkpoint();
  const paths = await pair(hf);
  const image = writeBmp(join(models, "image-800x600.bmp"), 800, 600, 3);
  const config = JSON.parse(readFileSync(join(hf, "config.json"), "utf8"));
  const chatTemplate = JSON.parse(readFileSync(join(hf, "chat_template.json"), "utf8")).chat_template;

  say("image encode, cross K/V, decode at widths 1/2/4/8 …");
  const engine = await engineRows(paths, image);

  // Searches, each in a process of its own (bench/search-run.mjs): its encode is in its time, and its peak
  // RSS is its own.
  const searchSetup = { ...setup, model: paths.model, projector: paths.projector, image };
  say("stagebeam: single …");
  const [single] = runSearches(root, searchSetup, [{ strategy: "single", width: 1, judge: null, fork: true }]);
  say(`stagebeam: stage-beam width ${TARGET_WIDTH}, generate judge …`);
  const [beam] = runSearches(root, searchSetup, [{ strategy: "stage-beam", width: TARGET_WIDTH, judge: "generate", fork: true }]);
  for (const run of [single, beam]) if (run.error) fail(`a stagebeam search failed: ${run.error}`);

  let reference = { skipped: true };
  if (!args["skip-reference"]) {
    say(`the reference loop: transformers, stage-beam width ${TARGET_WIDTH} (the long part) …`);
    reference = referenceRun(hf, image, chatTemplate);
    if (reference.error) fail(`the reference loop failed: ${reference.error}`);
  }

  const rows = [];
  const row = (name, unit, ours, peer, peerName, ratio, target, compare, note) =>
    rows.push({ name, unit, ours, peer, peerName, ratio, target, compare, met: smoke || ratio === null || target === null ? null : compare === "<=" ? ratio <= target : ratio >= target, note });
  const v = engine.vision;
  row(`image encode: ${v.maxTiles} tiles of ${v.imageSize} px (vision encoder, preprocessing included)`, "s", once(engine.encodeSeconds), null, "", null, null, ">=", `${paths.projector.endsWith("f32.gguf") ? "F32" : "F16"} projector${v.weightsBytes > v.sizeBytes ? " held as F32" : ""}, ${v.flashAttention ? "flash attention" : `softmax attention in chunks of ${v.attentionChunk} rows`}`);
  row("cross K/V of one image, every cross-attention layer (from the cached vision states)", "s", once(engine.crossSeconds), null, "", null, null, ">=", "");
  for (const d of engine.decode) {
    row(`decode at width ${d.width}: ${d.width === 1 ? "a fork" : `${d.width} forks`} of one image prompt, ${setup.decodeTokens} tokens each, one batch per step`, "tok/s", once(d.tokensPerSecond), null, "", null, null, ">=", `${d.stepsPerSecond.toFixed(2)} steps/s`);
  }
  row(`stage-beam width ${TARGET_WIDTH} (generate judge) vs single`, "s", once(beam.seconds), once(single.seconds), "single", beam.seconds / single.seconds, null, "<=", "ratio = ours / single; both include their one image encode");
  if (!reference.skipped) {
    const r = reference;
    const made = r.calls.length;
    row(
      `stage-beam width ${TARGET_WIDTH}: stagebeam vs the reference loop (transformers, CPU, F32)${r.complete ? "" : ", projected"}`,
      "s",
      once(beam.seconds),
      once(r.projectedSeconds),
      r.complete ? "reference loop" : "reference loop, projected",
      r.projectedSeconds / beam.seconds,
      10,
      ">=",
      (r.complete
        ? `image encodes ${beam.counts.imageEncodes} vs ${r.counts.imageEncodes}; prompt tokens ${beam.counts.promptTokens} vs ${r.counts.promptTokens}; tokens generated ${beam.counts.generatedTokens} vs ${r.counts.generatedTokens}`
        : `the reference ran ${made} of its ${r.plannedCalls.length} calls in ${(r.seconds / 60).toFixed(1)} min (stopped by --reference-minutes); ` +
          `the other ${r.remaining.candidate} candidate, ${r.remaining.judge} judge and ${r.remaining.check} check calls are projected at the mean of the measured calls of their role (a lower bound); ` +
          `image encodes ${beam.counts.imageEncodes} vs ${r.plannedImageEncodes}`) +
        `; per image call: ${(r.calls.filter((c) => c.image).reduce((s, c) => s + c.seconds, 0) / Math.max(1, r.calls.filter((c) => c.image).length)).toFixed(1)} s measured`,
    );
  }
  const mib = (bytes) => bytes / 1048576;
  row(`memory: KV cache, ${setup.contextSize} cells`, "MiB", once(mib(engine.memory.kvBytes)), null, "", null, null, ">=", "F16, every cell allocated at creation");
  row(
    "memory: cross-attention store per image",
    "MiB",
    once(mib(engine.memory.crossBytesPerImage)),
    null,
    "",
    null,
    null,
    ">=",
    `F16; ${engine.memory.crossBytes / engine.memory.crossBytesPerImage} image slots; shared by every fork bound to the image`,
  );
  row(`memory: peak RSS, stage-beam width ${TARGET_WIDTH} vs single`, "MiB", once(beam.maxRssMiB), once(single.maxRssMiB), "single", beam.maxRssMiB / single.maxRssMiB, null, "<=", "each in a process of its own, weights included");

  const result = {
    smoke,
    model: {
      checkpoint: basename(hf),
      vision: `${config.vision_config.hidden_size} wide, ${config.vision_config.num_hidden_layers} + ${config.vision_config.num_global_layers} layers, ${config.vision_config.image_size} px tiles, up to ${config.vision_config.max_num_tiles}`,
      text: `${config.text_config.hidden_size} wide, ${config.text_config.num_hidden_layers} layers (cross-attention at ${config.text_config.cross_attention_layers.join(", ")}), ${config.text_config.num_attention_heads}/${config.text_config.num_key_value_heads} heads, FFN ${config.text_config.intermediate_size}`,
      ours: `${basename(paths.model)} + ${basename(paths.projector)}`,
    },
    machine: machine(),
    setup,
    minutes: Math.round((Date.now() - started) / 6000) / 10,
    rows,
    engine,
    searches: { single, beam },
    reference,
  };
  const base = join(root, "bench", "results", smoke ? "smoke-mllama" : "mllama");
  mkdirSync(dirname(base), { recursive: true });
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown(result));
  process.stdout.write(markdown(result));
}

function markdown(r) {
  const fmt = (s) => (s ? s.median.toFixed(s.median < 10 ? 3 : 1) : "–");
  return [
    `# stagebeam mllama benchmark${r.smoke ? " (smoke)" : ""}`,
    "",
    `${r.machine.date} · ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.threads} threads · Node ${r.machine.node}${r.reference.torch ? ` · reference: torch ${r.reference.torch}, ${r.reference.threads} threads` : ""}`,
    "",
    `Random weights. Vision: ${r.model.vision}. Text: ${r.model.text}. Ours: ${r.model.ours}. Each row runs once; this run took ${r.minutes} min.`,
    "",
    "| row | ours | peer | ratio | target | met | note |",
    "|---|---|---|---|---|---|---|",
    ...r.rows.map(
      (x) =>
        `| ${x.name} | ${x.ours ? `${fmt(x.ours)} ${x.unit}` : "–"} | ${x.peer ? `${fmt(x.peer)} ${x.unit} (${x.peerName})` : "–"} | ${x.ratio === null ? "–" : x.ratio.toFixed(2)} | ${x.target === null ? "–" : `${x.compare === "<=" ? "≤" : "≥"} ${x.target}`} | ${x.met === null ? "–" : x.met ? "yes" : "no"} | ${x.note} |`,
    ),
    "",
    `Search: ${r.setup.maxStageTokens} tokens per candidate stage, ${r.setup.maxJudgeTokens} per judge answer, stage openings prefilled and a stage closed at its budget, temperature 0.6, top-p 0.9, seed ${r.setup.seed}, the question "${r.setup.question}" on an 800×600 image. ` +
      "stagebeam: the image and question evaluated once, candidates forked and generated in one batch per step, judges forked from the cached prefix. " +
      "The reference loop: each candidate and each judge a transformers `generate()` call on the whole conversation (image encoded again), a random sequential knockout, the REASONING check text-only, as LLaVA-CoT's code does it.",
    "",
    r.reference.calls ? `Reference calls (role stage: seconds): ${r.reference.calls.map((c) => `${c.role} ${c.stage}: ${c.seconds.toFixed(1)}`).join("; ")}.` : "",
    "",
    r.reference.stageSeconds ? `Reference loop per completed stage (s): ${Object.entries(r.reference.stageSeconds).map(([k, s]) => `${k} ${s.toFixed(1)}`).join(", ")}; loading the checkpoint took ${r.reference.loadSeconds.toFixed(1)} s (not counted).` : "",
    "",
  ].join("\n");
}

await main();
