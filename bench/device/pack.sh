#!/usr/bin/env bash
# Packs what the benchmark's GPU run (issue 15 §3: bench/device/run.sh on a lent device machine) needs
# and cannot fetch there — no registry or network is reachable from it, and its image has CUDA, CMake,
# Ninja, a C++ compiler and Python but no Node:
#   node.tar.xz      this machine's Node binary and its headers (an addon build needs node_api.h; node-gyp
#                    reads common.gypi beside them)
#   npm.tar.xz       npm, for its bundled node-gyp (binding.gyp stays the one description of the addon)
#   llama.tar.xz     the pinned llama.cpp source (git archive of llama.cpp/ at the pinned commit), without
#                    its docs, tests and test vocabularies but the two the benchmark's models use
#   packages.tar.xz  dist/ (the compiled TypeScript) and the runtime packages it imports
# into .device/ (gitignored), about 40 MB, which the device call carries. Run here after `npm run build`.
#
#   bash bench/device/pack.sh
# then, on the device (its `run`, carry [".device"], timeout_s 600):
#   bash bench/device/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.device
pin=$(node -p 'require("./package.json").stagebeam.llamaCpp.commit')
[ "$(git -C llama.cpp rev-parse HEAD)" = "$pin" ] || { echo "pack: llama.cpp/ is not at the pinned commit $pin (npm install fetches it)" >&2; exit 1; }
[ -f dist/index.js ] || { echo "pack: dist/ is missing: npm run build first" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out/stage/node/bin" "$out/stage/node/include"

node_bin=$(readlink -f "$(command -v node)")
prefix=$(dirname "$(dirname "$node_bin")")
headers=$prefix/include/node
[ -f "$headers/node_api.h" ] || { echo "pack: no Node headers at $headers" >&2; exit 1; }
cp "$node_bin" "$out/stage/node/bin/node"
cp -r "$headers" "$out/stage/node/include/node"
tar -C "$out/stage/node" -cJf "$out/node.tar.xz" .

npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[ -f "$npm_dir/node_modules/node-gyp/bin/node-gyp.js" ] || { echo "pack: npm's node-gyp not found under $npm_dir" >&2; exit 1; }
tar -C "$(dirname "$npm_dir")" -cJf "$out/npm.tar.xz" "$(basename "$npm_dir")"

# The source at the pinned commit; of models/, only the vocabularies of the benchmark's models (Llama 3)
# and of its smoke run's tiny one.
git -C llama.cpp archive --format=tar "$pin" | tar -C "$out/stage" --one-top-level=llama.cpp -xf - --anchored \
  --exclude='models/*' --exclude='docs/*' --exclude='media/*' --exclude='gguf-py/*' --exclude='tests/*'
mkdir -p "$out/stage/llama.cpp/models"
for vocab in ggml-vocab-llama-bpe.gguf ggml-vocab-llama-spm.gguf; do
  git -C llama.cpp show "$pin:models/$vocab" > "$out/stage/llama.cpp/models/$vocab"
done
tar -C "$out/stage/llama.cpp" -cJf "$out/llama.tar.xz" .

# dist/ and what it imports at run time (package.json's dependencies, less the build-only cmake-js)
tar -cJf "$out/packages.tar.xz" dist node_modules/@huggingface/jinja node_modules/commander node_modules/node-addon-api node_modules/node-gyp-build

rm -rf "$out/stage"
du -ch "$out"/*.tar.xz | tail -1 | sed 's/^/pack: .device holds /'
