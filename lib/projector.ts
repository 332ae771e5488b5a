// Projector: a multimodal projector (mmproj GGUF) attached to a text model through libmtmd. It decodes
// images and splits prompts into text and image chunks; sequences evaluate the chunks.
import { availableParallelism } from "node:os";
import { withCancellation } from "./abort.js";
import { existingFile } from "./existing-file.js";
import { createError, DisposedError, native } from "./errors.js";
import { decodeImage, type ImageInput } from "./image-input.js";
import { nativeAddon, type NativeChunks, type NativeImage, type NativeModel, type NativeProjector, type NativeProjectorInfo } from "./native.js";

export interface LoadProjectorOptions {
  /** Run the vision encoder on a GPU when the build has one (default true). */
  useGpu?: boolean;
  threads?: number;
  /**
   * mllama's vision encoder: attention through ggml's flash-attention kernel (K/V in F16) instead of F32
   * softmax attention. "auto" (default) is on where the encoder runs on a GPU and off on CPUs, where the
   * softmax path, computed in query chunks (at most 256 MiB of scores at a time), is faster (2.4 s
   * against 3.0 s per layer at Llama 3.2 Vision's shape on 2 EPYC cores) and is the exact F32 path the
   * parity tests compare with transformers. libmtmd's projectors choose for themselves.
   */
  flashAttention?: "auto" | "on" | "off";
  /**
   * mllama's vision encoder: hold its F16/BF16 matrix weights as F32. "auto" (default) is on for an
   * encoder on an x86-64 CPU: ggml's F16 matrix multiply there runs at about half the F32 rate (80 vs
   * 144 GFLOP/s on 2 EPYC cores), and encoding an image is compute-bound (4 tiles × 1608 rows through
   * 40 layers). It costs twice the weights' memory (1.7 → 3.4 GB at 11B; see info.weightsBytes).
   * Quantized weights are kept as stored. libmtmd's projectors ignore it.
   */
  widenWeights?: "auto" | "on" | "off";
  /** Called with 0..1 as the projector's weights load. */
  onProgress?: (progress: number) => void;
  signal?: AbortSignal;
}

export type ProjectorInfo = NativeProjectorInfo;

export class Projector {
  readonly path: string;
  readonly info: ProjectorInfo;
  #native: NativeProjector | null;

  /** @internal use model.loadProjector() or loadModel({ projector }) */
  static async load(model: NativeModel, path: string, options: LoadProjectorOptions = {}): Promise<Projector> {
    const absolute = await existingFile(path, "projector");
    const handle = await withCancellation(options.signal, (cancellation) =>
      native(() =>
        nativeAddon().Projector.load(
          model,
          absolute,
          { useGpu: options.useGpu ?? true, threads: options.threads ?? availableParallelism() },
          cancellation,
          options.onProgress,
        ),
      ),
    );
    return new Projector(handle, absolute);
  }

  private constructor(handle: NativeProjector, path: string) {
    this.#native = handle;
    this.path = path;
    this.info = handle.info();
  }

  /** @internal */
  get native(): NativeProjector {
    if (!this.#native) throw new DisposedError("DISPOSED", "the projector has been disposed");
    return this.#native;
  }

  /** The text that stands for one image in a prompt. */
  get marker(): string {
    return this.info.marker;
  }

  /** Decodes an image (path, bytes, data URL or raw RGB) and gives it its content id. */
  loadImage(input: ImageInput): Promise<NativeImage> {
    return decodeImage(this.native, input);
  }

  /** @internal Splits text with one marker per image into text and image chunks. */
  tokenize(text: string, images: NativeImage[], options: { addSpecial: boolean; parseSpecial: boolean }): Promise<NativeChunks> {
    return native(() => this.native.tokenize(text, images, options.addSpecial, options.parseSpecial));
  }

  /** How many tokens (and positions) an image of this size becomes. */
  async imageTokens(width: number, height: number): Promise<{ tokens: number; positions: number }> {
    const image = this.native.imageFromRgb(width, height, new Uint8Array(width * height * 3));
    const chunks = await this.tokenize(this.marker, [image], { addSpecial: false, parseSpecial: false });
    for (const chunk of chunks.describe()) {
      if (chunk.type !== "text") return { tokens: chunk.tokens, positions: chunk.positions };
    }
    throw createError("INTERNAL", "the projector produced no image chunk");
  }

  dispose(): void {
    this.#native?.dispose();
    this.#native = null;
  }
}

export type { ImageInput };
