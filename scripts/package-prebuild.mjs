#!/usr/bin/env node
// Completes a prebuild: prebuildify puts the addon in prebuilds/<platform>-<arch>/; the llama.cpp shared
// libraries it links against, and ggml's CPU-variant modules it loads at run time, must sit beside it
// (the addon's rpath is $ORIGIN, and ggml looks for backends in the addon's folder), and so must
// llama.cpp's rpc-server, which `stagebeam rpc-server` runs from there. Also ships the
// vocabulary `stagebeam demo` borrows, so an installed package runs the demo without llama.cpp's sources.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { nativeLibraries } from "./native-libs.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(root, "prebuilds", `${process.platform}-${process.arch}`);
if (!existsSync(target) || !readdirSync(target).some((f) => f.endsWith(".node"))) {
  console.error(`stagebeam: no addon in ${target}: run prebuildify first`);
  process.exit(1);
}
const libraries = nativeLibraries();
for (const library of libraries) copyFileSync(library, join(target, basename(library)));
console.error(`stagebeam: ${libraries.length} native libraries (and rpc-server) copied into ${target}`);

const assets = join(root, "assets");
mkdirSync(assets, { recursive: true });
copyFileSync(join(root, "llama.cpp", "models", "ggml-vocab-llama-spm.gguf"), join(assets, "ggml-vocab-llama-spm.gguf"));
// The Llama 3 vocabulary of `stagebeam demo --mllama` (the tiny Llama 3.2 Vision pair).
copyFileSync(join(root, "llama.cpp", "models", "ggml-vocab-llama-bpe.gguf"), join(assets, "ggml-vocab-llama-bpe.gguf"));
