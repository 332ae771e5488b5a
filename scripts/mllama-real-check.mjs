#!/usr/bin/env node
// The stagebeam half of the owner-run real-weights check (docs/real-weights.md): one image prompt
// through the public API (loadModel → applyChatTemplate → createSequenceFrom → evaluate with logprobs),
// then the top-k of the next-token distribution as logprobs.
//
//   node scripts/mllama-real-check.mjs --model M.gguf --projector P.gguf --image a.jpg --question "…" [--json]
//
// Runs alone (a table, or --json), and is what scripts/mllama-real-check.py runs for its stagebeam side:
// the engine is only reachable from JavaScript, the reference only from Python, so the Python script
// drives both and this file stays a plain user of the package (it imports dist/, nothing internal).
// Build dist/ first (`npx tsc -p tsconfig.build.json`) when lib/ is newer.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const USAGE = `usage: node scripts/mllama-real-check.mjs --model M.gguf --projector P.gguf --image IMG [--image IMG2 …] --question TEXT
  [--top-k 10] [--context-size 1024] [--kv-type f32|f16] [--gpu-layers -1] [--threads N]
  [--flash-attention auto|on|off] [--date "26 Jul 2024"] [--probes ID,ID,…] [--json]`;

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    projector: { type: "string" },
    image: { type: "string", multiple: true },
    question: { type: "string" },
    "top-k": { type: "string", default: "10" },
    "context-size": { type: "string", default: "1024" },
    // F32 by default: the reference runs in F32 (or BF16) with no KV rounding; f16 is what generation uses.
    "kv-type": { type: "string", default: "f32" },
    "gpu-layers": { type: "string", default: "-1" },
    threads: { type: "string" },
    "flash-attention": { type: "string", default: "auto" },
    // Llama 3.x templates print a date in text-only prompts; fixed so both sides render the same text.
    date: { type: "string", default: "26 Jul 2024" },
    // Tokens whose logprobs to report whatever their rank (the Python driver passes the reference's top-k).
    probes: { type: "string", default: "" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values.model || !values.projector || !values.image?.length || values.question === undefined) {
  console.error(USAGE);
  process.exit(2);
}
const int = (name) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n)) {
    console.error(`--${name} must be an integer, got ${values[name]}`);
    process.exit(2);
  }
  return n;
};

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(root, "dist", "index.js");
if (!existsSync(entry)) {
  console.error(`${entry} is missing: build it with \`npx tsc -p tsconfig.build.json\``);
  process.exit(2);
}
const { loadModel } = await import(pathToFileURL(entry).href);

// stagebeam's errors carry a code (MODEL_NOT_FOUND, PROJECTOR_MISMATCH, …): one line, no stack.
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
function fail(error) {
  console.error(`stagebeam half: ${error?.code ? `${error.code}: ` : ""}${error?.message ?? error}`);
  process.exit(1);
}

const model = await loadModel({ path: values.model, projector: values.projector, gpuLayers: int("gpu-layers") });
let context;
try {
  context = await model.createContext({
    contextSize: int("context-size"),
    sequences: 1,
    images: Math.max(1, values.image.length),
    kvType: values["kv-type"],
    flashAttention: values["flash-attention"],
    ...(values.threads ? { threads: int("threads") } : {}),
  });
  // The user message: the image(s), then the question (what the Python reference renders too).
  const content = [...values.image.map(() => ({ type: "image" })), { type: "text", text: values.question }];
  const prompt = model.applyChatTemplate([{ role: "user", content }], { variables: { date_string: values.date } });
  const sequence = await context.createSequenceFrom({ prompt, images: values.image });
  // createSequenceFrom leaves the last prompt token pending; evaluating nothing with logprobs decodes it
  // and reads the distribution after it.
  const probes = values.probes ? values.probes.split(",").map(Number) : [];
  if (probes.some((t) => !Number.isInteger(t) || t < 0 || t >= model.vocabSize)) {
    throw new Error(`--probes must be token ids below ${model.vocabSize}, got ${values.probes}`);
  }
  const { next } = await sequence.evaluate([], { logprobs: { topK: int("top-k"), probes } });
  const top = next.top.map(({ token, logprob }) => ({ token, logprob, text: model.detokenize([token], { special: true }) }));
  const result = {
    side: "stagebeam",
    model: values.model,
    projector: values.projector,
    engine: model.engine,
    prompt,
    // The prompt as the model's vocabulary tokenizes it (<|image|> is token 128256): compare with the reference's.
    inputIds: model.tokenize(prompt, { parseSpecial: true }),
    settings: { kvType: values["kv-type"], gpuLayers: int("gpu-layers"), flashAttention: values["flash-attention"], contextSize: int("context-size") },
    top,
    probes: probes.map((token, i) => ({ token, logprob: next.probes[i] })),
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(result) + "\n");
  } else {
    console.log(`prompt: ${JSON.stringify(prompt)}`);
    console.log(`top-${top.length} next tokens (logprob):`);
    for (const [i, t] of top.entries()) console.log(`${String(i + 1).padStart(3)}  ${String(t.token).padStart(6)}  ${t.logprob.toFixed(6).padStart(11)}  ${JSON.stringify(t.text)}`);
  }
  await sequence.dispose();
} finally {
  await context?.dispose();
  await model.dispose();
}
