#!/usr/bin/env node
// npm run bench: stagebeam against llama.cpp's own tools on this machine, side by side, in one run.
// Writes bench/results/latest.md and latest.json (with --smoke: smoke.md/json, a tiny model and one
// repetition, which npm test runs so the harness cannot rot).
//
// Rows: image encode + decode vs llama-mtmd-cli (CLIP-ViT-L/14-336-shaped projector), prompt processing
// and decoding vs llama-bench, branching vs llama-batched-bench, on Llama-3.2-1B-shaped random-weight
// models at Q4_0 and Q8_0, decode and branching vs node-llama-cpp 3.21.1, and stage-beam search at widths
// 1, 2, 4, 8 forked vs unforked with both judges, with memory (bench/search.mjs), charted in
// bench/results/latest-search-width.svg. --full adds the searches at width 2, the unforked ones at
// width 8 and the Q8_0 rows against node-llama-cpp (~25 more minutes here), written to full.*. Last, the
// server rows of bench/server.mjs (`npm run bench:server` alone; --no-server skips them). --gpu: the same
// rows on a GPU build, written to gpu.* (bench/device/run.sh runs it on a lent device machine).
//
// Every row runs on the "realistic" models: the random weights with logits scaled so that the next-token
// distribution is as concentrated as an instruction-tuned chat model's (bench/models.mjs says what target
// and why). The raw random model's distribution is nearly flat over 128k tokens, which makes top-p sort the
// whole vocabulary at every sampled step; it stays as worst-case rows (Q4_0 decode, and stage-beam width 4
// with the generate judge against single), labelled so. Both models' output statistics — mean next-token
// entropy at temperature 0.6, top-p 0.9 nucleus size — are measured in the run and printed with the results
// (bench/output-statistics.mjs). The decode rows say how close they come to the machine's limit: the
// read bandwidth, measured in the run (bench/bandwidth.mjs), over the bytes of weights a token reads; and
// what a step costs beyond llama_decode itself is measured on the same batches (bench/step-cost.mjs).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { cpus, availableParallelism } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel } from "../dist/index.js";
import { writeTinyClip } from "../dist/gguf/tiny-clip.js";
import { writeBmp } from "./image.mjs";
import { branchingTime, decodeSpeed, imageTime, promptSpeed } from "./measure.mjs";
import { spread as stats } from "./medians.mjs";
import { STEP_MODES, stepCosts, stepCostTable } from "./step-cost.mjs";
import { bandwidthLimit, decodeBytesPerToken, readBandwidth } from "./bandwidth.mjs";
import { benchModels, REALISTIC_LOGIT_SCALE } from "./models.mjs";
import { describeOutputStatistics, outputStatistics, PROMPTS } from "./output-statistics.mjs";
import { batchedBench, llamaBench, mtmdCliImage, nodeLlamaCpp, peerPath } from "./peers.mjs";
import { repeatedSearches, runSearches, searchChart, searchPlan, searchRows, searchTable } from "./search.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const started = Date.now();
const elapsed = () => {
  const s = Math.round((Date.now() - started) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};
/** Whether this run wrote the models (the first run does: ~1.5 min of the time it reports). */
let wroteModels = false;
/** Progress on stderr, with the time since the start. */
const say = (message) => console.error(`bench [${elapsed()}]: ${message}`);
const smoke = args.has("--smoke");
const full = args.has("--full");
// --gpu: the same rows on a GPU build (issue 15 §3; bench/device/run.sh runs it on a lent device), written
// to gpu.*, with the GPU, driver and CUDA version. Left out there: the CPU's read bandwidth, the flat
// model's worst-case rows (a CPU sampler cost, unchanged by the GPU), node-llama-cpp (its prebuilt binary
// here is CPU-only and no registry is reachable from the device) and the server rows; 3 repetitions, so
// that one run fits a lent device's minutes. Targets: 0.95× llama.cpp's tools, stage-beam width 4 ≤ 2×.
const gpu = args.has("--gpu");
// Five repetitions by default: the targets are judged on medians of 5 in one run (~45 minutes on a
// 2-core machine, the server rows apart); BENCH_REPS=1 for a quick look (~23 minutes). Ours and each peer
// take turns (alternate()); the searches behind the target rows run `reps` times, the others once.
const reps = smoke ? 1 : Number(process.env.BENCH_REPS ?? (gpu ? 3 : 5));
// Smoke runs use one thread: at the tiny model's microsecond scale, two threads' spinning barriers on
// these VMs make timings noise (the smoke run checks the harness, not speed; it judges no target).
const threads = Number(process.env.BENCH_THREADS ?? (smoke ? 1 : availableParallelism()));
const sizes = smoke ? { prompt: 64, gen: 16, prefix: 128, branchGen: 16, branches: 4 } : { prompt: 512, gen: 128, prefix: 1024, branchGen: 64, branches: 4 };

/** The models compared (bench/models.mjs), realistic unless asked for the flat worst case; notes whether this run wrote them. */
async function models(variant = "realistic", types) {
  const made = await benchModels(root, { smoke, say, variant, types });
  wroteModels ||= made.wrote;
  return made.models;
}

/**
 * The projector and image of the image row. Smoke: the tiny LLaVA-style mmproj and a 56-pixel image.
 * Full: CLIP-ViT-L/14-336-shaped (1024 wide, 24 layers, 16 heads, FFN 4096, 577 positions) with the
 * LLaVA mlp projector into the 2048-wide text model, F32, and a 336-pixel image.
 */
function vision() {
  const dir = join(root, "bench", ".models");
  const projector = join(dir, smoke ? "tiny-mmproj.gguf" : "clip-vit-l-14-336-shaped-mmproj-f32.gguf");
  if (!existsSync(projector)) {
    say(`writing ${projector} …`);
    const shape = smoke
      ? { textEmbeddingSize: 64 }
      : { textEmbeddingSize: 2048, embeddingSize: 1024, layers: 24, heads: 16, feedForwardSize: 4096, imageSize: 336, patchSize: 14 };
    writeTinyClip(`${projector}.partial`, { seed: 7, ...shape });
    renameSync(`${projector}.partial`, projector);
  }
  const size = smoke ? 56 : 336;
  return { projector, image: writeBmp(join(dir, `image-${size}.bmp`), size, size), size };
}


async function repeat(n, f) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await f());
  return out;
}

/**
 * Ours and the peer taking turns, `reps` times each: on a shared VM the speed drifts by several percent
 * within minutes, and alternating puts both sides under the same drift. Who goes first alternates too,
 * so that neither side always runs right after the other. Returns both sides' spreads and the
 * repetitions' pairs [ours, peer], from which the row's ratio is taken (row()). Without a peer, ours alone.
 */
async function alternate(ours, peer) {
  const pairs = [];
  for (let i = 0; i < reps; i++) {
    if (peer && i % 2 === 1) {
      const p = await peer();
      pairs.push([await ours(), p]);
    } else pairs.push([await ours(), peer ? await peer() : null]);
  }
  return [stats(pairs.map(([o]) => o)), peer ? stats(pairs.map(([, p]) => p)) : null, peer ? pairs : null];
}

function machine() {
  const cache = existsSync(join(root, "build-llama", "CMakeCache.txt")) ? readFileSync(join(root, "build-llama", "CMakeCache.txt"), "utf8") : "";
  const flag = (key) => cache.match(new RegExp(`^${key}:[A-Z]+=(.*)$`, "m"))?.[1] ?? "?";
  const pin = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).stagebeam.llamaCpp;
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    threads,
    llamaCpp: `${pin.release} (${pin.commit.slice(0, 12)})`,
    build: `${flag("CMAKE_CXX_COMPILER")}, GGML_NATIVE=${flag("GGML_NATIVE")}, GGML_CPU_ALL_VARIANTS=${flag("GGML_CPU_ALL_VARIANTS")}, GGML_BACKEND_DL=${flag("GGML_BACKEND_DL")}, GGML_OPENMP=${flag("GGML_OPENMP")}`,
    node: process.version,
    ...(gpu ? { gpu: gpuInfo(), ggmlCuda: flag("GGML_CUDA") } : {}),
  };
}

/** The GPU, its driver and the CUDA version (nvidia-smi, nvcc); null where there is no NVIDIA tool. */
function gpuInfo() {
  const run = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      return null;
    }
  };
  const query = run("nvidia-smi", ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]);
  if (!query) return null;
  const [name, driver, memory] = query.trim().split("\n")[0].split(",").map((x) => x.trim());
  const cuda = run("nvidia-smi", [])?.match(/CUDA Version:\s*([\d.]+)/)?.[1] ?? "?";
  const nvcc = run("nvcc", ["--version"])?.match(/release ([\d.]+)/)?.[1] ?? "?";
  return { name, driver, memory, cuda, nvcc };
}

async function main() {
  const bench = peerPath(root, "llama-bench");
  const batched = peerPath(root, "llama-batched-bench");
  const rows = [];
  /** A row's target against llama.cpp's tools: the CPU's own, or 0.95× on a GPU (issue 15 §3). */
  const peerTarget = (cpu) => (gpu ? 0.95 : cpu);
  // The ratio (ours as a multiple of the peer's speed): with the pairs of alternate(), the median of the
  // repetitions' paired ratios, which drift moves less than either side's median (both sides of a pair
  // ran within seconds of each other); without pairs (peers not taken in turns), the medians' ratio.
  const row = (name, unit, higherIsBetter, target, ours, peer, peerName, note, pairs = null) => {
    const speedup = (o, p) => (higherIsBetter ? o / p : p / o);
    const pairedRatios = pairs ? stats(pairs.map(([o, p]) => speedup(o, p))) : null;
    const ratio = pairedRatios ? pairedRatios.median : peer ? speedup(ours.median, peer.median) : null;
    const judged = !smoke && ratio !== null && target !== null;
    rows.push({ name, unit, ours, peer, peerName, ratio, pairedRatios, target, met: judged ? ratio >= target : null, note });
    // on the log too, so that a run cut off (a device call's limit) still tells what it measured
    say(`${name}: ours ${ours.median.toPrecision(4)} ${unit}${peer ? `, ${peerName} ${peer.median.toPrecision(4)} ${unit}, ratio ${ratio.toFixed(3)}` : ""}`);
  };
  const quantized = await models();
  let stepCost = null;
  // The worst case: the flat model at the first quantization only (its rows are the decode and the width-4 search).
  const [flat] = gpu ? [null] : await models("flat", [quantized[0].type]);
  const outputs = {};
  for (const [variant, { path }] of [["realistic", quantized[0]], ...(flat ? [["flat", flat]] : [])]) {
    say(`output statistics, ${variant} model …`);
    const model = await loadModel({ path });
    try {
      outputs[variant] = await outputStatistics(model, { threads, steps: smoke ? 8 : 16, prompts: smoke ? PROMPTS.slice(0, 1) : PROMPTS });
    } finally {
      await model.dispose();
    }
    say(`${variant}: ${describeOutputStatistics(outputs[variant])}`);
  }
  // The decode rows' ceiling (bench/bandwidth.mjs): read bandwidth ÷ bytes of weights per token. The
  // CPU's only: on a GPU the decode rows read the GPU's memory, which this does not measure. A shared VM's
  // bandwidth moves with its neighbours, so it is read again just before each decode row, and the
  // ceiling is the best reading so far (one slow reading once put decode at 120% of "the limit").
  const bandwidthSamples = [];
  const bandwidthRow = {
    name: `memory read bandwidth, ${threads} thread(s) (bench/read-bandwidth.c, best of 7 passes over ${smoke ? 256 : 1024} MiB; read at the start and before each decode row)`,
    unit: "GB/s",
    ours: null,
    peer: null,
    peerName: "",
    ratio: null,
    target: null,
    met: null,
    note: "the decode rows' ceiling, the best reading: a token reads every weight once",
  };
  const sampleBandwidth = () => {
    if (gpu) return;
    say("memory read bandwidth …");
    bandwidthSamples.push(readBandwidth(root, { threads, mib: smoke ? 256 : 1024 }));
    bandwidthRow.ours = stats(bandwidthSamples);
  };
  sampleBandwidth();
  if (!gpu) rows.push(bandwidthRow);
  const decodeNote = (path, ours, peer) => {
    if (bandwidthSamples.length === 0) return "";
    const bandwidth = Math.max(...bandwidthSamples);
    const perToken = decodeBytesPerToken(path);
    const limit = bandwidthLimit(bandwidth, perToken);
    const share = (x) => `${Math.round((x.median / limit) * 100)}%`;
    const limitText = `${share(ours)} of the bandwidth limit (${limit.toFixed(1)} tok/s = ${bandwidth.toFixed(1)} GB/s ÷ ${(perToken / 1e6).toFixed(0)} MB of weights per token)`;
    return peer ? `${limitText}; llama-bench ${share(peer)}` : `${limitText}; llama-bench not built`;
  };
  const mtmdCli = peerPath(root, "llama-mtmd-cli");
  const v = vision();
  {
    say("image encode + decode …");
    const { path } = quantized[0];
    const model = await loadModel({ path, projector: v.projector });
    try {
      const [ours, peer, pairs] = await alternate(() => imageTime(model, { image: v.image, threads }), mtmdCli && (async () => mtmdCliImage(mtmdCli, path, v.projector, { image: v.image, threads })));
      row(
        `image encode + decode, ${v.size} px (${smoke ? "tiny mmproj" : "CLIP-ViT-L/14-336-shaped mlp mmproj"})`,
        "s",
        false,
        peerTarget(0.97),
        ours,
        peer,
        "llama-mtmd-cli",
        mtmdCli ? "ours includes the image's preprocessing; mtmd-cli's own timing excludes it" : "llama-mtmd-cli not built",
        pairs,
      );
    } finally {
      await model.dispose();
    }
  }
  for (const { type, path } of quantized) {
    say(`${type.toUpperCase()}: prompt, decode, branching …`);
    const model = await loadModel({ path });
    const tag = type.toUpperCase();
    try {
      await promptSpeed(model, { n: sizes.prompt, threads }); // warm-up: page the weights in
      const [pp, ppPeer, ppPairs] = await alternate(
        () => promptSpeed(model, { n: sizes.prompt, threads }),
        bench && (() => llamaBench(bench, path, { prompt: sizes.prompt, threads, reps: 1 })[0]),
      );
      row(`${tag} prompt processing, ${sizes.prompt} tokens`, "tok/s", true, peerTarget(1.0), pp, ppPeer, "llama-bench", bench ? "" : "llama-bench not built: npm run build:peers", ppPairs);

      sampleBandwidth();
      const [tg, tgPeer, tgPairs] = await alternate(
        () => decodeSpeed(model, { n: sizes.gen, threads }),
        bench && (() => llamaBench(bench, path, { gen: sizes.gen, threads, reps: 1 })[0]),
      );
      row(`${tag} decode, ${sizes.gen} tokens`, "tok/s", true, peerTarget(1.0), tg, tgPeer, "llama-bench", decodeNote(path, tg, tgPeer), tgPairs);

      const shape = { prefix: sizes.prefix, gen: sizes.branchGen, branches: sizes.branches, threads };
      const [br, brPeer, brPairs] = await alternate(() => branchingTime(model, shape), batched && (async () => batchedBench(batched, path, shape)));
      row(`${tag} branching: ${shape.branches} × ${shape.gen} tokens from a shared ${shape.prefix}-token prefix`, "s", false, peerTarget(0.97), br, brPeer, "llama-batched-bench -pps -kvu", batched ? "" : "llama-batched-bench not built", brPairs);

      // What a step costs beyond the forward pass (bench/step-cost.mjs), on the first model: widths 1 and
      // 4, greedy and the search's sampling, logprobs off and on.
      if (type === quantized[0].type) {
        say(`${tag}: per-step cost …`);
        const costs = await stepCosts(model, { widths: [1, smoke ? 2 : 4], steps: smoke ? 8 : 48, reps, threads });
        stepCost = { model: tag, steps: smoke ? 8 : 48, rows: costs };
        const greedy = costs.find((c) => c.width === 1 && c.sampling === STEP_MODES[0].name && !c.logprobs);
        // The same step as a round trip through JS (what a step costs when calls share the context).
        const [stepwise] = await stepCosts(model, { widths: [1], steps: smoke ? 8 : 48, reps, threads, decodeRuns: false, modes: [STEP_MODES[0]], logprobModes: [false] });
        stepCost.stepwise = stepwise;
        // the table keeps medians only: min and max are the median too
        const medianOf = (ms) => ({ median: ms, min: ms, max: ms, runs: reps });
        row(
          `${tag} decode step, width 1, greedy, logprobs off: generate() step vs its forward pass (llama_decode alone, same batch)`,
          "ms",
          false,
          null,
          medianOf(greedy.step),
          medianOf(greedy.forward),
          "forward pass",
          `the step adds ${greedy.rest.toFixed(3)} ms beside the read (${greedy.read.toFixed(3)} ms) in a decode run, ${stepwise.rest.toFixed(3)} ms step by step (decodeRuns: false); every width and mode: "Per-step cost" below`,
        );
      }

      // node-llama-cpp: not in smoke runs (it is installed from the registry on first use), and on Q4_0
      // only unless --full (Q8_0 adds ~1 min, which the default run's 20-minute budget does not have).
      if (gpu && !smoke && type === quantized[0].type) {
        rows.push({ name: "decode and branching vs node-llama-cpp 3.21.1", unit: "", ours: null, peer: null, peerName: "", ratio: null, target: null, met: null, note: "not run on the GPU: its prebuilt binary here is CPU-only, and no registry is reachable from the device" });
      }
      if (!smoke && !gpu && !full && type !== quantized[0].type) {
        rows.push({ name: `${tag} decode and branching vs node-llama-cpp 3.21.1`, unit: "", ours: null, peer: null, peerName: "", ratio: null, target: null, met: null, note: "not run by default: npm run bench -- --full" });
      }
      if (!smoke && !gpu && (full || type === quantized[0].type)) {
        const nlc = await repeat(reps, async () => nodeLlamaCpp(root, path, { threads, gen: sizes.gen, prefix: sizes.prefix, branchGen: sizes.branchGen, branches: sizes.branches }));
        row(`${tag} decode, ${sizes.gen} tokens`, "tok/s", true, 1.0, tg, stats(nlc.map((x) => x.decode)), "node-llama-cpp 3.21.1", "");
        row(
          `${tag} branching (as above; node-llama-cpp has no fork: each sequence evaluates the prefix)`,
          "s",
          false,
          2.7,
          br,
          stats(nlc.map((x) => x.branching)),
          "node-llama-cpp 3.21.1",
          "",
        );
      }
    } finally {
      await model.dispose();
    }
  }
  if (flat) {
    const tag = `worst case, flat model: ${flat.type.toUpperCase()}`;
    say(`${tag} decode …`);
    const model = await loadModel({ path: flat.path });
    try {
      const [tg, tgPeer, tgPairs] = await alternate(
        () => decodeSpeed(model, { n: sizes.gen, threads }),
        bench && (() => llamaBench(bench, flat.path, { gen: sizes.gen, threads, reps: 1 })[0]),
      );
      row(`${tag} decode, ${sizes.gen} tokens`, "tok/s", true, null, tg, tgPeer, "llama-bench", "greedy, as llama-bench: the same work as on the realistic model", tgPairs);
    } finally {
      await model.dispose();
    }
  }
  if (smoke) rows.push({ name: "decode and branching vs node-llama-cpp@3.21.1", unit: "", ours: null, peer: null, peerName: "", ratio: null, target: null, met: null, note: "not run in smoke mode" });
  // Stage-beam search: on the first model (Q4_0) with the image row's projector and image, each search in
  // a process of its own. Budgets fixed (64 tokens per candidate stage, 32 per judge answer); the stage
  // tags are prefilled (a random-weight model never writes them) and a stage that reaches its budget is
  // closed, so every candidate is well formed and judged.
  const setup = {
    model: quantized[0].path,
    projector: v.projector,
    image: v.image,
    threads,
    seed: 1,
    contextSize: smoke ? 4096 : 16384,
    maxStageTokens: smoke ? 8 : 64,
    maxJudgeTokens: smoke ? 8 : 32,
    question: "How many apples are on the table, and what colour are they?",
  };
  const searches = [];
  for (const group of searchPlan({ full, smoke, gpu })) {
    const names = group.map((s) => `${s.strategy} ${s.width}${s.judge ? ` ${s.judge}` : ""}${s.fork ? "" : " unforked"}`);
    say(`searches: ${names.join(", ")} …`);
    searches.push(...runSearches(root, setup, group));
  }
  // The target rows' searches again (single and the target width with both judges, each on a fresh
  // context, in one process), so that their ratios are medians over `reps` runs like every other row's.
  const repeats = [];
  for (let i = 1; i < reps; i++) {
    say(`searches for the target rows, run ${i + 1} of ${reps} …`);
    repeats.push(...runSearches(root, setup, repeatedSearches({ smoke })));
  }
  const stageBeamRows = searchRows(searches, { smoke, full, gpu, repeats });
  for (const r of stageBeamRows.filter((x) => x.ratio !== null)) say(`${r.name}: ratio ${r.ratio.toFixed(3)}`);
  rows.push(...stageBeamRows);
  // The worst case: the same searches on the flat model, where every sampled step's top-p sorts the whole
  // vocabulary (single, and the target width with the generate judge, each in a process of its own).
  const worstWidth = smoke ? 2 : 4;
  const worst = [];
  for (const search of flat ? [
    { strategy: "single", width: 1, judge: null, fork: true },
    { strategy: "stage-beam", width: worstWidth, judge: "generate", fork: true },
  ] : []) {
    say(`worst case, flat model: ${search.strategy} ${search.width} …`);
    worst.push(...runSearches(root, { ...setup, model: flat.path }, [search]));
  }
  if (flat) {
    const [single, beam] = worst;
    const once = (r) => (r.error ? null : { median: r.seconds, min: r.seconds, max: r.seconds, runs: 1 });
    const ratio = single.error || beam.error ? null : beam.seconds / single.seconds;
    rows.push({
      name: `worst case, flat model: stage-beam width ${worstWidth}, generate judge: wall time vs single (width 1)`,
      unit: "s",
      ours: once(beam),
      peer: once(single),
      peerName: "single, flat model",
      ratio,
      target: null,
      compare: "<=",
      met: null,
      note: [beam, single].find((r) => r.error)?.error ?? `ratio = ours / single; on the realistic model: the stage-beam width ${worstWidth} row above`,
    });
  }

  const base = join(root, "bench", "results", smoke ? (gpu ? "smoke-gpu" : "smoke") : gpu ? "gpu" : full ? "full" : "latest");
  const chart = `${base}-search-width.svg`;
  const result = {
    smoke,
    gpu,
    model: smoke
      ? `tiny llama (64 wide, 2 layers), Q8_0, random weights, logits × ${REALISTIC_LOGIT_SCALE} ("realistic"; worst-case rows: unscaled, "flat")`
      : `Llama-3.2-1B-shaped (2048 wide, 16 layers, 32/8 heads, FFN 8192, 128256-token vocabulary), random weights with logits × ${REALISTIC_LOGIT_SCALE} ("realistic"), Q4_0 and Q8_0${gpu ? "" : '; worst-case rows: unscaled ("flat"), Q4_0'}`,
    outputStatistics: { model: quantized[0].type.toUpperCase(), ...outputs },
    machine: machine(),
    reps,
    minutes: Math.round((Date.now() - started) / 6000) / 10,
    wroteModels,
    rows,
    stepCost,
    search: { setup: { ...setup, model: basename(setup.model), projector: basename(setup.projector), image: basename(setup.image) }, runs: searches, repeats, worstCase: worst, chart: basename(chart) },
  };
  mkdirSync(dirname(base), { recursive: true });
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown(result));
  writeFileSync(chart, searchChart(searches, `stage-beam search, ${smoke ? "tiny model" : "Llama-3.2-1B-shaped Q4_0 + CLIP-L/14-336"}, ${threads} threads`));
  process.stdout.write(markdown(result));
}

function markdown(r) {
  const fmt = (s) => (s ? `${s.median.toFixed(s.median < 10 ? 3 : 1)} (${s.min.toFixed(s.min < 10 ? 3 : 1)}–${s.max.toFixed(s.max < 10 ? 3 : 1)})` : "–");
  const lines = [
    `# stagebeam benchmark${r.smoke ? " (smoke)" : r.gpu ? " on a GPU" : ""}`,
    "",
    `${r.machine.date} · ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.threads} threads · llama.cpp ${r.machine.llamaCpp} · ${r.machine.build} · Node ${r.machine.node}`,
    ...(r.gpu
      ? [
          "",
          r.machine.gpu
            ? `GPU: ${r.machine.gpu.name} (${r.machine.gpu.memory}) · driver ${r.machine.gpu.driver} · CUDA ${r.machine.gpu.cuda} (nvcc ${r.machine.gpu.nvcc}) · GGML_CUDA=${r.machine.ggmlCuda}; every layer and the projector on the GPU (ours and llama.cpp's tools alike, their defaults)`
            : "GPU: none found (no nvidia-smi): these rows ran on the CPU",
        ]
      : []),
    "",
    `Model: ${r.model}. Medians over ${r.reps} repetition(s), (min–max); a ratio against a peer with a range is the median of the repetitions' paired ratios (ours and the peer taking turns, who goes first alternating), and the others the ratio of the medians. This run took ${r.minutes} min${r.wroteModels ? ", writing the models included" : ""}.`,
    "",
    `Output statistics (bench/output-statistics.mjs: ${r.outputStatistics.realistic.steps} sampled steps from ${r.smoke ? "1 prompt" : `${PROMPTS.length} prompts`}, the search's sampling, ${r.outputStatistics.model}):`,
    `- realistic (every row unless labelled): ${describeOutputStatistics(r.outputStatistics.realistic)}; ${Math.round(r.outputStatistics.realistic.distinct * 100)}% distinct tokens sampled`,
    ...(r.outputStatistics.flat ? [`- flat (worst-case rows): ${describeOutputStatistics(r.outputStatistics.flat)}; ${Math.round(r.outputStatistics.flat.distinct * 100)}% distinct tokens sampled`] : []),
    "",
    "| row | ours | peer | ratio | target | met | note |",
    "|---|---|---|---|---|---|---|",
    ...r.rows.map(
      (x) =>
        `| ${x.name} | ${x.ours ? `${fmt(x.ours)} ${x.unit}` : "–"} | ${x.peer ? `${fmt(x.peer)} ${x.unit} (${x.peerName})` : "–"} | ${x.ratio === null ? "–" : x.pairedRatios ? `${x.ratio.toFixed(3)} (${x.pairedRatios.min.toFixed(3)}–${x.pairedRatios.max.toFixed(3)})` : x.ratio.toFixed(3)} | ${x.target === null ? "–" : `${x.compare === "<=" ? "≤" : "≥"} ${x.target}`} | ${x.met === null ? "–" : x.met ? "yes" : "no"} | ${x.note ?? ""} |`,
    ),
    "",
    ...(r.stepCost
      ? [
          "## Per-step cost",
          "",
          `${r.stepCost.model}, ${r.stepCost.steps} lockstep steps from a 16-token prompt, medians of ${r.reps} (bench/step-cost.mjs). Forward: the native worker's time in llama_decode and its synchronisation (what llama-bench's tg measures); read: sampling and, when asked, log-softmax; rest: what a generate() step adds around them (a lone generate() call runs its steps in one native call, a decode run: the next forward pass starts as soon as a step's tokens are sampled, and JS reads them meanwhile; left is the hand-over between the passes, and a pass decoded ahead for nothing when a stop ends a sequence).`,
          "",
          stepCostTable(r.stepCost.rows),
          "",
          ...(r.stepCost.stepwise
            ? [
                `Step by step (\`decodeRuns: false\`: every step a round trip through JS, as when calls share the context), width 1, greedy, logprobs off: step ${r.stepCost.stepwise.step.toFixed(3)} ms, forward ${r.stepCost.stepwise.forward.toFixed(3)} ms, read ${r.stepCost.stepwise.read.toFixed(3)} ms, rest ${r.stepCost.stepwise.rest.toFixed(3)} ms.`,
                "",
              ]
            : []),
        ]
      : []),
    "## Stage-beam search",
    "",
    `Search: ${r.search.setup.maxStageTokens} tokens per candidate stage, ${r.search.setup.maxJudgeTokens} per judge answer, stage tags prefilled, temperature 0.6, top-p 0.9, seed ${r.search.setup.seed}; ` +
      `context ${r.search.setup.contextSize} cells; each search on a fresh context; the table shows each search's first run (single and forked width 4 with the generate judge each in a process of its own, for the RSS row), and the target rows above are medians over ${r.reps} run(s) of single and width 4 with each judge. "Judging": from a stage's last candidate done to its winner known. Forked: image and question evaluated once, candidates and judges fork the cache; ` +
      "unforked: every candidate and judge evaluates image + prompt (and the stages before it) again, as LLaVA-CoT's reference code does, otherwise the same search (candidates still in one batch). " +
      `Width 1 is \`single\`. Chart: [${r.search.chart}](${r.search.chart}).`,
    "",
    searchTable(r.search.runs),
    "",
  ];
  return lines.join("\n");
}

await main();
// Then the server rows (bench/server.mjs: stagebeam serve vs llama-server, and the HTTP layer's overhead),
// written to their own results file, after everything else so that no other row shares the machine with
// either server. --no-server skips them; smoke runs leave them out (test/bench.test.ts runs the server
// smoke on its own).
if (!smoke && !gpu && !args.has("--no-server")) execFileSync(process.execPath, [join(root, "bench", "server.mjs")], { stdio: "inherit" });
