// A prompt made ready for evaluation: text tokenized, images decoded and split into chunks by the
// projector. Flattened into items — one per text token, one per image — it is also the key of the
// prefix cache: two prompts share a cached prefix exactly as far as their items agree.
import type { ImageInput, MarkedPrompt, PromptInput, PromptPart } from "./engine/prompt-input.js";
import { createError } from "./errors.js";
import type { Model } from "./model.js";
import type { NativeChunks } from "./native.js";
// Defined by the engine contract (lib/engine); re-exported for code that imports them from here.
export type { MarkedPrompt, PromptInput, PromptPart };

export type Segment =
  | { type: "text"; tokens: number[] }
  | { type: "image"; chunkIndex: number; id: string; cells: number; positions: number };

export interface PreparedPrompt {
  /** The projector's chunks, which image segments point into; null for text-only prompts. */
  chunks: NativeChunks | null;
  segments: Segment[];
}

export function isTokens(input: unknown): input is readonly number[] {
  return Array.isArray(input) && input.every((item) => typeof item === "number");
}

export async function preparePrompt(
  model: Model,
  input: PromptInput,
  options: { addSpecial: boolean; parseSpecial: boolean },
): Promise<PreparedPrompt> {
  if (isTokens(input)) return { chunks: null, segments: [{ type: "text", tokens: [...input] }] };
  if (typeof input === "string") {
    return { chunks: null, segments: [{ type: "text", tokens: model.tokenize(input, options) }] };
  }
  const projector = model.projector;
  if (!projector) {
    throw createError("NO_PROJECTOR", "images need the model's projector: loadModel({ path, projector }) or model.loadProjector(path)");
  }
  let prompt: string;
  let inputs: ImageInput[];
  if (Array.isArray(input)) {
    const parts = input as readonly PromptPart[];
    prompt = parts.map((part) => (typeof part === "string" ? part : projector.marker)).join("");
    inputs = parts.filter((part): part is { image: ImageInput } => typeof part !== "string").map((part) => part.image);
  } else {
    ({ prompt, images: inputs } = input as MarkedPrompt);
  }
  const markers = prompt.split(projector.marker).length - 1;
  if (markers !== inputs.length) {
    throw createError(
      "MEDIA_MARKER_MISMATCH",
      `the prompt has ${markers} media marker(s) (${projector.marker}) for ${inputs.length} image(s): put one marker per image`,
    );
  }
  const images = await Promise.all(inputs.map((image) => projector.loadImage(image)));
  const addSpecial = options.addSpecial && !(options.parseSpecial && model.startsWithBos(prompt));
  const chunks = await projector.tokenize(prompt, images, { ...options, addSpecial });
  const segments: Segment[] = chunks.describe().map((chunk, chunkIndex) =>
    chunk.type === "text"
      ? { type: "text", tokens: Array.from(chunk.tokens) }
      : { type: "image", chunkIndex, id: chunk.id, cells: chunk.tokens, positions: chunk.positions },
  );
  return { chunks, segments };
}

/** One cache key per item: `t<token>` for a text token, `i<id>` for an image. */
export function promptItems(prepared: PreparedPrompt): string[] {
  return prepared.segments.flatMap((s) => (s.type === "text" ? s.tokens.map((t) => `t${t}`) : [`i${s.id}`]));
}

/**
 * Positions each item advances a sequence by: 1 per text token; an image's n_pos, which for M-RoPE
 * models (Qwen2/2.5/3-VL) is far less than its token count.
 */
export function itemWidths(prepared: PreparedPrompt): number[] {
  return prepared.segments.flatMap((s) => (s.type === "text" ? s.tokens.map(() => 1) : [s.positions]));
}

/** Positions the prompt takes in a sequence. */
export function promptPositions(prepared: PreparedPrompt): number {
  return itemWidths(prepared).reduce((a, b) => a + b, 0);
}
