// Model: a loaded GGUF. Vocabulary operations, metadata, chat templates, and contexts made from it.
import { withCancellation } from "./abort.js";
import { existingFile } from "./existing-file.js";
import { contentText, DEFAULT_MEDIA_MARKER, renderChatTemplate, templateParts } from "./chat-template.js";
import { chatTemplateNames, isChatTemplateName } from "./chat-template-names.js";
import type { ChatMessage } from "./engine/chat-message.js";
import { Context, type ContextOptions } from "./context.js";
import { createError, DisposedError, native, nativeSync } from "./errors.js";
import { checkMllamaModelFile, identify, loadMllama, MLLAMA_ARCHITECTURE, mllamaModelMetadata } from "./mllama/engine.js";
import { nativeAddon, type NativeMllamaModel, type NativeModel, type NativeModelMetadata } from "./native.js";
import { PAIR_ID_KEY } from "./mllama/gguf-layout.js";
import { MllamaProjector } from "./mllama/projector.js";
import { Projector, type LoadProjectorOptions } from "./projector.js";
import { checkProjectorFile } from "./projector-preconditions.js";
import { checkModelFile } from "./model-preconditions.js";
import type { ReasonOptions } from "./reasoning/options.js";
import { reasonOnModel } from "./reasoning/reason-on-model.js";
import { forgetSharedReasoningContext } from "./reasoning/shared-context.js";
import type { ReasonResult } from "./reasoning/trace.js";
import { holdRpcServers } from "./rpc/connections.js";
import { parseRpcEndpoints } from "./rpc/endpoint.js";
import { probeRpcServer } from "./rpc/handshake.js";

export interface LoadModelOptions {
  /** Path to a .gguf file. */
  path: string;
  /** Path to the model's multimodal projector (mmproj .gguf), for image input. */
  projector?: string;
  /** Layers to offload to a GPU; -1 (default) offloads all that the backend can take. 0 keeps all on CPU. */
  gpuLayers?: number;
  /** Memory-map the weights (default: llama.cpp decides). */
  useMmap?: boolean;
  /**
   * rpc-server endpoints ("host:port") to split the model across, as llama.cpp's `--rpc`: the layers
   * `gpuLayers` offloads go to these servers' devices (then to this machine's GPUs), the weights are
   * copied to them at load, and every step's activations cross the network. Each must answer as an
   * rpc-server of this build's protocol (`stagebeam rpc-server`), else loading fails with
   * RPC_UNREACHABLE or RPC_PROTOCOL_MISMATCH. llama.cpp models only.
   */
  rpc?: readonly string[];
  /** Called with 0..1 as the weights load. */
  onProgress?: (progress: number) => void;
  signal?: AbortSignal;
}

export type ModelMetadata = NativeModelMetadata;

export interface TokenizeOptions {
  /** Add BOS/EOS as the model is configured to (default true). */
  addSpecial?: boolean;
  /** Parse special-token text such as `<|eot_id|>` into the special token (default false). */
  parseSpecial?: boolean;
}

/** How long an rpc-server has to answer the handshake before loading gives up on it. */
const RPC_HANDSHAKE_TIMEOUT_MS = 10_000;

export async function loadModel(options: LoadModelOptions): Promise<Model> {
  if (options.rpc !== undefined && !Array.isArray(options.rpc)) {
    throw createError("INVALID_RPC_ENDPOINT", 'rpc must be an array of "host:port" strings');
  }
  const rpc = options.rpc === undefined ? [] : parseRpcEndpoints(options.rpc);
  if (rpc.length > 0 && options.gpuLayers === 0) {
    throw createError("INVALID_ARGUMENT", "gpuLayers 0 keeps every layer on this machine, so rpc would do nothing: leave gpuLayers out (all layers) or give how many to offload");
  }
  const path = await existingFile(options.path, "model");
  const identity = identify(path);
  if (identity.architecture === MLLAMA_ARCHITECTURE) {
    if (rpc.length > 0) {
      throw createError("RPC_UNSUPPORTED", "mllama models run on stagebeam's own engine, which runs on this machine only: load them without rpc");
    }
    checkMllamaModelFile(path, identity);
    const { vocabulary, weights } = await loadMllama(path, options);
    return withProjector(new Model(vocabulary, path, weights), options);
  }
  checkModelFile(path);
  const addon = nativeAddon();
  // ggml aborts the process on a server that does not answer as it expects: ask each first.
  const protocol = rpc.length > 0 ? nativeSync(() => addon.rpcProtocol()) : null;
  const release = protocol ? await holdRpcServers(rpc, (endpoint) => probeRpcServer(endpoint, protocol, RPC_HANDSHAKE_TIMEOUT_MS)) : () => {};
  let handle: NativeModel;
  try {
    handle = await withCancellation(options.signal, (cancellation) =>
      native(() =>
        addon.Model.load(
          path,
          { gpuLayers: options.gpuLayers, useMmap: options.useMmap, ...(rpc.length > 0 ? { rpc } : {}) },
          options.onProgress,
          cancellation,
        ),
      ),
    );
  } catch (error) {
    release();
    throw error;
  }
  const model = new Model(handle, path, null, rpc);
  model.onFree(release);
  return withProjector(model, options);
}

async function withProjector(model: Model, options: LoadModelOptions): Promise<Model> {
  if (options.projector === undefined) return model;
  try {
    await model.loadProjector(options.projector, { signal: options.signal, useGpu: options.gpuLayers !== 0 });
  } catch (error) {
    await model.dispose();
    throw error;
  }
  return model;
}

/** A libmtmd projector's path, once its header is known not to trip libmtmd's asserts. */
async function checkedProjectorFile(path: string): Promise<string> {
  const absolute = await existingFile(path, "projector");
  checkProjectorFile(absolute);
  return absolute;
}

/** Which engine runs a model: llama.cpp, or stagebeam's own mllama engine on ggml (Llama 3.2 Vision). */
export type EngineName = "llama.cpp" | "mllama";

export class Model {
  readonly path: string;
  readonly metadata: ModelMetadata;
  readonly engine: EngineName;
  /** The rpc-servers ("host:port") the model is split across; empty when it runs on this machine alone. */
  readonly rpc: readonly string[];
  #native: NativeModel | null;
  #mllama: NativeMllamaModel | null;
  #projector: Projector | MllamaProjector | null = null;
  #bosText: string | undefined;
  readonly #contexts = new Set<Context>();
  readonly #pieces = new Map<number, Uint8Array>();
  readonly #eog = new Map<number, boolean>();
  readonly #onFree: (() => void)[] = [];

  /**
   * @internal use loadModel(). `handle` is the llama.cpp model, or for mllama its vocabulary (tokenizer,
   * samplers, chat template), with `mllama` the weights the addon's own engine runs.
   */
  constructor(handle: NativeModel, path: string, mllama: NativeMllamaModel | null = null, rpc: readonly string[] = []) {
    this.rpc = rpc;
    this.#native = handle;
    this.#mllama = mllama;
    this.path = path;
    this.engine = mllama ? "mllama" : "llama.cpp";
    this.metadata = mllama ? mllamaModelMetadata(handle.metadata(), mllama.metadata()) : handle.metadata();
  }

  /** @internal the llama.cpp model; for mllama, its vocabulary */
  get native(): NativeModel {
    if (!this.#native) throw new DisposedError("DISPOSED", "the model has been disposed");
    return this.#native;
  }

  /** @internal the mllama engine's weights; null for llama.cpp models */
  get mllama(): NativeMllamaModel | null {
    if (!this.#native) throw new DisposedError("DISPOSED", "the model has been disposed");
    return this.#mllama;
  }

  get disposed(): boolean {
    return this.#native === null;
  }

  /** The multimodal projector, once loaded: libmtmd's, or for mllama the vision encoder of stagebeam's engine. */
  get projector(): Projector | MllamaProjector | null {
    return this.#projector;
  }

  /**
   * Loads the model's mmproj GGUF so sequences can take images. Replaces a projector loaded before. For
   * mllama, load it before creating the contexts that take images (each holds an image store sized by it).
   */
  async loadProjector(path: string, options: LoadProjectorOptions = {}): Promise<Projector | MllamaProjector> {
    const projector =
      this.engine === "mllama"
        ? await MllamaProjector.load(
            {
              tokenize: (text, o) => this.tokenize(text, o),
              embeddingSize: this.metadata.embeddingSize,
              pairId: this.metadata.meta[PAIR_ID_KEY] ?? null,
            },
            path,
            options,
          )
        : await Projector.load(this.native, await checkedProjectorFile(path), options);
    await this.#projector?.dispose();
    this.#projector = projector;
    return projector;
  }

  get vocabSize(): number {
    return this.metadata.vocabSize;
  }

  tokenize(text: string, options: TokenizeOptions = {}): number[] {
    const parseSpecial = options.parseSpecial ?? false;
    const addSpecial = (options.addSpecial ?? true) && !(parseSpecial && this.startsWithBos(text));
    return Array.from(nativeSync(() => this.native.tokenize(text, addSpecial, parseSpecial)));
  }

  /**
   * Whether text already begins with the BOS token's text (as chat templates that emit `bos_token`
   * render it). Tokenizing such text with special-token parsing must not add a second BOS.
   */
  startsWithBos(text: string): boolean {
    const bos = this.metadata.specialTokens.bos;
    if (!this.metadata.addBos || bos === null) return false;
    this.#bosText ??= this.native.detokenize(Int32Array.of(bos), false, true);
    return this.#bosText.length > 0 && text.startsWith(this.#bosText);
  }

  /** Text of tokens. `special: true` renders special tokens (e.g. `<|eot_id|>`) as text. */
  detokenize(tokens: readonly number[], options: { special?: boolean } = {}): string {
    return nativeSync(() => this.native.detokenize(Int32Array.from(tokens), false, options.special ?? false));
  }

  /** The raw bytes of one token (may be part of a UTF-8 character). Cached. */
  tokenPiece(token: number): Uint8Array {
    let piece = this.#pieces.get(token);
    if (!piece) {
      piece = nativeSync(() => this.native.tokenPiece(token, false));
      this.#pieces.set(token, piece);
    }
    return piece;
  }

  /** End of generation (EOS, EOT and the model's other stop tokens). Cached. */
  isEndOfGeneration(token: number): boolean {
    let eog = this.#eog.get(token);
    if (eog === undefined) {
      eog = nativeSync(() => this.native.isEog(token));
      this.#eog.set(token, eog);
    }
    return eog;
  }

  /**
   * Renders messages with the model's chat template (or `template`). `variables` adds template variables,
   * e.g. `{ date_string: "26 Jul 2024" }` for Llama 3.x templates, which otherwise put today's date in
   * text-only prompts (so the same call renders differently from one day to the next).
   */
  applyChatTemplate(
    messages: ChatMessage[],
    options: { addGenerationPrompt?: boolean; template?: string; variables?: Record<string, unknown> } = {},
  ): string {
    const template = options.template ?? this.metadata.chatTemplate;
    if (!template) {
      throw createError(
        "NO_CHAT_TEMPLATE",
        `this model's file has no chat template: pass one as the template option (a Jinja template, or a name llama.cpp knows: ${chatTemplateNames().join(", ")})`,
      );
    }
    const special = this.metadata.specialTokens;
    const text = (token: number | null) => (token === null ? "" : this.native.detokenize(Int32Array.of(token), false, true));
    const marker = this.#projector?.marker ?? DEFAULT_MEDIA_MARKER;
    // mllama's template reads images from structured content and renders `<|image|>` itself; the others
    // get text with the projector's media marker where each image goes. Its system message stays text:
    // the template trims it as a string (and refuses images beside a system message anyway).
    const structured = this.engine === "mllama";
    const content = (m: ChatMessage) =>
      structured && m.role !== "system" ? templateParts(m.content) : contentText(m.content, structured ? "" : marker);
    return renderChatTemplate({
      template,
      named: isChatTemplateName(template),
      messages: messages.map((m) => ({ role: m.role, content: content(m) })),
      addGenerationPrompt: options.addGenerationPrompt ?? true,
      variables: options.variables,
      bosToken: text(special.bos),
      eosToken: text(special.eos),
      fallback: (tmpl, msgs, add) => nativeSync(() => this.native.applyChatTemplate(tmpl, msgs, add)),
    });
  }

  /**
   * Staged reasoning over an image and a question with the chosen search strategy (reasoning/options).
   * Runs on `options.context`, or on a context the model keeps for reasoning (created on first use with
   * a prefix cache, and shared by concurrent calls). A convenience: the search policy — that context,
   * and searches taking turns — lives in lib/reasoning (reason-on-model.ts).
   */
  reason(options: ReasonOptions & { context?: Context }): Promise<ReasonResult> {
    return reasonOnModel(this, options);
  }

  async createContext(options: ContextOptions = {}): Promise<Context> {
    const context = await Context.create(this, options);
    this.#contexts.add(context);
    context.onDispose(() => this.#contexts.delete(context));
    return context;
  }

  /** @internal runs `callback` once the weights are freed (the rpc-servers a model holds are let go then). */
  onFree(callback: () => void): void {
    this.#onFree.push(callback);
  }

  /** Disposes every context made from this model, then frees the weights. */
  async dispose(): Promise<void> {
    if (!this.#native) return;
    forgetSharedReasoningContext(this);
    await Promise.all([...this.#contexts].map((context) => context.dispose()));
    await this.#projector?.dispose();
    this.#projector = null;
    this.#native.dispose();
    this.#native = null;
    this.#mllama?.dispose();
    this.#mllama = null;
    for (const callback of this.#onFree.splice(0)) callback();
  }
}
