#!/usr/bin/env node
// Prints the shared libraries the llama.cpp build produced (build-llama/bin), one per line, and
// llama.cpp's rpc-server (`stagebeam rpc-server` runs it from the addon's folder).
// binding.gyp copies them beside the addon, and prebuild packaging copies them into prebuilds/, so the
// $ORIGIN rpath and ggml's backend loader find them wherever the .node file lives.
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "build-llama", "bin");

export function nativeLibraries() {
  if (!existsSync(bin)) return [];
  return readdirSync(bin)
    // llama, mtmd and ggml with its backends — not the libraries of llama.cpp's own tools (llama-common,
    // the bench implementations), which are built only as references for tests and benchmarks. The
    // rpc-server links ggml alone, so it runs beside these.
    .filter((name) => /^(lib)?(llama|mtmd|ggml(-[\w.-]+)?)\.(so|dylib|dll)$/.test(name) || /^ggml-rpc-server(\.exe)?$/.test(name))
    .sort()
    .map((name) => join(bin, name));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // gyp splits <!@(...) output on whitespace, so one path per line.
  process.stdout.write(nativeLibraries().join("\n") + "\n");
}
