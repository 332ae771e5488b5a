// What a search returns: the conclusion, every stage's text, the whole search tree (each candidate and
// each judgement) and counts and timings — everything deterministic for a given seed.
import type { Stage } from "./stages.js";

export type CandidateKind = Stage | "ANSWER" | "SENTENCE";

export interface CandidateRecord {
  id: number;
  kind: CandidateKind;
  round: number;
  index: number;
  seed: number;
  /** Generated text, the stage's tags included. */
  text: string;
  /** The stage's inner text (the whole text for ANSWER and SENTENCE candidates). */
  content: string;
  tokens: number;
  /**
   * Mean logprob of the candidate's tokens; present only where the search read them, the candidates a
   * decision may rest on: a stage's pool when a generate-mode judge can fall back to it or no candidate
   * may be well formed, and every candidate retrace scores by mean token probability.
   */
  meanLogprob?: number;
  valid: boolean;
  problem?: string;
  /** The stage reached its token budget and its closing tag was prefilled (forceStructure "prefill"). */
  closedAtBudget?: boolean;
  score?: number;
  won: boolean;
}

export interface JudgementRecord {
  kind: CandidateKind;
  /** "pairwise": which of two is better; "reasoning-check": is one reasoning correct (text only). */
  type: "pairwise" | "reasoning-check";
  /** Candidate ids (one for a reasoning check). */
  candidates: number[];
  mode: "generate" | "logprob";
  raw: string;
  /** The winning candidate id (pairwise) or the verdict (reasoning check). */
  winner?: number;
  verdict?: "correct" | "incorrect";
  /** The answer did not parse and the decision fell back to mean token logprob (or to no verdict). */
  fellBack: boolean;
}

export interface ReasonCounts {
  imageEncodes: number;
  promptTokens: number;
  generatedTokens: number;
  decodeCalls: number;
  judgeCalls: number;
  candidates: number;
}

export interface ReasonResult {
  /** The user-facing answer: the CONCLUSION stage's text. */
  conclusion: string;
  stages: Record<Stage, string>;
  /** The whole answer as generated, tags included. */
  text: string;
  strategy: string;
  tree: { candidates: CandidateRecord[]; judgements: JudgementRecord[] };
  /** Format problems met on the way (malformed candidates, fallbacks), reported, never thrown. */
  problems: string[];
  /**
   * Work done. Measured on the context, so when several searches share one context at the same time,
   * each one's counts include work of the others that overlapped it.
   */
  counts: ReasonCounts;
  timings: { totalMs: number; stagesMs: Partial<Record<CandidateKind, number>> };
}
