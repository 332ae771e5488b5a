#!/usr/bin/env node
// Builds what the addon links against: fetches the pinned llama.cpp (scripts/fetch-llama.mjs) and has
// cmake-js build libllama, ggml (with its CPU backends as loadable modules) and libmtmd into
// build-llama/bin. node-gyp then builds the addon itself from binding.gyp.
//
// This is the pre-command of node-gyp-build's install fallback ("install" in package.json), so it runs
// only when no prebuilt binary loads.
//
// Why the defaults are what they are (measured on this project's Xeon machines, see ARCHITECTURE.md):
// GCC 12 builds of ggml's AMX kernels die with SIGILL at the first tile instruction, while clang-16
// builds run and are the fastest. So on x86-64 we build with clang when one is installed, portable
// (GGML_NATIVE=OFF) with every CPU variant as a separate module chosen at run time
// (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS). With only GCC available we build for the host CPU with AMX
// switched off, and say so; that build links the CPU backend into libggml (GGML_BACKEND_DL off), because
// ggml refuses GGML_NATIVE with loadable CPU modules on x86 (their selection needs per-variant features).
// Every build also has ggml's RPC backend and llama.cpp's rpc-server (GGML_RPC).
//
// Options: --peers (or STAGEBEAM_PEERS=1) also builds llama.cpp's own reference tools, which the tests
// compare against.
// Environment: CC/CXX pick the compiler; STAGEBEAM_CMAKE_ARGS adds CMake options, e.g.
// "-DGGML_CUDA=ON" or "-DGGML_VULKAN=ON"; STAGEBEAM_BUILD_JOBS sets the parallelism.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fetchLlama } from "./fetch-llama.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));

function which(command) {
  const found = spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : null;
}

function pickCompiler() {
  if (process.env.CC && process.env.CXX) return { cc: process.env.CC, cxx: process.env.CXX, clang: /clang/.test(process.env.CXX) };
  if (process.platform === "darwin") return { cc: null, cxx: null, clang: true };
  for (const suffix of ["-16", "-17", "-18", "-19", ""]) {
    const cc = which(`clang${suffix}`);
    const cxx = which(`clang++${suffix}`);
    if (cc && cxx) return { cc, cxx, clang: true };
  }
  return { cc: null, cxx: null, clang: false };
}

/** The CMake options of a build with `compiler` ({ cc, cxx, clang }) on `arch` (default: this machine's). */
export function cmakeOptions(compiler, { arch = process.arch, platform = process.platform, quiet = false } = {}) {
  const options = {
    CMAKE_BUILD_TYPE: "Release",
    GGML_BACKEND_DL: "ON",
    GGML_OPENMP: "OFF",
    // ggml's RPC backend (a model split across machines, `loadModel({ rpc })`) and llama.cpp's
    // rpc-server from the same sources, so client and servers always speak the same protocol version.
    GGML_RPC: "ON",
    STAGEBEAM_BUILD_PEERS: args.has("--peers") || process.env.STAGEBEAM_PEERS === "1" ? "ON" : "OFF",
  };
  const x64 = arch === "x64";
  if (x64 && (compiler.clang || platform === "win32")) {
    Object.assign(options, { GGML_NATIVE: "OFF", GGML_CPU_ALL_VARIANTS: "ON" });
  } else if (x64) {
    if (!quiet) {
      console.error(
        "stagebeam: clang not found; building with the default compiler for this CPU only, AMX kernels off " +
          "(GCC builds of them crash). Install clang-16 for the portable, faster build.",
      );
    }
    Object.assign(options, {
      GGML_BACKEND_DL: "OFF",
      GGML_NATIVE: "ON",
      CMAKE_C_FLAGS: "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
      CMAKE_CXX_FLAGS: "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
    });
  }
  if (compiler.cc) Object.assign(options, { CMAKE_C_COMPILER: compiler.cc, CMAKE_CXX_COMPILER: compiler.cxx });
  return options;
}

/**
 * The options a configured build directory disagrees with. cmake-js applies -D options only when it
 * configures, and `cmake-js build` configures only a fresh directory, so changed options (--peers
 * after a plain install, another STAGEBEAM_CMAKE_ARGS) need an explicit reconfigure.
 */
function staleOptions(buildDir, defines) {
  const cache = join(buildDir, "CMakeCache.txt");
  if (!existsSync(cache)) return [];
  const text = readFileSync(cache, "utf8");
  return Object.entries(defines).filter(([key, value]) => {
    const line = text.match(new RegExp(`^${key}:[A-Z]+=(.*)$`, "m"));
    return !line || line[1] !== String(value);
  });
}

/** STAGEBEAM_CMAKE_ARGS ("-DGGML_CUDA=ON -DX=Y") laid over `options`. */
export function withUserOptions(options, userArgs = process.env.STAGEBEAM_CMAKE_ARGS ?? "") {
  const out = { ...options };
  for (const option of userArgs.split(/\s+/).filter(Boolean)) {
    const [key, ...value] = option.replace(/^-D/, "").split("=");
    out[key] = value.join("=");
  }
  return out;
}

function main() {
  fetchLlama();
  const compiler = pickCompiler();
  const options = withUserOptions(cmakeOptions(compiler));
  const jobs = process.env.STAGEBEAM_BUILD_JOBS ?? String(availableParallelism());
  const cmakeJs = join(root, "node_modules", "cmake-js", "bin", "cmake-js");
  const buildDir = join(root, "build-llama");
  const common = ["--directory", root, "--out", buildDir, "--log-level", "warn", ...Object.entries(options).map(([k, v]) => `--CD${k}=${v}`)];
  // ccache keys on paths unless told the project root: with it, a fresh clone elsewhere (CI) reuses
  // the objects of an earlier build on the same machine.
  const env = { ...process.env, CCACHE_BASEDIR: process.env.CCACHE_BASEDIR ?? root };
  const run = (args) => execFileSync(process.execPath, [cmakeJs, ...args], { cwd: root, stdio: "inherit", env });
  // The reference tools, once built, stay: a plain build after a test run should not reconfigure them away.
  if (options.STAGEBEAM_BUILD_PEERS === "OFF" && staleOptions(buildDir, { STAGEBEAM_BUILD_PEERS: "ON" }).length === 0 && existsSync(join(buildDir, "CMakeCache.txt"))) {
    options.STAGEBEAM_BUILD_PEERS = "ON";
  }
  const stale = staleOptions(buildDir, options);
  if (stale.length > 0) {
    console.error(`stagebeam: reconfiguring llama.cpp (${stale.map(([k, v]) => `${k}=${v}`).join(", ")})`);
    run(["configure", ...common]);
  }
  console.error(`stagebeam: building llama.cpp with ${compiler.cxx ?? "the default compiler"} (${jobs} jobs)`);
  run(["build", ...common, "--parallel", jobs]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (error) {
    console.error(`stagebeam: native build failed: ${error.message}`);
    process.exit(1);
  }
}
