import { expect, test } from "vitest";
import { lockAll, Mutex } from "../lib/mutex.js";

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

test("lockAll takes locks in key order, so opposite orders do not deadlock", async () => {
  const a = { key: 1, mutex: new Mutex() };
  const b = { key: 2, mutex: new Mutex() };
  const holding = async (locks: typeof a[], name: string) => {
    const release = await lockAll(locks);
    await tick();
    release();
    return name;
  };
  expect(await Promise.all([holding([a, b], "ab"), holding([b, a], "ba")])).toEqual(["ab", "ba"]);
  // released: both can be taken again
  (await lockAll([a, b]))();
});
