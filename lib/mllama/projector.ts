// The mllama vision projector (the `mmproj-*.gguf` stagebeam's converter writes): the tiled vision
// encoder runs on the addon's own ggml engine, images are decoded without libmtmd and preprocessed in
// TypeScript exactly as transformers does. To prompts and contexts it looks like a libmtmd Projector: a
// marker (`<|image|>`, the token Llama 3.2 Vision's template writes), image loading, and prompts split
// into chunks where an image takes one token.
import { availableParallelism } from "node:os";
import { withCancellation } from "../abort.js";
import { existingFile } from "../existing-file.js";
import { createError, DisposedError, native } from "../errors.js";
import { decodeImage, type ImageInput } from "../image-input.js";
import { backendDevices, nativeAddon, type NativeChunk, type NativeImage, type NativeMllamaImage, type NativeMllamaVision, type NativeMllamaVisionInfo, type NativeProjectorInfo } from "../native.js";
import type { LoadProjectorOptions } from "../projector.js";
import { MllamaChunks } from "./chunks.js";
import { preprocessMllamaImage } from "./preprocess.js";

export const MLLAMA_IMAGE_MARKER = "<|image|>";

/** A decoded image as the mllama engine keeps it: packed RGB or RGBA bytes (told apart by length). */
class DecodedPixels implements NativeImage {
  readonly width: number;
  readonly height: number;
  id = "";
  readonly #data: Uint8Array;

  constructor(image: { width: number; height: number; data: Uint8Array }) {
    if (image.data.length !== image.width * image.height * 3 && image.data.length !== image.width * image.height * 4) {
      throw createError("INVALID_IMAGE", `a ${image.width}x${image.height} image needs ${image.width * image.height * 3} RGB bytes, got ${image.data.length}`);
    }
    this.width = image.width;
    this.height = image.height;
    this.#data = image.data;
  }

  pixels(): Uint8Array {
    return this.#data;
  }
}

export interface MllamaVocabulary {
  tokenize(text: string, options: { addSpecial: boolean; parseSpecial: boolean }): number[];
  readonly embeddingSize: number;
  readonly pairId: string | null;
}

/** Encoded images kept for reuse: each is tiles × tokens × width floats (105 MB at 11B), so only a few. */
const ENCODED_CACHE = 2;

export class MllamaProjector {
  readonly path: string;
  readonly info: NativeProjectorInfo;
  readonly vision: NativeMllamaVisionInfo;
  #native: NativeMllamaVision | null;
  /** Encodes on the native encoder now: dispose() cancels them and waits. */
  readonly #running = new Set<{ cancel: () => void; settled: Promise<void> }>();
  readonly #vocabulary: MllamaVocabulary;
  readonly #encoded = new Map<string, Promise<NativeMllamaImage>>();
  /** Vision encodes run (one per image; forks, cached prefixes and repeated prompts reuse them). */
  encodes = 0;

  static async load(
    vocabulary: MllamaVocabulary,
    path: string,
    options: LoadProjectorOptions = {},
  ): Promise<MllamaProjector> {
    const fa = options.flashAttention ?? "auto";
    if (!["auto", "on", "off"].includes(fa)) throw createError("INVALID_ARGUMENT", `flashAttention must be "auto", "on" or "off", got ${String(fa)}`);
    const widen = options.widenWeights ?? "auto";
    if (!["auto", "on", "off"].includes(widen)) throw createError("INVALID_ARGUMENT", `widenWeights must be "auto", "on" or "off", got ${String(widen)}`);
    const useGpu = options.useGpu ?? true;
    // Where the encoder will run decides both "auto"s: the native loader puts the weights on the first GPU.
    const onGpu = useGpu && backendDevices().some((d) => d.type === "gpu" || d.type === "igpu");
    const absolute = await existingFile(path, "projector");
    const handle = await withCancellation(options.signal, (cancellation) =>
      native(() =>
        nativeAddon().MllamaVision.load(
          absolute,
          {
            gpu: useGpu,
            threads: options.threads ?? availableParallelism(),
            flashAttention: fa === "auto" ? onGpu : fa === "on",
            widenWeights: widen === "auto" ? !onGpu && process.arch === "x64" : widen === "on",
          },
          options.onProgress,
          cancellation,
        ),
      ),
    );
    const info = handle.info();
    const mismatch =
      info.projectionDim !== vocabulary.embeddingSize
        ? `its states are ${info.projectionDim} wide, the model's are ${vocabulary.embeddingSize}`
        : vocabulary.pairId !== null && info.pairId !== null && info.pairId !== vocabulary.pairId
          ? "it was converted from another checkpoint (the pair ids differ)"
          : null;
    if (mismatch) {
      handle.dispose();
      throw createError("PROJECTOR_MISMATCH", `${absolute} is not this model's projector: ${mismatch}`);
    }
    return new MllamaProjector(handle, absolute, info, vocabulary);
  }

  private constructor(handle: NativeMllamaVision, path: string, vision: NativeMllamaVisionInfo, vocabulary: MllamaVocabulary) {
    this.#native = handle;
    this.path = path;
    this.vision = vision;
    this.#vocabulary = vocabulary;
    this.info = { vision: true, audio: false, mrope: false, nonCausal: false, marker: MLLAMA_IMAGE_MARKER, embeddingSize: vision.projectionDim };
  }

  get native(): NativeMllamaVision {
    if (!this.#native) throw new DisposedError("DISPOSED", "the projector has been disposed");
    return this.#native;
  }

  get marker(): string {
    return MLLAMA_IMAGE_MARKER;
  }

  /** Vision states per image, padded tiles included: what a context's image store holds for each. */
  get rowsPerImage(): number {
    return this.vision.maxTiles * this.vision.tokensPerTile;
  }

  /**
   * Decodes an image keeping its alpha channel: transformers composites transparent pixels on white,
   * which preprocessing does from RGBA (libmtmd's decoder would have dropped alpha, leaving the colours
   * under it).
   */
  loadImage(input: ImageInput): Promise<NativeImage> {
    const addon = nativeAddon();
    return decodeImage(
      {
        decodeImage: async (bytes) => new DecodedPixels(await addon.decodeImageChannels(bytes)),
        imageFromRgb: (width, height, data) => new DecodedPixels({ width, height, data: Uint8Array.from(data) }),
      },
      input,
    );
  }

  /** @internal Splits text at its `<|image|>` markers; each image becomes a one-token chunk. */
  async tokenize(text: string, images: NativeImage[], options: { addSpecial: boolean; parseSpecial: boolean }): Promise<MllamaChunks> {
    const parts = text.split(MLLAMA_IMAGE_MARKER);
    if (parts.length - 1 !== images.length) {
      throw createError("MEDIA_MARKER_MISMATCH", `the prompt has ${parts.length - 1} image marker(s) (${MLLAMA_IMAGE_MARKER}) for ${images.length} image(s)`);
    }
    if (images.length > 1) {
      throw createError("INVALID_ARGUMENT", `this prompt has ${images.length} images: mllama sequences take one image each in this version`);
    }
    const chunks: NativeChunk[] = [];
    const byChunk = new Map<number, NativeImage>();
    for (const [i, part] of parts.entries()) {
      const tokens = this.#vocabulary.tokenize(part, { addSpecial: options.addSpecial && i === 0, parseSpecial: options.parseSpecial });
      if (tokens.length > 0) chunks.push({ type: "text", tokens: Int32Array.from(tokens) });
      const image = images[i];
      if (!image) continue;
      byChunk.set(chunks.length, image);
      chunks.push({ type: "image", id: image.id, tokens: 1, positions: 1 });
    }
    return new MllamaChunks(chunks, byChunk, this);
  }

  /** An image takes one token and one position in the text (its content arrives through cross-attention). */
  async imageTokens(_width: number, _height: number): Promise<{ tokens: number; positions: number }> {
    return { tokens: 1, positions: 1 };
  }

  /**
   * @internal The image's vision states: preprocessed (tiles, aspect ratio) and run through the vision
   * encoder once; later requests for the same image (same content id) share the result.
   */
  encode(image: NativeImage, signal?: AbortSignal): Promise<NativeMllamaImage> {
    const cached = this.#encoded.get(image.id);
    if (cached) {
      this.#encoded.delete(image.id); // most recently used last
      this.#encoded.set(image.id, cached);
      return cached;
    }
    const encoding = this.#encode(image, signal);
    this.#encoded.set(image.id, encoding);
    encoding.catch(() => this.#encoded.delete(image.id));
    while (this.#encoded.size > ENCODED_CACHE) this.#encoded.delete(this.#encoded.keys().next().value!);
    return encoding;
  }

  async #encode(image: NativeImage, signal?: AbortSignal): Promise<NativeMllamaImage> {
    const v = this.vision;
    const prepared = preprocessMllamaImage(
      { width: image.width, height: image.height, data: image.pixels() },
      { tileSize: v.imageSize, maxTiles: v.maxTiles, mean: [v.imageMean[0]!, v.imageMean[1]!, v.imageMean[2]!], std: [v.imageStd[0]!, v.imageStd[1]!, v.imageStd[2]!] },
    );
    const states = await withCancellation(signal, (cancellation) => {
      const call = native(() => this.native.encode(prepared.pixels, prepared.aspectRatioId, prepared.realTiles, cancellation));
      const running = { cancel: () => cancellation.cancel(), settled: call.then(() => {}, () => {}) };
      this.#running.add(running);
      void running.settled.then(() => this.#running.delete(running));
      return call;
    }).catch((error: unknown) => {
      // Cancelled by dispose(): the request ends as others on a disposed model do.
      if (this.#native === null) throw new DisposedError("DISPOSED", "the projector was disposed while it encoded this image");
      throw error;
    });
    this.encodes += 1;
    return { states, id: image.id, realRows: prepared.realTiles * v.tokensPerTile };
  }

  /**
   * Frees the vision encoder — after cancelling the encodes running on it and waiting for them to stop
   * (the native encoder refuses to go while one runs); they end with DISPOSED.
   */
  async dispose(): Promise<void> {
    const vision = this.#native;
    this.#native = null;
    this.#encoded.clear();
    if (!vision) return;
    const running = [...this.#running];
    for (const encode of running) encode.cancel();
    await Promise.all(running.map((encode) => encode.settled));
    vision.dispose();
  }
}
