// The rules by which concurrent searches share KV cells, on a stand-in engine.
import { expect, test } from "vitest";
import type { EngineContext } from "../../lib/engine/types.js";
import { createError } from "../../lib/errors.js";
import { enterRoom, restartLater, RestartSearch, withRoom } from "../../lib/reasoning/room.js";

const full = () => createError("CONTEXT_FULL", "no free KV cells");
const engine = () => ({}) as EngineContext;
const tick = () => new Promise((r) => setTimeout(r, 1));

test("alone and still full: CONTEXT_FULL, after undoing the step", async () => {
  const e = engine();
  const leave = enterRoom(e);
  let undone = 0;
  await expect(withRoom(e, async () => Promise.reject(full()), async () => void undone++)).rejects.toMatchObject({ code: "CONTEXT_FULL" });
  expect(undone).toBe(1);
  leave();
});

test("full while another search runs: wait for it to release, then run the step again", async () => {
  const e = engine();
  const leaveA = enterRoom(e);
  const leaveB = enterRoom(e);
  let attempts = 0;
  const step = withRoom(e, async () => (++attempts === 1 ? Promise.reject(full()) : "done"), async () => {});
  await tick();
  expect(attempts).toBe(1); // waiting
  leaveB(); // the other search finishes
  await expect(step).resolves.toBe("done");
  expect(attempts).toBe(2);
  leaveA();
});

test("everyone else waiting too: the one that notices restarts, and the others go on", async () => {
  const e = engine();
  const leaves = [enterRoom(e), enterRoom(e)];
  let firstTries = 0;
  const first = withRoom(e, async () => (++firstTries === 1 ? Promise.reject(full()) : "first done"), async () => {});
  await tick();
  // the second search also finds the cache full while the first waits: it must restart
  await expect(withRoom(e, async () => Promise.reject(full()), async () => {})).rejects.toBeInstanceOf(RestartSearch);
  const restart = restartLater(e); // gives its cells back: the first runs again and finishes
  await expect(first).resolves.toBe("first done");
  leaves[0]!();
  await restart; // the restarted search may start over once another search finished
  leaves[1]!();
});
