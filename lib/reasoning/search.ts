// The state of one search: the engine, the resolved options, the question prompt, the trace it builds,
// and the two operations every strategy is made of — sample candidates from a prefix (forks generated
// in one batch) and release sequences — so strategies stay short and read like the spec.
//
// With `fork: false` the same search runs without sharing anything: a prefix is only remembered as its
// prompt and tokens, and every candidate and judge evaluates those afresh (image included), as the
// reference code does. That switch lives here alone, so strategies do not know about it.
import type { EngineContext, EngineSequence } from "../engine/types.js";
import type { ChatMessage } from "../engine/chat-message.js";
import type { ImageInput, MarkedPrompt, PromptInput } from "../engine/prompt-input.js";
import { plainChatPrompt } from "../chat-prompt.js";
import { withRoom } from "./room.js";
import type { ResolvedOptions } from "./options.js";
import { deriveSeed } from "./seeds.js";
import { closeTag, parseStage, StageTracker, stageGrammar, stageOpening, type Stage } from "./stages.js";
import type { CandidateKind, CandidateRecord, JudgementRecord } from "./trace.js";
import type { JudgePrompt } from "./judge-prompts.js";

export interface Candidate {
  record: CandidateRecord;
  sequence: EngineSequence;
}

/**
 * The candidate with the best mean token logprob (the first on a tie): the fallback when judging cannot
 * decide. The candidates must have been sampled with `logprobs` (see SampleOptions).
 */
export function bestByMeanLogprob(candidates: readonly Candidate[]): Candidate {
  const mean = (c: Candidate) => c.record.meanLogprob ?? -Infinity;
  return candidates.reduce((best, c) => (mean(c) > mean(best) ? c : best));
}

export interface SampleOptions {
  kind: CandidateKind;
  round?: number;
  /** Stop strings (default: the stage's closing tag). */
  stop?: string[];
  maxTokens?: number;
  /** Force the structure of this stage (prefill or grammar) as the options say (default: yes, for stages). */
  force?: boolean;
  /** Parse the text as this stage (default: kind, when it is a stage). */
  parseAs?: Stage | null;
  /**
   * Read the candidates' token logprobs (their meanLogprob): only where a decision may rest on them —
   * bestByMeanLogprob, the mean-probability scorer — as each costs a pass over the vocabulary per token.
   */
  logprobs?: boolean;
}

const isStage = (kind: CandidateKind): kind is Stage => kind !== "ANSWER" && kind !== "SENTENCE";

/**
 * With forking off: how to rebuild a sequence — its prompt, and how many of its tokens that prompt gave
 * (null while the prompt is not evaluated in it: a root that candidates evaluate themselves).
 */
interface Origin {
  input: PromptInput;
  promptTokens: number | null;
}

export class SearchRun {
  readonly engine: EngineContext;
  readonly options: ResolvedOptions;
  readonly candidates: CandidateRecord[] = [];
  readonly judgements: JudgementRecord[] = [];
  readonly problems: string[] = [];
  readonly stageMs: Partial<Record<CandidateKind, number>> = {};
  judgeCalls = 0;
  readonly #live = new Set<EngineSequence>();
  readonly #origins = new WeakMap<EngineSequence, Origin>();
  readonly #judgeLeads = new Map<string, Promise<EngineSequence>>();
  #closed = false;

  constructor(engine: EngineContext, options: ResolvedOptions) {
    this.engine = engine;
    this.options = options;
  }

  /** The user turn (image first, then the question), rendered with the model's chat template. */
  questionInput(): PromptInput {
    const { image, question } = this.options;
    this.emit({ type: "prompt", images: image === undefined ? 0 : 1 });
    return this.userTurn(question, true);
  }

  /**
   * A user turn of `text` (after the search's image when `withImage` and it has one), rendered with the
   * chat template. With questionSpecialTokens "text" (default) the text is marked plain: special-token
   * text or a media marker that the question brings in stays text (lib/chat-prompt.ts).
   */
  userTurn(text: string, withImage: boolean): PromptInput {
    const image = withImage ? this.options.image : undefined;
    const messages: ChatMessage[] = [{ role: "user", content: image === undefined ? text : [{ type: "image" }, { type: "text", text }] }];
    const { template } = this.options;
    if (this.options.questionSpecialTokens === "parse") {
      const prompt = this.engine.applyChatTemplate(messages, { template });
      return image === undefined ? prompt : { prompt, images: [image] };
    }
    return plainChatPrompt(this.engine, messages, {
      template,
      images: image === undefined ? [] : [image],
      fix: 'pass questionSpecialTokens: "parse" to read it as special tokens',
    });
  }

  /**
   * The prefix a strategy samples candidates from (the question). With forking off nothing is evaluated
   * here: each candidate evaluates the input itself.
   */
  async prefixFrom(input: PromptInput): Promise<EngineSequence> {
    if (this.options.fork) return this.sequenceFrom(input);
    const root = this.track(this.engine.createSequence());
    this.#origins.set(root, { input, promptTokens: null });
    return root;
  }

  /** Appends text to a prefix (forced tags between sampling steps). */
  async append(prefix: EngineSequence, text: string): Promise<void> {
    const origin = this.#origins.get(prefix);
    if (origin && origin.promptTokens === null) {
      await prefix.evaluate(origin.input, { signal: this.options.signal });
      origin.promptTokens = prefix.tokens.length;
    }
    await prefix.evaluate(text, { signal: this.options.signal });
  }

  /**
   * A sequence of `input`, forked from the context's prefix cache when it has one (and forking is on);
   * tracked for cleanup. `remember: false` for one-off prompts (judges), which reuse cached prefixes
   * without displacing them.
   */
  async sequenceFrom(input: PromptInput, remember = true): Promise<EngineSequence> {
    const sequence = await withRoom(
      this.engine,
      () => (this.options.fork ? this.engine.createSequenceFrom(input, { signal: this.options.signal, remember }) : this.#evaluateAfresh(input, [])),
      async () => {},
    );
    return this.track(sequence);
  }

  /**
   * A judge's sequence: its message (with the image when `withImage` and the search has one) as the user
   * turn. The rendered prompt up to the end of the message's shared lead is evaluated once per stage and
   * forked by every judge that shares it (kept until releaseJudgeLeads()); with forking off, or a chat
   * template that does not keep the message verbatim, the whole prompt is evaluated as sequenceFrom does.
   */
  async judgeSequence(message: JudgePrompt, withImage: boolean): Promise<EngineSequence> {
    const { text } = message;
    const turn = this.userTurn(text, withImage);
    const marked = typeof turn === "string" ? { prompt: turn, images: [] } : (turn as MarkedPrompt);
    const rendered = marked.prompt;
    // The message's place: its plain-text span when marked, else where the text is found.
    const span = marked.plainText?.[0];
    const at = span ? (rendered.slice(span.start, span.end) === text ? span.start : -1) : rendered.indexOf(text);
    if (!this.options.fork || at < 0) return this.sequenceFrom(turn, false);
    const leadEnd = at + message.shared.length;
    const piece = (from: number, to: number, images: ImageInput[]): PromptInput => {
      const prompt = rendered.slice(from, to);
      if (span) return { prompt, images, plainText: [{ start: Math.max(0, span.start - from), end: Math.min(to, span.end) - from }] };
      return images.length === 0 ? prompt : { prompt, images };
    };
    const lead = rendered.slice(0, leadEnd);
    let base = this.#judgeLeads.get(lead);
    if (!base) {
      base = this.sequenceFrom(piece(0, leadEnd, marked.images), false);
      this.#judgeLeads.set(lead, base);
      base.catch(() => this.#judgeLeads.delete(lead));
    }
    const sequence = this.track(await (await base).fork());
    await sequence.evaluate(piece(leadEnd, rendered.length, []), { signal: this.options.signal });
    return sequence;
  }

  /** Releases the judges' shared leads (end of a stage's judging). */
  async releaseJudgeLeads(): Promise<void> {
    const leads = [...this.#judgeLeads.values()];
    this.#judgeLeads.clear();
    const settled = await Promise.allSettled(leads);
    await this.release(...settled.map((s) => (s.status === "fulfilled" ? s.value : null)));
  }

  /** Forking off: a new sequence continuing `prefix`, its prompt and tokens evaluated again. */
  async #rebuild(prefix: EngineSequence): Promise<EngineSequence> {
    const origin = this.#origins.get(prefix)!;
    return this.#evaluateAfresh(origin.input, origin.promptTokens === null ? [] : prefix.tokens.slice(origin.promptTokens));
  }

  async #evaluateAfresh(input: PromptInput, after: readonly number[]): Promise<EngineSequence> {
    const sequence = this.engine.createSequence();
    try {
      await sequence.evaluate(input, { signal: this.options.signal });
      const promptTokens = sequence.tokens.length;
      // the exact tokens, not their text: what was generated is what is continued
      if (after.length > 0) await sequence.evaluate(after, { signal: this.options.signal });
      this.#origins.set(sequence, { input, promptTokens });
      return sequence;
    } catch (error) {
      await sequence.dispose();
      throw error;
    }
  }

  track<S extends EngineSequence>(sequence: S): S {
    // A sequence that arrives after the search ended (a sibling of a failed Promise.all) goes at once.
    if (this.#closed) void sequence.dispose();
    else this.#live.add(sequence);
    return sequence;
  }

  async release(...sequences: (EngineSequence | null | undefined)[]): Promise<void> {
    await Promise.all(
      sequences.map(async (s) => {
        if (s && this.#live.delete(s)) await s.dispose();
      }),
    );
  }

  /** Disposes every sequence the search still holds (end of search, abort, error); later ones too. */
  async releaseAll(): Promise<void> {
    this.#closed = true;
    await this.release(...this.#live);
  }

  /**
   * Samples `n` candidates continuing `prefix`: forks of it (no copy of the prefix), all generated in one
   * batch per step, each with its own seed. The prefix itself is left as it was.
   */
  sample(prefix: EngineSequence, n: number, o: SampleOptions): Promise<Candidate[]> {
    return this.sampleEach(Array.from({ length: n }, () => prefix), o);
  }

  /**
   * One candidate continuing each prefix (prefixes may repeat), all generated in one batch per step. If
   * concurrent searches have filled the context, the step is undone and run again once one finishes.
   */
  async sampleEach(prefixes: EngineSequence[], o: SampleOptions): Promise<Candidate[]> {
    const made: EngineSequence[] = [];
    const tracked = <S extends EngineSequence>(s: S): S => (made.push(s), this.track(s));
    const first = this.candidates.length;
    return withRoom(
      this.engine,
      () => this.#sampleEach(prefixes, o, tracked),
      async () => {
        await this.release(...made.splice(0));
        this.candidates.splice(first);
      },
    );
  }

  async #sampleEach(prefixes: EngineSequence[], o: SampleOptions, tracked: <S extends EngineSequence>(s: S) => S): Promise<Candidate[]> {
    const { options } = this;
    const round = o.round ?? 0;
    const stage = o.parseAs === undefined ? (isStage(o.kind) ? o.kind : null) : o.parseAs;
    const force = (o.force ?? stage !== null) && stage !== null ? options.forceStructure : "off";
    const started = Date.now();

    const forks = options.fork ? await this.#forks(prefixes, force === "prefill" ? stage : null, tracked) : await this.#rebuilds(prefixes, force === "prefill" ? stage : null, tracked);

    // With a grammar, a stage's content is bounded in characters (4 per budgeted token) and the token
    // budget grows to fit that and the tags even at one character per token: a forced stage always closes.
    const contentChars = 4 * (o.maxTokens ?? options.maxStageTokens);
    const maxTokens =
      force === "grammar" ? contentChars + stageOpening(stage!).length + closeTag(stage!).length + 1 : (o.maxTokens ?? options.maxStageTokens);
    const seeds = forks.map((_, i) => deriveSeed(options.seed, o.kind, round, i));
    const generation = this.engine.generate(
      forks.map((sequence, i) => ({
        sequence,
        maxTokens,
        stop: o.stop ?? (stage ? [closeTag(stage)] : []),
        logprobs: o.logprobs ?? false,
        sampling: {
          temperature: options.temperature,
          topP: options.topP,
          seed: seeds[i],
          grammar: force === "grammar" ? stageGrammar(stage!, contentChars) : undefined,
        },
      })),
      { signal: options.signal },
    );
    // Follow each candidate's stream to know which stage it is writing (whole answers and sentences
    // cross stages; a prefilled opening tag counts as written).
    const trackers = forks.map(() => new StageTracker());
    if (force === "prefill") for (const t of trackers) t.push(stageOpening(stage!));
    for await (const event of generation) {
      if (!event.text) continue;
      const tracker = trackers[event.index]!;
      tracker.push(event.text);
      this.emit({ type: "candidate-token", kind: o.kind, stage: tracker.current ?? stage, candidate: event.index, text: event.text });
    }
    const results = await generation.result();
    // Prefilled structure: a stage cut off by its token budget is closed too, so it stays well formed.
    const closings = await Promise.all(
      results.map(async (r, i) => {
        if (force !== "prefill" || r.stopReason !== "maxTokens") return "";
        const closing = `${/\s$/.test(r.rawText) ? "" : " "}${closeTag(stage!)}`;
        await forks[i]!.evaluate(closing, { signal: options.signal });
        return closing;
      }),
    );

    const out = results.map((r, i): Candidate => {
      const text = (force === "prefill" ? stageOpening(stage!) : "") + r.rawText + closings[i];
      const parsed = stage ? parseStage(text, stage) : { content: r.text.trim(), wellFormed: r.text.trim().length > 0, problem: "empty" };
      const record: CandidateRecord = {
        id: this.candidates.length,
        kind: o.kind,
        round,
        index: i,
        seed: seeds[i]!,
        text,
        content: parsed.content,
        tokens: r.tokens.length,
        ...(r.logprobs ? { meanLogprob: r.logprobs.length ? r.logprobs.reduce((a, b) => a + b, 0) / r.logprobs.length : -Infinity } : {}),
        valid: parsed.wellFormed,
        ...(parsed.wellFormed ? {} : { problem: parsed.problem }),
        ...(closings[i] ? { closedAtBudget: true } : {}),
        won: false,
      };
      this.candidates.push(record);
      if (!record.valid) this.problems.push(`${o.kind} candidate ${record.id} is malformed (${record.problem})`);
      this.emit({ type: "candidate-done", kind: o.kind, candidate: record.id, text, valid: record.valid });
      return { record, sequence: forks[i]! };
    });
    this.stageMs[o.kind] = (this.stageMs[o.kind] ?? 0) + (Date.now() - started);
    return out;
  }

  /** Forks of each prefix; a prefilled opening tag is evaluated once per distinct prefix, on a base the candidates fork from. */
  async #forks(prefixes: EngineSequence[], prefill: Stage | null, tracked: <S extends EngineSequence>(s: S) => S): Promise<EngineSequence[]> {
    const bases = new Map<EngineSequence, EngineSequence>();
    for (const prefix of new Set(prefixes)) {
      if (prefill === null) {
        bases.set(prefix, prefix);
        continue;
      }
      const base = tracked(await prefix.fork());
      await base.evaluate(stageOpening(prefill), { signal: this.options.signal });
      bases.set(prefix, base);
    }
    const forks = await Promise.all(prefixes.map((p) => bases.get(p)!.fork().then((s) => tracked(s))));
    await this.release(...[...bases.entries()].filter(([p, b]) => p !== b).map(([, b]) => b));
    return forks;
  }

  /** Forking off: each candidate evaluates its prefix's prompt and tokens (and the opening tag) itself. */
  async #rebuilds(prefixes: EngineSequence[], prefill: Stage | null, tracked: <S extends EngineSequence>(s: S) => S): Promise<EngineSequence[]> {
    return Promise.all(
      prefixes.map(async (prefix) => {
        const sequence = tracked(await this.#rebuild(prefix));
        if (prefill !== null) await sequence.evaluate(stageOpening(prefill), { signal: this.options.signal });
        return sequence;
      }),
    );
  }

  emit(event: Parameters<NonNullable<ResolvedOptions["onEvent"]>>[0]): void {
    this.options.onEvent?.(event);
  }
}
