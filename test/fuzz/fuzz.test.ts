// The fuzz harness's smoke run (the full run is `npm run fuzz`): a few hundred seeded cases of every
// class, each in a worker process, must all end in success or a typed StagebeamError — no untyped error,
// broken invariant, crash or hang. A failure names the command that runs its case again.
import { describe, expect, test } from "vitest";
// @ts-expect-error the harness is plain JavaScript (it runs outside vitest as `npm run fuzz`)
import { CLASS_NAMES, runFuzz } from "./fuzz.mjs";

const seed = Number(process.env.STAGEBEAM_FUZZ_SEED ?? 7);

interface Failure {
  cls: string;
  index: number;
  outcome: { status: string; code: string; message: string };
  repro: string;
}

describe("fuzz smoke run", () => {
  test(`seed ${seed}: every case ends in success or a typed error`, { timeout: 240_000 }, async () => {
    const perClass = { gguf: 80, image: 80, text: 80, options: 80, cli: 30 };
    // 60 s a case: a 1 MB question on a busy 2-core machine can take 20 s; a hang still ends the case.
    const summary = await runFuzz({ seed, perClass, workers: 2, timeoutMs: 60_000 });
    expect(Object.keys(summary.classes)).toEqual(CLASS_NAMES);
    for (const [cls, row] of Object.entries(summary.classes) as [keyof typeof perClass, { cases: number }][]) expect(row.cases).toBe(perClass[cls]);
    const failures = (summary.failures as Failure[]).map((f) => `${f.cls} #${f.index} ${f.outcome.status} ${f.outcome.code}: ${f.outcome.message}\n    ${f.repro}`);
    expect(failures).toEqual([]);
  });
});
