// A chat template is code that comes with the model file, and @huggingface/jinja runs it synchronously on
// the JS thread: `{% for i in range(10**9) %}` would stall the whole process (found by the fuzz harness,
// test/fuzz). Renders here get a budget — at most MAX_STEPS evaluated template nodes and ranges of at most
// MAX_RANGE items — and a template over it fails with INVALID_ARGUMENT instead. Llama 2's template takes
// 13 steps a message (a 1,000-message conversation: 13,000); the interpreter takes 5 to 60 µs a step
// (idle to busy machine), so a template that runs out of budget has held the thread for 0.5 to 6 s.
import { Environment, Interpreter, type Template } from "@huggingface/jinja";
import { createError } from "./errors.js";

const MAX_STEPS = 100_000;
const MAX_RANGE = 10_000;

// The library gives no hook into its interpreter, and Template.render makes its own interpreter and
// globals (a template variable cannot replace a global); so evaluate() and the global environment's
// set() are wrapped once, and act only while a budgeted render runs. Renders are synchronous, so one
// counter serves all of them; other users of the library see no change.
let stepsLeft = Number.POSITIVE_INFINITY;
const budgeted = () => stepsLeft !== Number.POSITIVE_INFINITY;
const evaluate = Interpreter.prototype.evaluate;
Interpreter.prototype.evaluate = function (this: Interpreter, ...args: Parameters<typeof evaluate>) {
  if (--stepsLeft < 0) throw tooLong(`more than ${MAX_STEPS} steps`);
  return evaluate.apply(this, args);
};
const set = Environment.prototype.set;
Environment.prototype.set = function (this: Environment, name: string, value: unknown) {
  return set.call(this, name, name === "range" && budgeted() ? boundedRange : value);
};

function tooLong(what: string) {
  return createError("INVALID_ARGUMENT", `the chat template takes ${what} to render (it loops or builds something huge): pass another template`);
}

/** Jinja's range(), refusing more than MAX_RANGE items before making them. */
function boundedRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error("range() step must not be zero");
  const count = Math.max(0, Math.ceil((stop - start) / step));
  if (!(count <= MAX_RANGE)) throw tooLong(`a range of ${count} items`);
  return Array.from({ length: count }, (_, i) => start + i * step);
}

export function renderWithBudget(template: Template, variables: Record<string, unknown>): string {
  stepsLeft = MAX_STEPS;
  try {
    return template.render(variables);
  } finally {
    stepsLeft = Number.POSITIVE_INFINITY;
  }
}
