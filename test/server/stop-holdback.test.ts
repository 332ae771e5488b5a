import { describe, expect, test } from "vitest";
import { StopHoldback } from "../../lib/server/stop-holdback.js";

describe("StopHoldback", () => {
  test("sends text at once when no stop string could be starting", () => {
    const h = new StopHoldback(["STOP"]);
    expect(h.push("hello ")).toBe("hello ");
    expect(h.push("world")).toBe("world");
    expect(h.finish("hello world")).toBe("");
  });

  test("holds back a possible start of a stop string until it is not one", () => {
    const h = new StopHoldback(["STOP"]);
    expect(h.push("a S")).toBe("a ");
    expect(h.push("T")).toBe("");
    expect(h.push("x")).toBe("STx");
  });

  test("never sends any of a stop string, even when it arrives inside one piece", () => {
    const h = new StopHoldback(["STOP", "\n\n"]);
    expect(h.push("one ST")).toBe("one ");
    expect(h.push("OP two")).toBe("");
    expect(h.finish("one ")).toBe("");
    const g = new StopHoldback(["\n\n"]);
    expect(g.push("a\n\nb")).toBe("a");
  });

  test("finish sends what was held back when generation ended for another reason", () => {
    const h = new StopHoldback(["STOP"]);
    expect(h.push("abc S")).toBe("abc ");
    expect(h.finish("abc S")).toBe("S");
  });
});
