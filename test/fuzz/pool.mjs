// Runs fuzz cases in long-lived worker processes and classifies each outcome. A case is a failure when
// it ends in anything but success or a typed StagebeamError: an untyped error, a broken invariant, a
// worker that died under it (crash), or one that overran the time limit (hang). A dead or hung worker is
// killed and replaced before the next case.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";

const workerPath = fileURLToPath(new URL("./worker.mjs", import.meta.url));

/** Whether an outcome breaks the promise: success and typed errors keep it. */
export function isFailure(outcome) {
  return !["ok", "typed"].includes(outcome.status);
}

class Worker {
  constructor() {
    this.child = fork(workerPath, [], { stdio: ["ignore", "ignore", "pipe", "ipc"], serialization: "advanced" });
    // The tail of its stderr says why a worker died (ggml prints the failed assert there).
    this.stderr = "";
    this.child.stderr.on("data", (d) => {
      this.stderr = (this.stderr + d).slice(-4096);
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.once("message", (m) => (m.type === "ready" ? resolve() : reject(new Error("worker did not start"))));
      this.child.once("exit", (code, signal) => reject(new Error(`worker exited while starting (${signal ?? code})`)));
    });
    this.ready.catch(() => {});
    this.stray = [];
    this.child.on("message", (m) => {
      if (m.type === "stray") this.stray.push(m.outcome);
    });
  }

  /** Runs one case: resolves { outcome, ms } whatever happens, and whether this worker is still usable. */
  async run(message, timeoutMs) {
    try {
      await this.ready;
    } catch (error) {
      return { outcome: { status: "crash", code: "WORKER_START", message: error.message }, ms: 0, dead: true };
    }
    return new Promise((resolve) => {
      const started = performance.now();
      let settled = false;
      const finish = (result) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.child.off("message", onMessage);
        this.child.off("exit", onExit);
        resolve(result);
      };
      const onMessage = (m) => {
        if (m.type !== "result" || m.index !== message.index || m.cls !== message.cls) return;
        // An unawaited rejection seen while this case ran is this case's failure.
        const stray = this.stray.shift();
        finish({ outcome: stray ? { status: "stray", code: stray.code, message: stray.message } : m.outcome, ms: m.ms, dead: false });
      };
      const onExit = (code, signal) => {
        const why = this.stderr.split("\n").filter((l) => /assert|abort|error|terminate/i.test(l)).at(-1)?.trim() ?? "";
        finish({ outcome: { status: "crash", code: signal ?? `exit ${code}`, message: `the worker died: ${signal ?? `exit code ${code}`}${why ? ` (${why.slice(0, 200)})` : ""}` }, ms: performance.now() - started, dead: true });
      };
      const timer = setTimeout(() => {
        this.kill();
        finish({ outcome: { status: "hang", code: "TIMEOUT", message: `no outcome within ${timeoutMs} ms` }, ms: timeoutMs, dead: true });
      }, timeoutMs);
      this.child.on("message", onMessage);
      this.child.once("exit", onExit);
      this.child.send({ type: "case", ...message });
    });
  }

  kill() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

/**
 * Runs `cases` ([{ cls, seed, index }]) on `workers` processes; calls onResult for each as it ends.
 * Returns the results in the order of `cases`.
 */
export async function runCases(cases, { workers = 2, timeoutMs = 20000, onResult = () => {} } = {}) {
  const results = new Array(cases.length);
  let next = 0;
  const lane = async () => {
    let worker = new Worker();
    while (next < cases.length) {
      const i = next++;
      const result = await worker.run(cases[i], timeoutMs);
      results[i] = { ...cases[i], ...result };
      onResult(results[i]);
      if (result.dead) {
        worker.kill();
        worker = new Worker();
      }
    }
    worker.kill();
  };
  await Promise.all(Array.from({ length: Math.max(1, workers) }, lane));
  return results;
}
