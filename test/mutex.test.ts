import { expect, test } from "vitest";
import { Mutex, runLocked } from "../lib/mutex.js";

const tick = () => new Promise((r) => setTimeout(r, 1));

test("runs holders one at a time, in order", async () => {
  const m = new Mutex();
  const log: string[] = [];
  await Promise.all(
    ["a", "b", "c"].map((name) =>
      m.run(async () => {
        log.push(`${name}+`);
        await tick();
        log.push(`${name}-`);
      }),
    ),
  );
  expect(log).toEqual(["a+", "a-", "b+", "b-", "c+", "c-"]);
});

test("a failing holder releases the lock", async () => {
  const m = new Mutex();
  await expect(m.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
  await expect(m.run(() => 5)).resolves.toBe(5);
});

test("runLocked takes locks in key order, so opposite orders do not deadlock", async () => {
  const a = { key: 1, mutex: new Mutex() };
  const b = { key: 2, mutex: new Mutex() };
  const results = await Promise.all([
    runLocked([a, b], async () => (await tick(), "ab")),
    runLocked([b, a], async () => (await tick(), "ba")),
  ]);
  expect(results).toEqual(["ab", "ba"]);
});
