// A context whose KV cache cannot fit in all the memory the backends have is refused before anything is
// allocated. Without this, llama.cpp (or the mllama engine) allocates the cache and clears it: a request
// the kernel's overcommit lets through is then touched page by page, and the process is OOM-killed
// instead of getting an error it could act on.
//
// The estimate is a lower bound — the self-attention K and V of every cell in every layer, nothing else
// — and the budget an upper one (the total memory of the CPU and every GPU), so a context that could fit
// is never refused; one that is refused could not have been created.
import { totalmem } from "node:os";
import { createError } from "./errors.js";
import { nativeAddon, type NativeModelMetadata } from "./native.js";

/** Bytes of the self-attention K/V cache for `cells` cells, at `bytesPerValue` (2 for f16). */
export function kvCacheBytes(metadata: NativeModelMetadata, cells: number, bytesPerValue: number): number {
  const { headCount, kvHeadCount, embeddingSize } = metadata;
  if (headCount <= 0 || kvHeadCount <= 0 || embeddingSize <= 0) return 0; // recurrent or unusual: no estimate
  const meta = metadata.meta;
  const arch = metadata.architecture;
  const headDim = (key: string) => {
    const value = Number(meta[`${arch}.attention.${key}`]);
    return Number.isInteger(value) && value > 0 ? value : embeddingSize / headCount;
  };
  const perCell = kvHeadCount * (headDim("key_length") + headDim("value_length"));
  return cells * selfAttentionLayers(metadata) * perCell * bytesPerValue;
}

/** Layers with a self-attention cache: all of them, but for mllama's cross-attention layers. */
function selfAttentionLayers(metadata: NativeModelMetadata): number {
  const cross = metadata.meta[`${metadata.architecture}.attention.cross_attention_layers`];
  let crossLayers = 0;
  if (cross !== undefined) {
    try {
      const parsed: unknown = JSON.parse(cross);
      if (Array.isArray(parsed)) crossLayers = parsed.length;
    } catch {
      // not a list: count every layer
    }
  }
  return Math.max(0, metadata.layerCount - crossLayers);
}

/** The most memory a context could use: the CPU's and every GPU's, as the backends report them. */
export function memoryBudget(): number {
  let cpu = totalmem();
  let gpus = 0;
  for (const device of nativeAddon().deviceMemory()) {
    if (device.type === "cpu") cpu = Math.max(cpu, device.total);
    else if (device.type === "gpu" || device.type === "igpu") gpus += device.total;
  }
  return cpu + gpus;
}

/** Throws INSUFFICIENT_MEMORY when `contextSize` cells of K/V cannot fit in the memory there is. */
export function checkContextFits(metadata: NativeModelMetadata, contextSize: number, bytesPerValue: number): void {
  const needed = kvCacheBytes(metadata, contextSize, bytesPerValue);
  const budget = memoryBudget();
  if (needed > budget) {
    const most = Math.floor((contextSize * budget) / needed);
    throw createError(
      "INSUFFICIENT_MEMORY",
      `a context of ${contextSize} tokens needs at least ${gib(needed)} for its KV cache, more than the ${gib(budget)} of memory ` +
        `this machine's backends have: use a smaller contextSize (at most about ${most})`,
    );
  }
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}
