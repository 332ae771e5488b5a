import { describe, expect, test } from "vitest";
import { StopDetector } from "../lib/stop-detector.js";

describe("StopDetector", () => {
  test("finds a stop string split across chunks", () => {
    const d = new StopDetector(["</SUMMARY>"]);
    expect(d.push("The question asks for a count </SUM")).toBeNull();
    expect(d.push("MARY>\n\n<CAP")).toEqual({ stop: "</SUMMARY>", index: 30 });
  });

  test("reports the earliest of several stop strings", () => {
    const d = new StopDetector(["world", "lo w"]);
    expect(d.push("hello world")).toEqual({ stop: "lo w", index: 3 });
  });

  test("ignores empty stop strings and works with none", () => {
    expect(new StopDetector([""]).push("anything")).toBeNull();
    expect(new StopDetector([]).push("anything")).toBeNull();
  });

  test("does not re-report text it has already scanned past", () => {
    const d = new StopDetector(["ab"]);
    expect(d.push("xa")).toBeNull();
    expect(d.push("b")).toEqual({ stop: "ab", index: 1 });
  });
});
