#!/usr/bin/env bash
# The benchmark's GPU rows (issue 15 §3) on a lent device machine, in one call: unpack what
# bench/device/pack.sh packed here, build llama.cpp with CUDA for this GPU's architecture only (with its
# reference tools) and the addon against it, write the benchmark's models, and run
# `node bench/run.mjs --gpu`. Everything it learns goes to $OUT as it goes (device.log: each step's time
# and every row as it is measured), so a call cut off at its limit still brings back what was measured;
# bench/results/gpu.{md,json} and the chart come back when the run ends.
#
# Device call: command `bash bench/device/run.sh`, carry [".device"], timeout_s 600. A second call on
# the still-warm machine skips the steps whose outputs are kept there (the builds, bench/.models) and runs
# the benchmark again. $OUT gets at most 7 files (the device tool brings back 8): device.log, build.log,
# addon.log, gpu.md, gpu.json, gpu-search-width.svg and decode-runs.txt.
#
# Arguments go to bench/run.mjs (--smoke: the tiny models, a check of the whole path in a minute).
# STAGEBEAM_DEVICE_CPU=1 runs the same steps without CUDA (a check of this script on a machine with no GPU).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/.device/out}
mkdir -p "$OUT"
start=$(date +%s)
log() { echo "[$(( $(date +%s) - start )) s] $*" | tee -a "$OUT/device.log" >&2; }
jobs=$(nproc)

[ -f .device/node.tar.xz ] || { echo "run: .device/ is missing: bash bench/device/pack.sh here, and carry .device" >&2; exit 1; }
if [ ! -x .device/node/bin/node ]; then
  log "unpacking Node, npm, llama.cpp, dist and packages"
  mkdir -p .device/node .device/npm llama.cpp
  tar -C .device/node -xJf .device/node.tar.xz
  tar -C .device/npm -xJf .device/npm.tar.xz
  [ -f llama.cpp/CMakeLists.txt ] || tar -C llama.cpp -xJf .device/llama.tar.xz
  tar -xJf .device/packages.tar.xz
fi
export PATH=$PWD/.device/node/bin:$PATH
gyp=$(ls -d "$PWD"/.device/npm/*/node_modules/node-gyp/bin/node-gyp.js)

if [ "${STAGEBEAM_DEVICE_CPU:-0}" = 1 ]; then
  cuda=()
else
  { nvidia-smi; nvcc --version; } >> "$OUT/device.log" 2>&1 || true
  # This GPU's architecture only (CMake's "native" asks the GPU): ggml's default list of every
  # architecture takes several times as long to compile.
  cuda=(-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=native)
fi

if [ ! -x build-llama/bin/llama-bench ]; then
  log "configuring llama.cpp (${cuda[*]:-CPU only})"
  # the same options as a build here (scripts/prepare-native.mjs), with CUDA laid over them
  mapfile -t options < <(node --input-type=module -e '
    const m = await import("./scripts/prepare-native.mjs");
    const cxx = process.env.CXX ?? null;
    const options = m.cmakeOptions({ cc: process.env.CC ?? null, cxx, clang: /clang/.test(cxx ?? "") }, { quiet: true });
    for (const [k, v] of Object.entries({ ...options, STAGEBEAM_BUILD_PEERS: "ON" })) console.log(`-D${k}=${v}`);
  ')
  cmake -S . -B build-llama -G Ninja "${options[@]}" "${cuda[@]}" > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log" >&2; exit 1; }
  log "building llama.cpp ($jobs jobs)"
  cmake --build build-llama -j "$jobs" --target llama mtmd ggml llama-bench llama-batched-bench llama-mtmd-cli >> "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log" >&2; exit 1; }
fi
if [ ! -f build/Release/stagebeam.node ]; then
  log "building the addon"
  # node-gyp with gyp's Ninja generator: the device image has Ninja, and make is not promised there
  { node "$gyp" configure --nodedir="$PWD/.device/node" -- -f ninja && ninja -C build/Release -j "$jobs"; } > "$OUT/addon.log" 2>&1 || { tail -30 "$OUT/addon.log" >&2; exit 1; }
fi
log "built; running the benchmark (bench/run.mjs --gpu $*)"
status=0
node bench/run.mjs --gpu "$@" 2>> "$OUT/device.log" > /dev/null || status=$?
cp bench/results/*gpu.* bench/results/*gpu-search-width.svg "$OUT/" 2>/dev/null || true
log "bench/run.mjs --gpu $* ended with status $status"
# Then decode runs against step by step on the GPU (README, Benchmark), where a step is a few ms and the
# hand-over between steps weighs more than on the CPU.
model=bench/.models/llama-3.2-1b-shaped-r2-realistic-q4_0.gguf
if [[ " $* " != *" --smoke "* && -f $model ]]; then
  log "decode runs vs step by step (bench/decode-runs.mjs)"
  node bench/decode-runs.mjs "$model" --gpu-layers 99 --rounds 5 > "$OUT/decode-runs.txt" 2>> "$OUT/device.log" || status=$?
  log "bench/decode-runs.mjs ended"
fi
exit "$status"
