// Streaming a search's events as deltas (no model: the events are written here as the search sends them).
// What must hold whatever the events: every delta extends what was sent, and the deltas add up to the
// result the search returns.
import { describe, expect, test } from "vitest";
import type { ReasonEvent } from "../../lib/reasoning/options.js";
import { STAGES, type Stage } from "../../lib/reasoning/stages.js";
import type { CompletionDelta } from "../../lib/server/completion.js";
import { cutAtStop, reasoningText, settledContent, StagedStream } from "../../lib/server/staged-stream.js";

const stages: Record<Stage, string> = {
  SUMMARY: "I will look at the picture.",
  CAPTION: "A red <b>bold</b> square on grey.",
  REASONING: "Red squares are red; so is this one.",
  CONCLUSION: "It is red. STOP here",
};

/** A stage's candidate text as the model writes it (the search's stop is its closing tag). */
const written = (stage: Stage, content = stages[stage]) => `${stage === "SUMMARY" ? "" : "\n\n"}<${stage}> ${content} </${stage}>`;

/** Splits text into token-sized pieces, deterministically for a seed. */
function tokens(text: string, seed: number): string[] {
  const out: string[] = [];
  let x = seed + 1;
  for (let i = 0; i < text.length; ) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (x % 4);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

/** The events of a search whose stages have `width` candidates (the first one wins). */
function searchEvents(width: (stage: Stage) => number, seed = 0, texts = stages): ReasonEvent[] {
  const events: ReasonEvent[] = [];
  for (const stage of STAGES) {
    const n = width(stage);
    events.push({ type: "stage-start", kind: stage, candidates: n, round: 0 });
    const text = written(stage, texts[stage]);
    for (let c = 0; c < n; c++) for (const t of tokens(c === 0 ? text : text.toUpperCase(), seed + c)) events.push({ type: "candidate-token", kind: stage, stage, candidate: c, text: t });
    for (let c = 0; c < n; c++) events.push({ type: "candidate-done", kind: stage, candidate: c, text, valid: true });
    events.push({ type: "stage-winner", kind: stage, candidate: 0, text });
  }
  return events;
}

interface Run {
  deltas: CompletionDelta[];
  /** What had been sent when each event was handled. */
  after: { reasoning: string; content: string }[];
  error?: unknown;
}

function play(events: ReasonEvent[], result = stages, o: { stops?: string[]; prefilled?: boolean; perToken?: boolean } = {}): Run {
  const deltas: CompletionDelta[] = [];
  const sent = { reasoning: "", content: "" };
  const stream = new StagedStream(
    (d) => {
      deltas.push(d);
      sent.reasoning += d.reasoning ?? "";
      sent.content += d.content ?? "";
    },
    o.stops ?? [],
    o.prefilled ?? false,
    o.perToken ?? true,
  );
  const after: Run["after"] = [];
  for (const e of events) {
    stream.onEvent(e);
    after.push({ ...sent });
  }
  try {
    stream.finish(result);
  } catch (error) {
    return { deltas, after, error };
  }
  after.push({ ...sent });
  return { deltas, after };
}

const final = (stops: string[] = []) => ({ reasoning: reasoningText(stages), content: cutAtStop(stages.CONCLUSION, stops).text });

describe("a lone candidate streams token by token", () => {
  test("every stage of a single pass: many deltas, each a prefix of the result, adding up to it", () => {
    for (const seed of [0, 1, 2, 3]) {
      const run = play(searchEvents(() => 1, seed));
      expect(run.error).toBeUndefined();
      const reasoningDeltas = run.deltas.filter((d) => d.reasoning !== undefined);
      const contentDeltas = run.deltas.filter((d) => d.content !== undefined);
      expect(reasoningDeltas.length).toBeGreaterThan(10);
      expect(contentDeltas.length).toBeGreaterThan(3);
      for (const s of run.after) {
        expect(final().reasoning.startsWith(s.reasoning)).toBe(true);
        expect(final().content.startsWith(s.content)).toBe(true);
      }
      expect(run.after.at(-1)).toEqual(final());
      // all the reasoning went out before the search ended (the finish added nothing to it)
      expect(run.after.at(-2)!.reasoning).toBe(final().reasoning);
    }
  });

  test("the text arrives as it is written: half the SUMMARY's tokens give about half its text", () => {
    const events = searchEvents(() => 1);
    const summaryTokens = events.filter((e) => e.type === "candidate-token" && e.kind === "SUMMARY");
    const half = events.indexOf(summaryTokens[Math.floor(summaryTokens.length / 2)]!);
    const sentThen = play(events.slice(0, half + 1)).after[half]!.reasoning;
    expect(sentThen.startsWith("<SUMMARY> I will")).toBe(true);
    expect(sentThen.length).toBeLessThan(written("SUMMARY").length - 8);
  });

  test("nothing of a tag, of whitespace the trim removes, or of text before the opening tag goes out early", () => {
    expect(settledContent("Sure! <SUMMARY>", "SUMMARY")).toBe("");
    expect(settledContent("<SUMMARY>   ", "SUMMARY")).toBe("");
    expect(settledContent("<SUMMARY> I see </SUMM", "SUMMARY")).toBe("I see");
    expect(settledContent("<SUMMARY> I see <CAP", "SUMMARY")).toBe("I see");
    expect(settledContent("<SUMMARY> a <b>c</b", "SUMMARY")).toBe("a <b>c</b"); // not a stage tag
    expect(settledContent("<SUMMARY> I see <CAPTION> a cat", "SUMMARY")).toBe("I see"); // malformed from there
    expect(settledContent("<SUMMARY> I see </SUMMARY> more", "SUMMARY")).toBe("I see");
    expect(settledContent("no tags at all", "SUMMARY")).toBe(""); // may yet turn out to be another stage
  });

  test("prefilled opening tags: the candidates' tokens start after them", () => {
    const events = searchEvents(() => 1);
    // drop the opening tag from each stage's tokens, as a prefilled search sends them
    const prefilled: ReasonEvent[] = [];
    let skip = "";
    for (const e of events) {
      if (e.type === "stage-start") skip = `${e.kind === "SUMMARY" ? "" : "\n\n"}<${e.kind}> `;
      if (e.type === "candidate-token" && skip) {
        const cut = Math.min(skip.length, e.text.length);
        skip = skip.slice(cut);
        if (e.text.length > cut) prefilled.push({ ...e, text: e.text.slice(cut) });
        continue;
      }
      prefilled.push(e);
    }
    const run = play(prefilled, stages, { prefilled: true });
    expect(run.error).toBeUndefined();
    expect(run.deltas.filter((d) => d.reasoning !== undefined).length).toBeGreaterThan(10);
    expect(run.after.at(-1)).toEqual(final());
  });

  test("without per-token streaming (other strategies) a lone candidate waits for its stage-winner", () => {
    const run = play(searchEvents(() => 1), stages, { perToken: false });
    expect(run.deltas.filter((d) => d.reasoning !== undefined)).toHaveLength(3);
    expect(run.after.at(-1)).toEqual(final());
  });
});

describe("a searched stage streams once decided", () => {
  test("width 2 everywhere: one delta per stage, none from the candidates' tokens", () => {
    const run = play(searchEvents(() => 2));
    expect(run.deltas).toEqual([
      { reasoning: written("SUMMARY") },
      { reasoning: written("CAPTION") },
      { reasoning: written("REASONING") },
      { content: stages.CONCLUSION },
    ]);
  });

  test("mixed widths: lone stages per token, searched ones whole, the sum the result", () => {
    const run = play(searchEvents((s) => (s === "CAPTION" || s === "CONCLUSION" ? 2 : 1), 5));
    expect(run.error).toBeUndefined();
    expect(run.deltas.filter((d) => d.content !== undefined)).toEqual([{ content: stages.CONCLUSION }]);
    expect(run.deltas).toContainEqual({ reasoning: written("CAPTION") });
    expect(run.after.at(-1)).toEqual(final());
  });
});

describe("stop strings cut the answer", () => {
  test("no part of a stop string is sent, streamed per token or decided", () => {
    for (const width of [1, 2]) {
      const run = play(searchEvents(() => width, 3), stages, { stops: [" STOP", "never"] });
      expect(run.error).toBeUndefined();
      expect(run.after.at(-1)).toEqual(final([" STOP", "never"]));
      expect(run.after.at(-1)!.content).toBe("It is red.");
      for (const s of run.after) expect(s.content).not.toContain(" S");
    }
  });
});

describe("what the search replaces", () => {
  test("a restart that writes the same again: nothing twice, and the sum is the result", () => {
    const events = searchEvents(() => 1, 1);
    const midway = events.findIndex((e) => e.type === "candidate-token" && e.kind === "REASONING");
    const run = play([...events.slice(0, midway + 3), { type: "restart", reason: "context-full" }, ...events]);
    expect(run.error).toBeUndefined();
    const all = run.deltas.reduce((s, d) => s + (d.reasoning ?? ""), "");
    expect(all).toBe(final().reasoning);
    expect(run.after.at(-1)).toEqual(final());
  });

  test("a restart that writes differently: the stream ends with an error instead of a contradiction", () => {
    const other = { ...stages, SUMMARY: "Something else entirely." };
    const events = searchEvents(() => 1, 1);
    const midway = events.findIndex((e) => e.type === "candidate-token" && e.kind === "CAPTION");
    const run = play([...events.slice(0, midway), { type: "restart", reason: "context-full" }, ...searchEvents(() => 1, 1, other)], other);
    expect(run.error).toMatchObject({ status: 503, code: "reasoning_superseded" });
    // and nothing of the second run went out once it departed from what was sent
    for (const s of run.after) expect(final().reasoning.startsWith(s.reasoning)).toBe(true);
  });

  test("a lone candidate that ends malformed after its text went out: an error at the end", () => {
    const events: ReasonEvent[] = [
      { type: "stage-start", kind: "SUMMARY", candidates: 1, round: 0 },
      ...tokens("<SUMMARY> first try, cut off", 0).map((text): ReasonEvent => ({ type: "candidate-token", kind: "SUMMARY", stage: "SUMMARY", candidate: 0, text })),
      { type: "candidate-done", kind: "SUMMARY", candidate: 0, text: "<SUMMARY> first try, cut off", valid: false },
      ...tokens(written("SUMMARY"), 1).map((text): ReasonEvent => ({ type: "candidate-token", kind: "SUMMARY", stage: "SUMMARY", candidate: 0, text })),
      { type: "candidate-done", kind: "SUMMARY", candidate: 1, text: written("SUMMARY"), valid: true },
      { type: "stage-winner", kind: "SUMMARY", candidate: 1, text: written("SUMMARY") },
      ...searchEvents(() => 1).slice(searchEvents(() => 1).findIndex((e) => e.type === "stage-start" && e.kind === "CAPTION")),
    ];
    const run = play(events);
    expect(run.error).toMatchObject({ code: "reasoning_superseded" });
  });

  test("one that ends malformed before any of its text went out: its resample streams, no error", () => {
    const events: ReasonEvent[] = [
      { type: "stage-start", kind: "SUMMARY", candidates: 1, round: 0 },
      { type: "candidate-token", kind: "SUMMARY", stage: null, candidate: 0, text: "no tags here" },
      { type: "candidate-done", kind: "SUMMARY", candidate: 0, text: "no tags here", valid: false },
      ...tokens(written("SUMMARY"), 1).map((text): ReasonEvent => ({ type: "candidate-token", kind: "SUMMARY", stage: "SUMMARY", candidate: 0, text })),
      { type: "candidate-done", kind: "SUMMARY", candidate: 1, text: written("SUMMARY"), valid: true },
      { type: "stage-winner", kind: "SUMMARY", candidate: 1, text: written("SUMMARY") },
      ...searchEvents(() => 1).slice(searchEvents(() => 1).findIndex((e) => e.type === "stage-start" && e.kind === "CAPTION")),
    ];
    const run = play(events);
    expect(run.error).toBeUndefined();
    expect(run.deltas.filter((d) => d.reasoning !== undefined).length).toBeGreaterThan(10);
    expect(run.after.at(-1)).toEqual(final());
  });
});
