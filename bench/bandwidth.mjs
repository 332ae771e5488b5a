// The decode rows' ceiling: a token's forward pass reads every weight once, so the machine's memory read
// bandwidth divided by the bytes read per token is the fastest decode it allows. Measured in the same run
// as the rows it scales (bench/read-bandwidth.c, compiled here with the compiler that built llama.cpp).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { readGgufMetadata } from "../dist/gguf/reader.js";

/** The C compiler llama.cpp was configured with (clang-16 here), else `cc`. */
function compiler(root) {
  const cache = join(root, "build-llama", "CMakeCache.txt");
  const configured = existsSync(cache) ? readFileSync(cache, "utf8").match(/^CMAKE_C_COMPILER:[A-Z]+=(.+)$/m)?.[1] : undefined;
  return configured && existsSync(configured) ? configured : "cc";
}

/** Best-of-7 read bandwidth over a 1 GiB buffer with `threads` threads, in 10^9 bytes per second. */
export function readBandwidth(root, { threads, mib = 1024 }) {
  const source = join(root, "bench", "read-bandwidth.c");
  const dir = join(root, "bench", ".peers");
  const bin = join(dir, "read-bandwidth");
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(source).mtimeMs) {
    mkdirSync(dir, { recursive: true });
    execFileSync(compiler(root), ["-O3", "-march=native", "-pthread", source, "-o", bin], { stdio: "inherit" });
  }
  return JSON.parse(execFileSync(bin, [String(threads), String(mib)], { encoding: "utf8" })).gbPerSecond;
}

/**
 * Bytes of weights one decoded token reads: every tensor, except that the token embedding table is only
 * looked up (one row) when the model has its own output head — a tied head (Llama 3.2 1B's) reads it whole.
 * KV-cache reads are left out: at the decode rows' ≤ 128 positions they are under 1% of the weights.
 */
export function decodeBytesPerToken(path) {
  const { tensors } = readGgufMetadata(path);
  const tiedHead = !tensors.some((t) => t.name === "output.weight");
  let bytes = 0;
  for (const t of tensors) {
    if (t.byteLength === undefined) throw new Error(`${path}: tensor ${t.name} has a type whose size is unknown here`);
    bytes += t.name === "token_embd.weight" && !tiedHead ? t.byteLength / t.dims[1] : t.byteLength;
  }
  return bytes;
}

/** How fast decode could go if it only read the weights at full bandwidth, tokens per second. */
export function bandwidthLimit(gbPerSecond, bytesPerToken) {
  return (gbPerSecond * 1e9) / bytesPerToken;
}
