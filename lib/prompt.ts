// A prompt made ready for evaluation: text tokenized, images decoded and split into chunks by the
// projector. Flattened into items — one per text token, one per image — it is also the key of the
// prefix cache: two prompts share a cached prefix exactly as far as their items agree.
import type { ImageInput, MarkedPrompt, PromptInput, PromptPart, TextSpan } from "./engine/prompt-input.js";
import { createError } from "./errors.js";
import type { Model } from "./model.js";
import type { NativeChunks, NativeImage } from "./native.js";
import { checkPlainText, countMarkersOutside, holdsSpecialText, plainPieces, type PromptPiece } from "./plain-text.js";
// Defined by the engine contract (lib/engine); re-exported for code that imports them from here.
export type { MarkedPrompt, PromptInput, PromptPart };

export type Segment =
  | { type: "text"; tokens: number[] }
  /** An image: chunk `chunkIndex` of the projector's `chunks`. */
  | { type: "image"; chunks: NativeChunks; chunkIndex: number; id: string; cells: number; positions: number };

export interface PreparedPrompt {
  segments: Segment[];
}

export function isTokens(input: unknown): input is readonly number[] {
  return Array.isArray(input) && input.every((item) => typeof item === "number");
}

type TokenizeOptions = { addSpecial: boolean; parseSpecial: boolean };

export async function preparePrompt(model: Model, input: PromptInput, options: TokenizeOptions): Promise<PreparedPrompt> {
  if (isTokens(input)) return { segments: [{ type: "text", tokens: [...input] }] };
  if (typeof input === "string") return { segments: [{ type: "text", tokens: model.tokenize(input, options) }] };
  const projector = model.projector;
  let prompt: string;
  let inputs: ImageInput[];
  let spans: readonly TextSpan[] = [];
  if (Array.isArray(input)) {
    const parts = input as readonly PromptPart[];
    if (!projector) throw noProjector();
    prompt = parts.map((part) => (typeof part === "string" ? part : projector.marker)).join("");
    inputs = parts.filter((part): part is { image: ImageInput } => typeof part !== "string").map((part) => part.image);
  } else {
    const marked = input as MarkedPrompt;
    ({ prompt, images: inputs } = marked);
    spans = checkPlainText(prompt, marked.plainText);
  }
  // Without images a marked prompt is text; a projector's markers in it would still be images without data.
  if (!projector && inputs.length > 0) throw noProjector();
  const markers = projector ? countMarkersOutside(prompt, projector.marker, spans) : 0;
  if (markers !== inputs.length) {
    throw createError(
      "MEDIA_MARKER_MISMATCH",
      `the prompt has ${markers} media marker(s) (${projector!.marker}) for ${inputs.length} image(s): put one marker per image`,
    );
  }
  const pieces = plainPieces(prompt, spans, (text) => {
    if (inputs.length > 0 && text.includes(projector!.marker)) return true;
    return options.parseSpecial && holdsSpecialText((t, o) => model.tokenize(t, o), text);
  });
  if (pieces) return preparePieces(model, pieces, inputs, options);
  if (inputs.length === 0) return { segments: [{ type: "text", tokens: model.tokenize(prompt, options) }] };
  const images = await Promise.all(inputs.map((image) => projector!.loadImage(image)));
  const addSpecial = options.addSpecial && !(options.parseSpecial && model.startsWithBos(prompt));
  return { segments: chunkSegments(await projector!.tokenize(prompt, images, { ...options, addSpecial })) };
}

const noProjector = () =>
  createError("NO_PROJECTOR", "images need the model's projector: loadModel({ path, projector }) or model.loadProjector(path)");

function chunkSegments(chunks: NativeChunks): Segment[] {
  return chunks.describe().map((chunk, chunkIndex) =>
    chunk.type === "text"
      ? { type: "text", tokens: Array.from(chunk.tokens) }
      : { type: "image", chunks, chunkIndex, id: chunk.id, cells: chunk.tokens, positions: chunk.positions },
  );
}

/**
 * A prompt with plain-text pieces: each piece tokenized on its own (plain ones with parseSpecial off, the
 * images of the others through the projector), then BOS/EOS added around the whole as llama.cpp would.
 */
async function preparePieces(model: Model, pieces: PromptPiece[], inputs: ImageInput[], options: TokenizeOptions): Promise<PreparedPrompt> {
  const projector = model.projector;
  const images: NativeImage[] = await Promise.all(inputs.map((image) => projector!.loadImage(image)));
  const segments: Segment[] = [];
  const pushText = (tokens: number[]) => {
    const last = segments.at(-1);
    // (a loop: spreading a 1 MB question's tokens as arguments overflows the stack)
    if (last?.type === "text") for (const token of tokens) last.tokens.push(token);
    else if (tokens.length > 0) segments.push({ type: "text", tokens });
  };
  let nextImage = 0;
  for (const piece of pieces) {
    const markers = piece.plain || !projector ? 0 : piece.text.split(projector.marker).length - 1;
    if (markers === 0) {
      pushText(model.tokenize(piece.text, { addSpecial: false, parseSpecial: options.parseSpecial && !piece.plain }));
      continue;
    }
    const chunks = await projector!.tokenize(piece.text, images.slice(nextImage, nextImage + markers), { addSpecial: false, parseSpecial: options.parseSpecial });
    nextImage += markers;
    for (const segment of chunkSegments(chunks)) {
      if (segment.type === "text") pushText(segment.tokens);
      else segments.push(segment);
    }
  }
  const first = pieces[0]!;
  const { bos, eos } = model.metadata.specialTokens;
  const addSpecial = options.addSpecial && !(options.parseSpecial && !first.plain && model.startsWithBos(first.text));
  if (addSpecial && model.metadata.addBos && bos !== null) {
    const head = segments[0];
    if (head?.type === "text") head.tokens.unshift(bos);
    else segments.unshift({ type: "text", tokens: [bos] });
  }
  if (addSpecial && model.metadata.addEos && eos !== null) pushText([eos]);
  return { segments };
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
