// Options of a staged-reasoning search, with the paper's reference values as defaults: temperature 0.6,
// top-p 0.9, no top-k, no repetition penalty, for candidates and judges alike; stage-level beam width 2.
import type { ImageInput } from "../engine/prompt-input.js";
import type { Stage } from "./stages.js";
import type { CandidateKind } from "./trace.js";

export type StrategyName = "single" | "best-of-n" | "sentence-beam" | "stage-beam" | "retrace";

/** How the four-stage structure is obtained: the model writes the tags itself ("off", LLaVA-CoT), the
 *  opening tag of each stage is prefilled (and the closing tag too when a stage reaches its token budget),
 *  or a grammar forces each stage's shape. */
export type ForceStructure = "off" | "prefill" | "grammar";

export type JudgeMode = "generate" | "logprob";

export type Verifier = (stage: CandidateKind, candidate: string, context: { question: string; previous: Partial<Record<Stage, string>> }) => Promise<number>;

export interface ReasonOptions {
  question: string;
  /** The image the question is about (path, bytes, data URL or raw RGB); omit for text-only questions. */
  image?: ImageInput;
  strategy?: StrategyName;
  /** Candidates per step (stage-beam, best-of-n, sentence-beam); default 2 as in the paper. */
  width?: number;
  seed?: number;
  temperature?: number;
  topP?: number;
  /**
   * Token budget of one candidate stage. With forceStructure "grammar" the content is bounded at 4
   * characters per budgeted token instead, and the tags come on top, so every stage closes.
   */
  maxStageTokens?: number;
  /** Token budget of one judge answer (generate mode). */
  maxJudgeTokens?: number;
  forceStructure?: ForceStructure;
  judge?: JudgeMode;
  /**
   * Forking (default): candidates fork the KV cache of their prefix and judges fork the cached image
   * prefix, so the image and question are evaluated once. `false` turns that off — every candidate and
   * every judge evaluates the image, the prompt and the stages before it afresh, as LLaVA-CoT's reference
   * code does — for measuring what forking saves (the benchmark's baseline); the search is otherwise the
   * same.
   */
  fork?: boolean;
  /** Balanced bracket with each round judged in one batch (default), or the reference's random knockout. */
  tournament?: "bracket" | "knockout";
  /** SWIRES (retrace): the scorer, and its schedule. */
  verifier?: Verifier;
  retrace?: { captions?: number; keepCaptions?: number; reasoningsPerCaption?: number; threshold?: number; maxRetraces?: number; finalists?: number };
  /** How retrace scores candidates when no verifier is given: mean token probability, or the judge's. */
  scorer?: "mean-logprob" | "judge";
  /**
   * The chat template for every prompt of the search, instead of the model's own: a Jinja template, or a
   * name llama.cpp's renderer knows ("chatml", "llama3", … — chatTemplateNames()). Needed for a model
   * whose file has no template (base models, older conversions).
   */
  template?: string;
  /**
   * How special-token text in the question (`<|eot_id|>`, `</s>`, `<|image|>`, the media marker) is read:
   * as the characters written ("text", default: a user's question cannot end the turn or add an image),
   * or as the tokens it names ("parse", as in a prompt written by hand). The judges' prompts, which quote
   * the question, follow the same choice.
   */
  questionSpecialTokens?: "text" | "parse";
  signal?: AbortSignal;
  onEvent?: (event: ReasonEvent) => void;
}

export interface ResolvedOptions extends Required<Omit<ReasonOptions, "image" | "verifier" | "signal" | "onEvent" | "retrace" | "template">> {
  image?: ImageInput;
  template?: string;
  verifier?: Verifier;
  signal?: AbortSignal;
  onEvent?: (event: ReasonEvent) => void;
  retrace: Required<NonNullable<ReasonOptions["retrace"]>>;
}

export function resolveOptions(options: ReasonOptions): ResolvedOptions {
  return {
    strategy: "stage-beam",
    width: 2,
    seed: 0,
    temperature: 0.6,
    topP: 0.9,
    maxStageTokens: 512,
    maxJudgeTokens: 128,
    forceStructure: "off",
    fork: true,
    judge: "generate",
    tournament: "bracket",
    scorer: "mean-logprob",
    questionSpecialTokens: "text",
    ...stripUndefined(options),
    retrace: { captions: 4, keepCaptions: 2, reasoningsPerCaption: 2, threshold: 0.7, maxRetraces: 3, finalists: 3, ...stripUndefined(options.retrace ?? {}) },
  } as ResolvedOptions;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Typed events of a running search, in order. Candidate numbers are ids in the result's tree. */
export type ReasonEvent =
  /** The question (and its image, if any) is being evaluated — or found in the prefix cache. */
  | { type: "prompt"; images: number }
  | { type: "stage-start"; kind: CandidateKind; candidates: number; round: number }
  | {
      type: "candidate-token";
      kind: CandidateKind;
      /** The stage the candidate is writing now, from its tags (null before any). */
      stage: Stage | null;
      /** position in the current batch */
      candidate: number;
      text: string;
    }
  | { type: "candidate-done"; kind: CandidateKind; candidate: number; text: string; valid: boolean }
  | { type: "judgement"; stage: CandidateKind; pair: [number, number]; winner: number; raw: string; fellBack: boolean }
  | { type: "stage-winner"; kind: CandidateKind; candidate: number; text: string }
  /** Concurrent searches filled the context and this one started over (its earlier events are void). */
  | { type: "restart"; reason: "context-full" }
  | { type: "done"; conclusion: string };
