// reason()'s options arrive from plain JavaScript, the CLI and the server: names and numbers are checked
// before a search starts, so a typo or a NaN is an INVALID_ARGUMENT naming the option, never a search
// silently run another way or a TypeError from deep inside one.
import { createError } from "../errors.js";
import type { ResolvedOptions } from "./options.js";

function oneOf(name: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== "string" || !allowed.includes(value)) {
    throw createError("INVALID_ARGUMENT", `${name} must be one of ${allowed.join(", ")}, got ${describe(value)}`);
  }
}

function integer(name: string, value: unknown, min: number): void {
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw createError("INVALID_ARGUMENT", `${name} must be an integer of at least ${min}, got ${describe(value)}`);
  }
}

function numberIn(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== "number" || !(value >= min && value <= max)) {
    throw createError("INVALID_ARGUMENT", `${name} must be a number from ${min} to ${max}, got ${describe(value)}`);
  }
}

/** A value as an error message may show it: a Symbol or an object would throw in a template string. */
export function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : typeof value === "number" ? String(value) : typeof value;
}

export function checkOptions(o: ResolvedOptions): void {
  oneOf("forceStructure", o.forceStructure, ["off", "prefill", "grammar"]);
  oneOf("judge", o.judge, ["generate", "logprob"]);
  oneOf("tournament", o.tournament, ["bracket", "knockout"]);
  oneOf("scorer", o.scorer, ["mean-logprob", "judge"]);
  oneOf("questionSpecialTokens", o.questionSpecialTokens, ["text", "parse"]);
  integer("seed", o.seed, 0);
  integer("maxStageTokens", o.maxStageTokens, 1);
  integer("maxJudgeTokens", o.maxJudgeTokens, 1);
  numberIn("temperature", o.temperature, 0, 100);
  numberIn("topP", o.topP, 0, 1);
  if (typeof o.fork !== "boolean") throw createError("INVALID_ARGUMENT", `fork must be true or false, got ${describe(o.fork)}`);
  if (o.template !== undefined && (typeof o.template !== "string" || o.template.length === 0)) {
    throw createError("INVALID_ARGUMENT", `template must be a non-empty string (Jinja text or a name such as "chatml"), got ${describe(o.template)}`);
  }
  const r = o.retrace;
  integer("retrace.captions", r.captions, 1);
  integer("retrace.keepCaptions", r.keepCaptions, 1);
  integer("retrace.reasoningsPerCaption", r.reasoningsPerCaption, 1);
  integer("retrace.maxRetraces", r.maxRetraces, 0);
  integer("retrace.finalists", r.finalists, 1);
  numberIn("retrace.threshold", r.threshold, 0, 1);
}
