// Exiting with native objects alive, or in the middle of a decode, must not crash the process: the
// llama.cpp objects are reference-counted, so teardown order cannot free a model under a running decode.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { fixturesDir, repoRoot, tinyLlama } from "./fixtures/models.js";

const script = (name: string, body: string) => {
  const path = join(fixturesDir, `exit-${name}.mjs`);
  writeFileSync(
    path,
    `import { loadModel } from ${JSON.stringify(join(repoRoot, "dist", "index.js"))};
const model = await loadModel({ path: ${JSON.stringify(tinyLlama())} });
const context = await model.createContext({ contextSize: 2048, sequences: 4, threads: 1 });
const sequence = context.createSequence();
await sequence.evaluate("hello there");
await context.generate([sequence], { maxTokens: 4 }).result();
${body}
console.log("done");`,
  );
  return path;
};

test("exiting without disposing anything", () => {
  expect(execFileSync(process.execPath, [script("idle", "")], { encoding: "utf8" })).toBe("done\n");
});

test("process.exit() while a decode runs on a worker thread", () => {
  const path = script("in-flight", `sequence.evaluate(model.tokenize("word ".repeat(1500)));
setTimeout(() => { console.log("done"); process.exit(0); }, 2);`);
  for (let i = 0; i < 3; i++) {
    expect(execFileSync(process.execPath, [path], { encoding: "utf8" })).toContain("done");
  }
});

test("a garbage-collected context and model while generating elsewhere", () => {
  const path = script("collected", `{
  let spare = await model.createContext({ contextSize: 256, sequences: 1, threads: 1 });
  spare = null;
}
for (let i = 0; i < 3; i++) { globalThis.gc?.(); await new Promise((r) => setTimeout(r, 5)); }
await context.generate([sequence], { maxTokens: 4 }).result();`);
  expect(execFileSync(process.execPath, ["--expose-gc", path], { encoding: "utf8" })).toBe("done\n");
});
