// A fuzz worker: a child process that runs cases one after another, as the parent sends them over IPC,
// and reports each outcome. The parent watches it: a worker that dies (abort, signal) or overruns a
// case's time limit is recorded as a crash or a hang and replaced. Loaded models are kept between cases
// where the case does not test loading them.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, StagebeamError, ERROR_CODES } from "../../dist/index.js";
import { baseFiles } from "./base-files.mjs";
import { classes } from "./classes.mjs";
import { caseRandom } from "./random.mjs";

const tmp = mkdtempSync(join(tmpdir(), "stagebeam-fuzz-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

function once(make) {
  let value;
  return () => (value ??= make());
}

const resources = {
  tmp,
  serial: 0,
  /** The base model with its projector and a context, shared by the image, text and option cases. */
  shared: once(async () => {
    const model = await loadModel({ path: baseFiles.model, projector: baseFiles.projector, gpuLayers: 0 });
    const context = await model.createContext({ contextSize: 512, sequences: 16, threads: 1 });
    return { model, context };
  }),
  /** A model whose projector the gguf cases replace. */
  projectorHost: once(() => loadModel({ path: baseFiles.model, gpuLayers: 0 })),
};

const codes = new Set(ERROR_CODES);

export function outcomeOf(error) {
  if (error instanceof StagebeamError && codes.has(error.code)) return { status: "typed", code: error.code, message: firstLine(error.message) };
  return { status: "untyped", code: error?.name ?? typeof error, message: firstLine(error?.message ?? String(error)), stack: error?.stack };
}

function firstLine(text) {
  return String(text).split("\n")[0].slice(0, 300);
}

process.on("message", async (message) => {
  if (message.type !== "case") return;
  const { cls, seed, index } = message;
  const started = performance.now();
  let outcome;
  try {
    // A case is made from (seed, class, index), or given as it is (the regression cases).
    const fuzzCase = message.fuzzCase ?? classes[cls].makeCase(caseRandom(seed, cls, index));
    const result = await classes[cls].runCase(fuzzCase, resources);
    outcome = result ?? { status: "ok" };
  } catch (error) {
    outcome = outcomeOf(error);
  }
  process.send({ type: "result", cls, index, outcome, ms: performance.now() - started });
});

// A promise nobody awaited that rejects later must not pass unnoticed: it becomes the next report.
process.on("unhandledRejection", (error) => {
  process.send({ type: "stray", outcome: outcomeOf(error) });
});

process.send({ type: "ready" });
