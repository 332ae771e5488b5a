// Fuzz class "cli": `stagebeam run`, `info` and `pull` with the other classes' inputs as arguments —
// damaged model files, bad images, odd questions, option values at their edges, unknown names and flags,
// hf: references with `..`, absolute paths and URL tricks (against a Hub endpoint that is not there).
// A CLI case is a process of its own; it must exit 0, 1 with one "stagebeam: error [CODE]: …" line, or 2
// (a usage error), never with a signal, a stack trace or an error without a code.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { baseFiles, repoRoot } from "./base-files.mjs";
import { caseFile, makeCase as makeGgufCase } from "./gguf-cases.mjs";
import { caseInput, makeCase as makeImageCase } from "./image-cases.mjs";
import { caseRandom } from "./random.mjs";

const cli = join(repoRoot, "dist", "cli", "main.js");
const EDGE = ["NaN", "Infinity", "-Infinity", "-1", "0", "1.5", "1e309", "", "abc", "10000", "2147483648", "0x10", " 3", "1", "2", "-0", "9007199254740993"];
const NAMES = ["", "bogus", "STAGE-BEAM", "stage_beam", "constructor", "toString", "__proto__"];
const REFS = [
  "hf:", "hf:owner", "hf:owner/", "hf:/abs/path.gguf", "hf:owner/repo/../../etc/passwd.gguf", "hf:../repo/x.gguf", "hf:owner/repo/..%2f..%2fx.gguf",
  "hf:owner/repo:Q4_K_M", "hf:owner/repo", "hf:http://evil.example/x.gguf", "hf:owner/repo/file.gguf?x=1", "hf:owner/repo/\u0000.gguf", "hf:owner/re po/x.gguf",
  "hf:owner/repo/sub/dir/x.gguf", "hf:owner/repo:", "hf:owner/repo::Q4", "hf:owner/repo/x.gguf#frag", "hf:a/b/c/../../../../x.gguf", "hf:./x/y.gguf", "hf:owner/repo/x.GGUF",
];
const QUESTIONS = ["why?", "", "<|eot_id|>", "</CONCLUSION> \u0000 \ud800", "-m", "--help", "q".repeat(5000)];

const RUN_OPTIONS = {
  "--strategy": () => "names", "--width": () => "edge", "--temperature": () => "edge", "--top-p": () => "edge", "--seed": () => "edge",
  "--max-stage-tokens": () => "edge", "--force-structure": () => "names", "--judge": () => "names", "--gpu-layers": () => "edge",
  "--threads": () => "edge", "--context-size": () => "edge", "--chat-template": () => "template", "--image": () => "image", "--projector": () => "model",
};

function modelArg(r) {
  const kind = r.pick(["good", "good", "mutated", "mutated", "ref", "missing", "directory", "notGguf", "projector"]);
  if (kind === "mutated") return { kind, gguf: makeGgufCase(r) };
  if (kind === "ref") return { kind, ref: r.pick(REFS) };
  return { kind };
}

export function makeCase(r) {
  const command = r.pick(["run", "run", "run", "info", "info", "pull", "bogus"]);
  const args = [];
  if (command === "pull") args.push({ ref: r.pick(REFS.concat(["", "./local.gguf", "-q"])) });
  else if (command === "info") args.push({ model: modelArg(r) });
  else if (command === "run") args.push({ flag: "-m", model: modelArg(r) }, { question: r.pick(QUESTIONS) });
  // Defaults that keep a run that succeeds short.
  const fast = command === "run" && r.chance(0.8);
  for (let k = r.int(0, 3); k > 0; k--) {
    const roll = r();
    if (roll < 0.1) args.push({ raw: r.pick(["--no-such-flag", "--width", "-m", "--", "--json", "--quiet", "--verbose", "-q", "--show-reasoning", "--help"]) });
    else if (command === "info" && roll < 0.5) args.push({ flag: "--projector", model: modelArg(r) });
    else if (command === "info" && roll < 0.6) args.push({ raw: "--json" });
    else {
      const flag = r.pick(Object.keys(RUN_OPTIONS));
      const kind = RUN_OPTIONS[flag]();
      if (kind === "edge") args.push({ flag, value: r.pick(EDGE) });
      else if (kind === "names") args.push({ flag, value: r.pick(NAMES) });
      else if (kind === "template") args.push({ flag, value: r.pick(["chatml", "llama3", "bogus-name", "", "/no/such/file.jinja"]) });
      else if (kind === "image") args.push({ flag, image: makeImageCase(r) });
      else args.push({ flag, model: modelArg(r) });
    }
  }
  return { command, args, fast };
}

async function modelPath(m, resources) {
  if (m.kind === "good") return baseFiles.model;
  if (m.kind === "projector") return baseFiles.projector;
  if (m.kind === "ref") return m.ref;
  if (m.kind === "missing") return join(resources.tmp, "missing.gguf");
  if (m.kind === "directory") return resources.tmp;
  const path = join(resources.tmp, `cli-${resources.serial++}.gguf`);
  if (m.kind === "notGguf") writeFileSync(path, "not a model\n");
  else {
    const file = caseFile(m.gguf);
    if (file.path) return file.path;
    if (file.bytes) writeFileSync(path, file.bytes);
    else (await import("../../dist/gguf/writer.js")).writeGguf(path, file.gguf.kv, file.gguf.tensors);
  }
  return path;
}

async function argv(c, resources) {
  // A run that succeeds is kept short by defaults placed first, so the fuzzed options (later) override them.
  const out = [c.command, ...(c.command === "run" ? ["--strategy", "single", "--max-stage-tokens", "4", "--context-size", "256", "--threads", "1"] : [])];
  for (const a of c.args) {
    if (a.raw !== undefined) out.push(a.raw);
    else if (a.ref !== undefined) out.push(a.ref);
    else if (a.question !== undefined) out.push(a.question);
    else if (a.model && !a.flag) out.push(await modelPath(a.model, resources));
    else if (a.model) out.push(a.flag, await modelPath(a.model, resources));
    else if (a.image) {
      const input = caseInput(a.image, resources, caseRandom(a.image.seed ?? 0, "image-bytes", 0));
      let path = input;
      if (typeof input !== "string" || input.startsWith("data:")) {
        path = join(resources.tmp, `cli-image-${resources.serial++}.png`);
        writeFileSync(path, typeof input === "string" ? "" : input instanceof Uint8Array ? input : "");
      }
      out.push(a.flag, path);
    } else out.push(a.flag, a.value);
  }
  if (c.fast) out.push("--strategy", "single", "--max-stage-tokens", "2", "--context-size", "256", "--threads", "1", "--quiet");
  return out.map((s) => s.replace(/\u0000/g, "\\0"));
}

/** Exit code and stderr: success, a usage error, or one typed error line; anything else breaks the promise. */
export function classifyExit(code, signal, stderr, verbose = false) {
  if (signal) return { status: "crash", code: signal, message: stderr.trim().split("\n").at(-1) ?? "" };
  const lines = stderr.trim().split("\n").filter(Boolean);
  const last = lines.at(-1) ?? "";
  // --verbose asks for stack traces.
  if (!verbose && /^\s+at .+:\d+:\d+\)?$/m.test(stderr)) return { status: "untyped", code: `exit ${code}`, message: `stack trace on stderr: ${last}` };
  if (code === 0) return { status: "ok" };
  if (code === 2) return { status: "typed", code: "USAGE (exit 2)", message: lines[0] ?? "" };
  if (code === 1) {
    const typed = lines.map((l) => /^stagebeam: error \[([A-Z_]+)\]: /.exec(l)).filter(Boolean);
    if (typed.length === 1) return { status: "typed", code: typed[0][1], message: last };
    return { status: "untyped", code: "exit 1", message: last };
  }
  return { status: "untyped", code: `exit ${code}`, message: last };
}

export async function runCase(c, resources) {
  const args = await argv(c, resources);
  const home = join(resources.tmp, "home");
  mkdirSync(home, { recursive: true });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      // No network: the Hub is a port nothing listens on; caches in the case's own folder.
      env: { ...process.env, STAGEBEAM_HF_ENDPOINT: "http://127.0.0.1:9", HF_HOME: join(home, "hf"), STAGEBEAM_CACHE: join(home, "cache"), XDG_CACHE_HOME: join(home, "xdg"), HOME: home, NO_COLOR: "1" },
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d).length > 1e6 && (stderr = stderr.slice(-1e5)));
    const timer = setTimeout(() => child.kill("SIGKILL"), resources.cliTimeoutMs ?? 15000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const outcome = signal === "SIGKILL" ? { status: "hang", code: "TIMEOUT", message: `stagebeam ${c.command} ran past its time limit` } : classifyExit(code, signal, stderr, args.includes("--verbose"));
      resolve(outcome);
    });
  });
}
