#!/usr/bin/env node
// npm run bench:server: `stagebeam serve` against llama.cpp's llama-server (built from the same sources
// with the same options, bench/peers.mjs), on the same model, slots, context and threads. Both servers
// are up at once and take turns: each concurrency level runs in rounds, llama-server then stagebeam in
// odd rounds and the other way round in even ones, so that drift in the machine's speed (a shared 2-core
// VM varies by ±5% from minute to minute) falls on both sides alike. Writes bench/results/server.md and server.json (with --smoke: smoke-server.*, the tiny model
// and a few short requests, which a test runs so the harness cannot rot).
//
// Rows:
// - Plain chat completions at 1, 4 and 8 concurrent clients, each sending its requests back to back:
//   requests per minute, p50/p95 latency, generated tokens/s. Every request has its own prompt (the
//   same set on both sides), greedy (temperature 0, seed 0), streaming off, the same max_tokens; each
//   side serves with as many slots as the most clients and one KV pool of slots × per-slot context.
//   Target: at 8 clients ≥ 0.95× llama-server's requests per minute (the median of the rounds' ratios).
//   Also counted from each server's /metrics: batch steps (llama_decode calls) per request, so a gap
//   can be told apart as more steps (scheduling) or slower ones (per-step work).
// - Staged reasoning, stage-beam width 2 (prefilled tags, logprob judge, same seed): the same search
//   through `stagebeam serve` and through model.reason() in this process, alternating, medians; the
//   HTTP layer's overhead in percent. Target ≤ 3%.
//
// Options: --smoke, --clients 1,4,8, --requests K (per client), --rounds R, --max-tokens N, --prompt-words N,
// --staged-runs N, --stage-tokens N, --threads N.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadModel } from "../dist/index.js";
import { benchModels } from "./models.mjs";
import { llamaServer } from "./peers.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    clients: { type: "string" },
    requests: { type: "string" },
    rounds: { type: "string" },
    "max-tokens": { type: "string" },
    "prompt-words": { type: "string" },
    "staged-runs": { type: "string" },
    "stage-tokens": { type: "string" },
    threads: { type: "string" },
  },
});
const smoke = args.smoke;
const number = (name, smokeValue, fullValue) => Number(args[name] ?? (smoke ? smokeValue : fullValue));
// Full sizes fit ~10 minutes on a 2-core machine (the models written once, ~2 more the first time).
const sizes = {
  clients: (args.clients ?? "1,4,8").split(",").map(Number),
  requests: number("requests", 2, 6),
  rounds: number("rounds", 2, 3),
  maxTokens: number("max-tokens", 8, 48),
  // ~1.3 tokens a word with the Llama 3 vocabulary: ~100-token prompts
  promptWords: number("prompt-words", 16, 75),
  stagedRuns: number("staged-runs", 2, 4),
  stageTokens: number("stage-tokens", 4, 24),
  // one thread for the tiny model, as bench/run.mjs's smoke run (at microseconds, two threads' spinning is noise)
  threads: number("threads", 1, 2),
};
const slots = Math.max(...sizes.clients);
const perSlot = smoke ? 256 : 512;
const contextSize = slots * perSlot;
const target = { clients: 8, throughput: 0.95, stagedOverhead: 0.03 };

const started = Date.now();
const elapsed = () => {
  const s = Math.round((Date.now() - started) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};
const say = (message) => console.error(`bench:server [${elapsed()}]: ${message}`);

const percentile = (xs, p) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
};
/** The middle value, or the mean of the two middle ones. */
const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const WORDS = "the a river stone light morning city garden window letter music forest quiet bright old new small long road house paper story question answer number color shadow".split(" ");
/** The i-th prompt: its own opening (no two share more than the template's lead), then filler words. */
function promptText(i) {
  let x = i + 7;
  const words = [];
  for (let w = 0; w < sizes.promptWords; w++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    words.push(WORDS[x % WORDS.length]);
  }
  return `Request ${i}. Continue this text: ${words.join(" ")}`;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A server process: its URL once it answers /health, and how to stop it. */
async function startServer(name, command, argv, urlFrom, stepsMetric) {
  const child = spawn(command, argv, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let log = "";
  child.stderr.on("data", (d) => (log = (log + d.toString()).slice(-20000)));
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    // a server still busy with requests (a run that failed midway) may not stop at once
    const kill = setTimeout(() => child.exitCode === null && child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(kill);
  };
  try {
    const deadline = Date.now() + 300_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${log.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${name} did not come up in 5 minutes: ${log.slice(-2000)}`);
      const url = urlFrom(log);
      if (url) {
        const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
        if (ok) return { name, url, stop, stepsMetric };
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (error) {
    await stop();
    throw error;
  }
}

async function stagebeamServe(modelPath) {
  return startServer(
    "stagebeam serve",
    process.execPath,
    [join(root, "dist", "cli", "main.js"), "serve", "-m", modelPath, "--port", "0", "--threads", String(sizes.threads), "--parallel", String(slots), "--context-size", String(contextSize), "--max-queue", "1000"],
    (log) => /listening on (http:\/\/\S+)/.exec(log)?.[1],
    "stagebeam_decode_calls_total",
  );
}

async function llamaCppServer(bin, modelPath) {
  const port = await freePort();
  const t = String(sizes.threads);
  return startServer(
    "llama-server",
    bin,
    ["-m", modelPath, "--host", "127.0.0.1", "--port", String(port), "-np", String(slots), "-c", String(contextSize), "-kvu", "-t", t, "-tb", t, "--no-webui", "--no-jinja", "--reasoning-format", "none", "--metrics"],
    () => `http://127.0.0.1:${port}`,
    "llamacpp:n_decode_total",
  );
}

async function chat(url, body) {
  const t0 = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = await response.json();
  const seconds = (performance.now() - t0) / 1000;
  // llama-server's chat parser refuses an answer that ends inside a UTF-8 character, which random-weight
  // models write now and then when max_tokens cuts them off: a 500 after all the work, timed as answered.
  if (response.status === 500 && /does not match the expected .* format/.test(json.error?.message ?? "")) return { seconds, json: null };
  if (!response.ok) throw new Error(`${url}: ${response.status} ${JSON.stringify(json)}`);
  return { seconds, json };
}

const plainBody = (i) => ({ messages: [{ role: "user", content: promptText(i) }], max_tokens: sizes.maxTokens, temperature: 0, seed: 0, stream: false });

/** A counter of a server's Prometheus /metrics (0 when absent). */
async function counter(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[:.]/g, "\\$&")}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

/** `clients` clients, each sending `requests` requests back to back; request r of client c is prompt c·K + r. */
async function load(server, clients, offset) {
  const url = server.url;
  const stepsBefore = await counter(url, server.stepsMetric);
  const latencies = [];
  const texts = new Map();
  let completionTokens = 0;
  let promptTokens = 0;
  let answered = 0;
  let unparsed = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let r = 0; r < sizes.requests; r++) {
        const i = offset + c * sizes.requests + r;
        const { seconds, json } = await chat(url, plainBody(i));
        latencies.push(seconds);
        if (json === null) {
          unparsed += 1;
          texts.set(i, null);
          completionTokens += sizes.maxTokens; // cut off by max_tokens mid-character
          continue;
        }
        texts.set(i, json.choices[0].message.content);
        completionTokens += json.usage.completion_tokens;
        promptTokens += json.usage.prompt_tokens;
        answered += 1;
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const steps = (await counter(url, server.stepsMetric)) - stepsBefore;
  const n = clients * sizes.requests;
  return {
    requests: n,
    steps,
    latencies,
    wallSeconds: wall,
    requestsPerMinute: (60 * n) / wall,
    p50: median(latencies),
    p95: percentile(latencies, 95),
    tokensPerSecond: completionTokens / wall,
    completionTokens,
    promptTokensPerRequest: promptTokens / answered,
    unparsed,
    texts,
  };
}

/**
 * Every concurrency level on both servers, after one warm-up request each: `rounds` rounds a level, the
 * two sides taking turns (llama-server first in odd rounds). Every round has its own prompts, the same on
 * both sides. Per level: each side's rounds, and the median of the rounds' throughput ratios.
 */
async function plainRows(ours, peer) {
  await chat(ours.url, plainBody(-1));
  await chat(peer.url, plainBody(-1));
  const out = [];
  let offset = 0;
  for (const clients of sizes.clients) {
    const rounds = { ours: [], peer: [] };
    for (let round = 0; round < sizes.rounds; round++) {
      const order = round % 2 === 0 ? ["peer", "ours"] : ["ours", "peer"];
      for (const side of order) {
        const server = side === "ours" ? ours : peer;
        say(`${server.name}: ${clients} client(s) × ${sizes.requests} requests, round ${round + 1} of ${sizes.rounds} …`);
        rounds[side].push(await load(server, clients, offset));
      }
      offset += clients * sizes.requests;
    }
    out.push({ clients, rounds });
  }
  return out;
}

/** One side's rounds of a level pooled: throughput over all its requests, latency percentiles over all. */
function pooled(rounds) {
  const sum = (f) => rounds.reduce((a, r) => a + f(r), 0);
  const wall = sum((r) => r.wallSeconds);
  const requests = sum((r) => r.requests);
  const latencies = rounds.flatMap((r) => r.latencies);
  return {
    requests,
    wallSeconds: wall,
    requestsPerMinute: (60 * requests) / wall,
    roundsRequestsPerMinute: rounds.map((r) => r.requestsPerMinute),
    p50: median(latencies),
    p95: percentile(latencies, 95),
    tokensPerSecond: sum((r) => r.completionTokens) / wall,
    stepsPerRequest: sum((r) => r.steps) / requests,
    promptTokensPerRequest: rounds[0].promptTokensPerRequest,
    unparsed: sum((r) => r.unparsed),
  };
}

const STAGED_QUESTION = "A farmer has 17 sheep and all but 9 run away. How many sheep are left?";
const stagedSettings = () => ({ strategy: "stage-beam", width: 2, forceStructure: "prefill", maxStageTokens: sizes.stageTokens, judge: "logprob" });

/** The same stage-beam search through the server and through model.reason() here, alternating. */
async function stagedRow(server, modelPath) {
  const model = await loadModel({ path: modelPath });
  try {
    // as `stagebeam serve` makes its context (lib/cli/command-context.ts)
    const context = await model.createContext({ contextSize, sequences: 64, threads: sizes.threads, prefixCache: { sequences: 4 } });
    const viaServer = async () => {
      const { seconds, json } = await chat(server.url, { messages: [{ role: "user", content: STAGED_QUESTION }], seed: 0, stagebeam: stagedSettings() });
      return { seconds, conclusion: json.choices[0].message.content };
    };
    const viaApi = async () => {
      const t0 = performance.now();
      const result = await model.reason({ context, question: STAGED_QUESTION, seed: 0, ...stagedSettings() });
      return { seconds: (performance.now() - t0) / 1000, conclusion: result.conclusion };
    };
    await viaServer(); // warm-up, each side: weights paged in, the question's prefix cached
    await viaApi();
    const server_ = [];
    const api = [];
    for (let i = 0; i < sizes.stagedRuns; i++) {
      say(`staged reasoning: run ${i + 1} of ${sizes.stagedRuns} …`);
      server_.push(await viaServer());
      api.push(await viaApi());
    }
    const serverSeconds = median(server_.map((r) => r.seconds));
    const apiSeconds = median(api.map((r) => r.seconds));
    return {
      runs: sizes.stagedRuns,
      serverSeconds: server_.map((r) => r.seconds),
      apiSeconds: api.map((r) => r.seconds),
      serverMedian: serverSeconds,
      apiMedian: apiSeconds,
      overhead: serverSeconds / apiSeconds - 1,
      sameConclusion: server_.every((r, i) => r.conclusion === api[i].conclusion),
    };
  } finally {
    await model.dispose();
  }
}

function machine() {
  const pin = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).stagebeam.llamaCpp;
  return { date: new Date().toISOString(), cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, threads: sizes.threads, llamaCpp: `${pin.release} (${pin.commit.slice(0, 12)})`, node: process.version };
}

const fmt = (x, digits = 1) => (x === null || x === undefined ? "–" : x.toFixed(digits));

function markdown(r) {
  const lines = [
    `# stagebeam serve vs llama-server${r.smoke ? " (smoke: tiny model, not a measurement)" : ""}`,
    "",
    `${r.machine.date} · ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.threads} threads · llama.cpp ${r.machine.llamaCpp} · Node ${r.machine.node}`,
    "",
    `Model: ${r.model}. ${r.slots} slots (stagebeam: --parallel ${r.slots}; llama-server: -np ${r.slots} -kvu), one KV pool of ${r.contextSize} tokens, ${r.machine.threads} threads each. ` +
      `Plain chat completions: ~${Math.round(r.promptTokens)}-token prompts, each its own, max_tokens ${r.sizes.maxTokens}, temperature 0, seed 0, streaming off; each client sends ${r.sizes.requests} requests back to back. ` +
      `Both servers were up at once and took turns, ${r.sizes.rounds} round${r.sizes.rounds === 1 ? "" : "s"} a level (llama-server first in odd rounds), each round with its own prompts; the ratio is the median of the rounds' ratios, the other columns pool the rounds. This run took ${r.minutes} min${r.wroteModels ? ", writing the models included" : ""}.`,
    "",
    "Steps/request: batch steps (llama_decode calls, from each server's /metrics) per request; as many steps on both sides means the requests shared steps as well, and a gap is then per-step work. Same text: requests both answered with the same text (greedy on the same weights). Unparsed: llama-server's chat parser refused an answer cut off inside a UTF-8 character (a 500 after the work; timed as answered, counted as max_tokens tokens).",
    "",
    "| clients | requests | stagebeam req/min | llama-server req/min | ratio (rounds) | stagebeam p50 / p95 s | llama-server p50 / p95 s | stagebeam tok/s | llama-server tok/s | steps/request stagebeam / llama-server | same text |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...r.plain.map(
      (row) =>
        `| ${row.clients} | ${row.requests} | ${fmt(row.ours.requestsPerMinute)} | ${fmt(row.peer.requestsPerMinute)} | ${fmt(row.ratio, 3)} (${row.roundRatios.map((x) => fmt(x, 3)).join(", ")}) | ${fmt(row.ours.p50, 2)} / ${fmt(row.ours.p95, 2)} | ${fmt(row.peer.p50, 2)} / ${fmt(row.peer.p95, 2)} | ${fmt(row.ours.tokensPerSecond)} | ${fmt(row.peer.tokensPerSecond)} | ${fmt(row.ours.stepsPerRequest, 1)} / ${fmt(row.peer.stepsPerRequest, 1)} | ${row.sameText}/${row.compared}${row.peer.unparsed ? ` (${row.peer.unparsed} unparsed by llama-server)` : ""} |`,
    ),
    "",
    `Target: at ${r.target.clients} clients ≥ ${r.target.throughput}× llama-server's requests per minute — ${r.throughputMet === null ? "not measured" : r.throughputMet ? "met" : "not met"}${r.smoke ? " (smoke: not judged)" : ""}.`,
    "",
    "| staged reasoning | through the server | through the JS API | HTTP overhead | target | met |",
    "| --- | --- | --- | --- | --- | --- |",
    `| stage-beam width 2, ${r.sizes.stageTokens}-token stages, prefilled tags, logprob judge, seed 0 (median of ${r.staged.runs}) | ${fmt(r.staged.serverMedian, 2)} s | ${fmt(r.staged.apiMedian, 2)} s | ${fmt(100 * r.staged.overhead, 1)}% | ≤ ${100 * r.target.stagedOverhead}% | ${r.smoke ? "–" : r.staged.overhead <= r.target.stagedOverhead ? "yes" : "no"} |`,
    "",
    `Same conclusion through both: ${r.staged.sameConclusion ? "yes" : "no"}.`,
    "",
  ];
  return lines.join("\n");
}

const bin = llamaServer(root, say);
if (!bin) {
  console.error("bench:server needs llama.cpp's peers build: run `npm run build:peers` first (llama-server is then built on demand)");
  process.exit(1);
}
const { models, wrote } = await benchModels(root, { smoke, say });
const model = models.find((m) => m.type === (smoke ? "q8_0" : "q4_0"));

say(`llama-server (${bin}) and stagebeam serve …`);
const peerServer = await llamaCppServer(bin, model.path);
let rows;
try {
  const ourServer = await stagebeamServe(model.path);
  try {
    rows = await plainRows(ourServer, peerServer);
  } finally {
    await ourServer.stop();
  }
} finally {
  await peerServer.stop();
}
// A fresh server for the staged row: its context then has the same history as the one made here (the
// plain rows' prompts cached, or the cells they used, would change where the search's cells go).
say("staged reasoning: stage-beam width 2 through the server and through model.reason() …");
let staged;
const stagedServer = await stagebeamServe(model.path);
try {
  staged = await stagedRow(stagedServer, model.path);
} finally {
  await stagedServer.stop();
}

const plain = rows.map(({ clients, rounds }) => {
  const texts = (side) => new Map(rounds[side].flatMap((r) => [...r.texts]));
  const o = texts("ours");
  const p = texts("peer");
  const both = [...o].filter(([k, text]) => text !== null && p.get(k) != null);
  const sameText = both.filter(([k, text]) => p.get(k) === text).length;
  const ratios = rounds.ours.map((r, i) => r.requestsPerMinute / rounds.peer[i].requestsPerMinute);
  return { clients, requests: rounds.ours.length * rounds.ours[0].requests, ours: pooled(rounds.ours), peer: pooled(rounds.peer), roundRatios: ratios, ratio: median(ratios), sameText, compared: both.length };
});
const atTarget = plain.find((row) => row.clients === target.clients);
const result = {
  smoke,
  machine: machine(),
  model: smoke ? "tiny test llama, Q8_0" : "Llama-3.2-1B-shaped (random weights), Q4_0",
  sizes,
  slots,
  contextSize,
  promptTokens: plain[0].ours.promptTokensPerRequest,
  peerPromptTokens: plain[0].peer.promptTokensPerRequest,
  target,
  plain,
  throughputMet: atTarget ? atTarget.ratio >= target.throughput : null,
  staged,
  minutes: Number(((Date.now() - started) / 60000).toFixed(1)),
  wroteModels: wrote,
};
const base = join(root, "bench", "results", smoke ? "smoke-server" : "server");
mkdirSync(dirname(base), { recursive: true });
writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(`${base}.md`, markdown(result));
console.log(markdown(result));
say(`wrote ${base}.md and .json`);
