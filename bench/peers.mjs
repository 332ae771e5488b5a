// The peers' side: llama.cpp's own llama-bench and llama-batched-bench, built from the same llama.cpp
// with the same CMake options as the addon (npm run build:peers).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function peerPath(root, name) {
  const path = join(root, "build-llama", "bin", name);
  return existsSync(path) ? path : null;
}

/** llama-bench's tokens/s of each repetition of a prompt (`-p`) or generation (`-n`) test. */
export function llamaBench(bin, model, { prompt = 0, gen = 0, threads, reps }) {
  const out = execFileSync(bin, ["-m", model, "-p", String(prompt), "-n", String(gen), "-t", String(threads), "-r", String(reps), "-o", "json"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  const rows = JSON.parse(out);
  const row = rows.find((r) => r.n_prompt === prompt && r.n_gen === gen);
  return row.samples_ts ?? [row.avg_ts];
}

/** llama-mtmd-cli's own timing of one image: encode + decode of the embeddings, seconds. */
export function mtmdCliImage(bin, model, projector, { image, threads }) {
  const run = spawnSync(bin, ["-m", model, "--mmproj", projector, "--image", image, "-p", "x", "-n", "1", "--temp", "0", "-t", String(threads), "-v"], {
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  if (run.status !== 0) throw new Error(`llama-mtmd-cli failed: ${run.stderr.split("\n").slice(-3).join(" ")}`);
  const out = run.stdout + run.stderr;
  const encodes = [...out.matchAll(/encoding done in (\d+) ms/g)];
  const decodes = [...out.matchAll(/image decoded \(batch \d+\/\d+\) in (\d+) ms/g)];
  if (encodes.length === 0 || decodes.length === 0) throw new Error("llama-mtmd-cli printed no image timings");
  // whole milliseconds: the tiny smoke projector can round to 0
  return [...encodes, ...decodes].reduce((s, m) => s + Number(m[1]), 0) / 1000;
}

/**
 * node-llama-cpp@3.21.1 from the registry with its prebuilt CPU binary, installed into bench/.peers only
 * (not a dependency of the package), and measured in a process of its own.
 */
export function nodeLlamaCpp(root, model, { threads, gen, prefix, branchGen, branches }) {
  const dir = join(root, "bench", ".peers");
  if (!existsSync(join(dir, "node_modules", "node-llama-cpp"))) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "package.json"), '{"name":"stagebeam-bench-peers","private":true,"type":"module"}\n');
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--omit=optional", "node-llama-cpp@3.21.1", `@node-llama-cpp/${process.platform}-${process.arch}@3.21.1`], {
      cwd: dir,
      stdio: "ignore",
    });
  }
  const out = execFileSync(process.execPath, [join(root, "bench", "node-llama-cpp.mjs"), model, ...[threads, gen, prefix, branchGen, branches].map(String)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  return JSON.parse(out.trim().split("\n").pop());
}

/** llama-batched-bench's total time (T s) for one shared prefix and `branches` continuations. */
export function batchedBench(bin, model, { prefix, gen, branches, threads }) {
  const out = execFileSync(
    bin,
    ["-m", model, "-c", String(prefix + branches * gen + 256), "-npp", String(prefix), "-ntg", String(gen), "-npl", String(branches), "-pps", "-kvu", "-t", String(threads), "-tb", String(threads)],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
  const row = out.split("\n").find((line) => /^\|\s*\d+\s*\|/.test(line));
  if (!row) throw new Error("llama-batched-bench printed no result row");
  const cells = row.split("|").map((c) => c.trim()).filter(Boolean);
  return Number(cells[8]); // | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
}

/**
 * llama.cpp's llama-server, built from the same sources and options as the addon. It is not part of the
 * peers' default build (CI does not need it): the first server benchmark builds it, under the shared
 * build lock, into build-llama/bin (a few CPU minutes, once). Null without a peers build to add it to.
 */
export function llamaServer(root, say) {
  const have = peerPath(root, "llama-server");
  if (have) return have;
  const cache = join(root, "build-llama", "CMakeCache.txt");
  if (!existsSync(cache) || !/^STAGEBEAM_BUILD_PEERS:BOOL=ON$/m.test(readFileSync(cache, "utf8"))) return null;
  say("building llama-server (once; a few minutes) …");
  const build = ["cmake", "--build", join(root, "build-llama"), "--target", "llama-server"];
  // under the lock every build of this checkout takes, where there is flock
  const locked = spawnSync("flock", ["--version"]).status === 0 ? ["flock", "/tmp/stagebeam-build.lock", ...build] : build;
  execFileSync(locked[0], locked.slice(1), { stdio: ["ignore", "ignore", "inherit"] });
  return peerPath(root, "llama-server");
}
