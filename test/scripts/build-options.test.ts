// Every documented build path configures: clang portable (the default on x86-64), the GCC fallback (host
// CPU, AMX off, CPU backend linked in), and the GPU paths through STAGEBEAM_CMAKE_ARGS as far as this
// machine has their toolkits; each with ggml's RPC backend and rpc-server. Configure only — seconds each, where building each would take most of an
// hour — so that no option set can rot unseen again (the GCC fallback once failed at configure time).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { cmakeOptions, withUserOptions } from "../../scripts/prepare-native.mjs";
import { repoRoot } from "../fixtures/models.js";

const which = (command: string): string | null => {
  const found = spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : null;
};

/** Configures the project with `options` in a scratch folder; returns the exit status, output and cache. */
function configure(options: Record<string, string>): { status: number | null; output: string; cache: string } {
  const dir = mkdtempSync(join(tmpdir(), "stagebeam-configure-"));
  try {
    const r = spawnSync("cmake", ["-S", repoRoot, "-B", dir, ...Object.entries(options).map(([k, v]) => `-D${k}=${v}`)], { encoding: "utf8", timeout: 300_000 });
    let cache = "";
    try {
      cache = readFileSync(join(dir, "CMakeCache.txt"), "utf8");
    } catch {
      // no cache: configure failed early
    }
    return { status: r.status, output: `${r.stdout}\n${r.stderr}`, cache };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether the CUDA toolkit nvcc belongs to has cuBLAS (ggml-cuda links it). */
function cublas(): boolean {
  const nvcc = which("nvcc");
  if (!nvcc) return false;
  const root = spawnSync("sh", ["-c", `dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")"`], { encoding: "utf8" }).stdout.trim();
  const found = spawnSync("sh", ["-c", `ls ${root}/lib64/libcublas.so* ${root}/targets/*/lib/libcublas.so* /usr/lib/*/libcublas.so* 2>/dev/null | head -1`], { encoding: "utf8" });
  return found.stdout.trim().length > 0;
}

const gcc = { cc: which("gcc"), cxx: which("g++"), clang: false };
const clang = { cc: which("clang-16") ?? which("clang"), cxx: which("clang++-16") ?? which("clang++"), clang: true };
const x64 = process.arch === "x64";

describe.skipIf(!x64)("x86-64 build paths configure", () => {
  test.skipIf(!clang.cxx)("clang: portable, every CPU variant a loadable module", () => {
    const options = cmakeOptions(clang, { quiet: true });
    expect(options).toMatchObject({ GGML_BACKEND_DL: "ON", GGML_NATIVE: "OFF", GGML_CPU_ALL_VARIANTS: "ON", GGML_RPC: "ON" });
    const r = configure(options);
    expect(r.status, r.output.slice(-2000)).toBe(0);
    expect(r.output).toMatch(/Adding CPU backend variant ggml-cpu-haswell/);
    expect(r.output).toMatch(/Including RPC backend/);
  }, 300_000);

  test.skipIf(!gcc.cxx)("GCC: this CPU only, AMX off, the CPU backend built into libggml", () => {
    const options = cmakeOptions(gcc, { quiet: true });
    expect(options).toMatchObject({ GGML_BACKEND_DL: "OFF", GGML_NATIVE: "ON", GGML_RPC: "ON" });
    expect(options.CMAKE_CXX_FLAGS).toContain("-mno-amx-int8");
    const r = configure(options);
    expect(r.status, r.output.slice(-2000)).toBe(0);
    expect(r.cache).toMatch(/^GGML_BACKEND_DL:BOOL=OFF$/m);
    expect(r.output).toMatch(/Including RPC backend/);
  }, 300_000);

  // Configure needs the toolkit with cuBLAS, not a GPU (some machines have nvcc alone).
  test.skipIf(!cublas() || !clang.cxx)("CUDA through STAGEBEAM_CMAKE_ARGS", () => {
    const options = withUserOptions(cmakeOptions(clang, { quiet: true }), "-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90");
    expect(options).toMatchObject({ GGML_CUDA: "ON", GGML_RPC: "ON" });
    const r = configure(options);
    expect(r.status, r.output.slice(-2000)).toBe(0);
    expect(r.output).toMatch(/CUDA Toolkit found/i);
    expect(r.output).toMatch(/Including RPC backend/);
  }, 300_000);
});

test("STAGEBEAM_CMAKE_ARGS lays -D options over the defaults", () => {
  expect(withUserOptions({ A: "1", B: "2" }, "-DB=3 -DC=x=y  D=4")).toEqual({ A: "1", B: "3", C: "x=y", D: "4" });
});
