// A scripted engine for testing search semantics without a model: sequences are strings, generation
// asks a script what each request produces, and every call is recorded.
import type {
  EngineContext,
  EngineGeneration,
  EngineGenerationRequest,
  EngineSequence,
} from "../../lib/engine/types.js";
import type { GenerateOptions, GenerationEvent, GenerationResult } from "../../lib/generation.js";
import type { PromptInput } from "../../lib/prompt.js";
import type { SamplingOptions } from "../../lib/sampling.js";

export interface ScriptRequest {
  /** The sequence's whole text so far (prompt, forced text, earlier stages). */
  text: string;
  stop: readonly string[];
  seed: number | undefined;
  grammar: string | undefined;
}

export interface ScriptReply {
  text: string;
  /** Logprob of every generated "token" (one per character here); default -1. */
  logprob?: number;
}

export type Script = (request: ScriptRequest) => ScriptReply | string;

let nextId = 0;

export class FakeSequence implements EngineSequence {
  readonly id = nextId++;
  text: string;
  disposed = false;
  sampling: SamplingOptions = {};
  readonly #engine: FakeEngine;

  constructor(engine: FakeEngine, text: string) {
    this.#engine = engine;
    this.text = text;
    engine.live.add(this);
  }

  get tokens(): readonly number[] {
    return [...this.text].map((c) => c.charCodeAt(0));
  }

  async evaluate(input: PromptInput, options: { logprobs?: { probes?: readonly number[] } } = {}) {
    if (typeof input === "object" && "images" in input) this.#engine.stats.imageEncodes += input.images.length;
    const text = typeof input === "string" ? input : Array.isArray(input) ? String.fromCharCode(...(input as number[])) : (input as { prompt: string }).prompt;
    this.text += text;
    if (!options.logprobs) return { tokens: [...text].map((c) => c.charCodeAt(0)) };
    const probes = (options.logprobs.probes ?? []).map((t) => this.#engine.probe(this.text, String.fromCharCode(t)));
    return { tokens: [], next: { top: [], probes } };
  }

  async fork(): Promise<FakeSequence> {
    this.#engine.forks++;
    return new FakeSequence(this.#engine, this.text);
  }

  setSampling(options: SamplingOptions): void {
    this.sampling = options;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.#engine.live.delete(this);
  }
}

export class FakeEngine implements EngineContext<FakeSequence> {
  readonly live = new Set<FakeSequence>();
  forks = 0;
  /** createSequenceFrom() calls (where a real context would reuse its prefix cache). */
  cacheLookups = 0;
  /** The text of every generate request, in order. */
  readonly requests: string[] = [];
  /** The text of every generate request that asked for logprobs. */
  readonly logprobRequests: string[] = [];
  /** Every generate() call: how many sequences it advanced together. */
  readonly generateCalls: number[] = [];
  readonly stats = { promptTokens: 0, generatedTokens: 0, decodeCalls: 0, imageEncodes: 0, cachedItems: 0 };
  readonly freeCells = 1 << 20;
  readonly freeSequences = 1 << 10;

  constructor(
    readonly script: Script,
    /** Logprob-mode answers: the logprob of `option` continuing `text` ("1"/"2", "c"/"i" for correct/incorrect). */
    readonly probe: (text: string, option: string) => number = () => -1,
  ) {}

  createSequence(): FakeSequence {
    return new FakeSequence(this, "");
  }

  async createSequenceFrom(input: PromptInput): Promise<FakeSequence> {
    this.cacheLookups++;
    const s = this.createSequence();
    await s.evaluate(input);
    return s;
  }

  applyChatTemplate(messages: { role: string; content: string | { type: string; text?: string }[] }[]): string {
    return messages
      .map((m) => `[${m.role}] ${typeof m.content === "string" ? m.content : m.content.map((p) => (p.type === "image" ? "<image>" : p.text)).join("")}\n[assistant] `)
      .join("");
  }

  tokenize(text: string): number[] {
    return [...text].map((c) => c.charCodeAt(0));
  }

  detokenize(tokens: readonly number[]): string {
    return String.fromCharCode(...tokens);
  }

  generate(
    requests: readonly (FakeSequence | EngineGenerationRequest<FakeSequence>)[],
    options: GenerateOptions = {},
  ): EngineGeneration<FakeSequence> {
    const normalized = requests.map((r) => (r instanceof FakeSequence ? { ...options, sequence: r } : { ...options, ...r }));
    this.generateCalls.push(normalized.length);
    const results: GenerationResult<FakeSequence>[] = normalized.map((r) => {
      this.requests.push(r.sequence.text);
      // Logprobs only when asked, as the real engines do: a search that forgets to ask sees none.
      const asked = r.logprobs === true || (r.topLogprobs ?? 0) > 0;
      if (asked) this.logprobRequests.push(r.sequence.text);
      const replyOrText = this.script({ text: r.sequence.text, stop: r.stop ?? [], seed: r.sampling?.seed, grammar: r.sampling?.grammar });
      const reply = typeof replyOrText === "string" ? { text: replyOrText } : replyOrText;
      let raw = reply.text.slice(0, r.maxTokens ?? 256);
      let text = raw;
      let stopReason: "stop" | "maxTokens" = reply.text.length > raw.length ? "maxTokens" : "stop";
      for (const stop of r.stop ?? []) {
        const at = raw.indexOf(stop);
        if (at >= 0) {
          raw = raw.slice(0, at + stop.length);
          text = raw.slice(0, at);
          stopReason = "stop";
        }
      }
      r.sequence.text += raw;
      const tokens = [...raw].map((c) => c.charCodeAt(0));
      return { sequence: r.sequence, tokens, ...(asked ? { logprobs: tokens.map(() => reply.logprob ?? -1) } : {}), text, rawText: raw, stopReason };
    });
    const events: GenerationEvent<FakeSequence>[] = results.map((r, index) => ({
      index,
      sequence: r.sequence,
      token: 0,
      text: r.rawText,
      ...(r.logprobs ? { logprob: -1 } : {}),
    }));
    return {
      async *[Symbol.asyncIterator]() {
        yield* events;
      },
      result: async () => results,
    };
  }
}

/** Which stage a candidate request is for, from its stop string. */
export function stageOf(request: ScriptRequest): string | null {
  const stop = request.stop.find((s) => s.startsWith("</"));
  return stop ? stop.slice(2, -1) : null;
}

export const isPairwiseJudge = (r: ScriptRequest) => r.text.includes("You are judging two candidate responses");
export const isReasoningCheck = (r: ScriptRequest) => r.text.includes("The following description of an image is trusted");

/** The two responses a pairwise judge request compares. */
export function responses(r: ScriptRequest): [string, string] {
  const first = /Response 1: (.*)\n/.exec(r.text)?.[1] ?? "";
  const second = /Response 2: (.*)\n/.exec(r.text)?.[1] ?? "";
  return [first, second];
}
