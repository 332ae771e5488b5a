import { describe, expect, test } from "vitest";
import { createError } from "../../lib/errors.js";
import { holdRpcServers } from "../../lib/rpc/connections.js";

describe("holdRpcServers", () => {
  test("probes a server once while it is held; again once it is let go", async () => {
    const probed: string[] = [];
    const probe = async (endpoint: string) => void probed.push(endpoint);
    const first = await holdRpcServers(["h:1", "h:2"], probe);
    const second = await holdRpcServers(["h:2", "h:3"], probe);
    expect(probed).toEqual(["h:1", "h:2", "h:3"]);
    first();
    first(); // letting go twice counts once
    await (await holdRpcServers(["h:2"], probe))();
    expect(probed).toEqual(["h:1", "h:2", "h:3"]);
    second();
    (await holdRpcServers(["h:1", "h:2", "h:3"], probe))();
    expect(probed).toEqual(["h:1", "h:2", "h:3", "h:1", "h:2", "h:3"]);
  });

  test("a failed probe fails every load waiting on it, holds nothing, and is retried next time", async () => {
    let calls = 0;
    let fail = true;
    const probe = async (endpoint: string) => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 10));
      if (fail && endpoint === "bad:1") throw createError("RPC_UNREACHABLE", "down");
    };
    const a = holdRpcServers(["ok:1", "bad:1"], probe);
    const b = holdRpcServers(["bad:1"], probe);
    await expect(a).rejects.toMatchObject({ code: "RPC_UNREACHABLE" });
    await expect(b).rejects.toMatchObject({ code: "RPC_UNREACHABLE" });
    expect(calls).toBe(2);
    fail = false;
    const release = await holdRpcServers(["ok:1", "bad:1"], probe);
    expect(calls).toBe(4); // both probed afresh: nothing stayed held
    release();
  });
});
