// A prompt for the mllama engine split at its images: text chunks of tokens, and one chunk per image
// that takes a single token and position in the sequence (<|image|>). The shape of libmtmd's chunks
// (NativeChunks.describe), so prompts, the prefix cache and sequences treat both engines alike.
import type { NativeChunk, NativeChunks, NativeImage, NativeMllamaImage } from "../native.js";

export interface MllamaImageEncoder {
  encode(image: NativeImage, signal?: AbortSignal): Promise<NativeMllamaImage>;
}

export class MllamaChunks implements NativeChunks {
  readonly #chunks: NativeChunk[];
  readonly #images: Map<number, NativeImage>;
  readonly #encoder: MllamaImageEncoder;

  constructor(chunks: NativeChunk[], images: Map<number, NativeImage>, encoder: MllamaImageEncoder) {
    this.#chunks = chunks;
    this.#images = images;
    this.#encoder = encoder;
  }

  describe(): NativeChunk[] {
    return this.#chunks;
  }

  /** The vision states of image chunk `index`, encoded by the projector (or taken from its cache). */
  encode(index: number, signal?: AbortSignal): Promise<NativeMllamaImage> {
    const image = this.#images.get(index);
    if (!image) throw new RangeError(`chunk ${index} is not an image`);
    return this.#encoder.encode(image, signal);
  }
}
