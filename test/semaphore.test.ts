import { expect, test } from "vitest";
import { AbortError } from "../lib/errors.js";
import { Semaphore } from "../lib/semaphore.js";

test("grants in arrival order as units free up", async () => {
  const s = new Semaphore(3);
  const order: string[] = [];
  const a = await s.acquire(2);
  const b = s.acquire(2).then((release) => (order.push("b"), release));
  const c = s.acquire(1).then((release) => (order.push("c"), release));
  await new Promise((r) => setTimeout(r, 5));
  expect(order).toEqual([]); // c waits behind b: first come, first served
  a();
  (await b)();
  (await c)();
  expect(order).toEqual(["b", "c"]);
  expect(s.available).toBe(3);
});

test("an aborted wait rejects and gives nothing away", async () => {
  const s = new Semaphore(1);
  const held = await s.acquire(1);
  const controller = new AbortController();
  const waiting = s.acquire(1, controller.signal);
  controller.abort();
  await expect(waiting).rejects.toBeInstanceOf(AbortError);
  held();
  expect(s.available).toBe(1);
});
