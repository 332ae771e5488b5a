import { expect, test } from "vitest";
import { TokenTextDecoder } from "../lib/token-text.js";

test("holds back a character split across token pieces", () => {
  const bytes = Buffer.from("a€b", "utf8"); // € is 3 bytes
  const d = new TokenTextDecoder();
  expect(d.push(bytes.subarray(0, 2))).toBe("a");
  expect(d.push(bytes.subarray(2, 3))).toBe("");
  expect(d.push(bytes.subarray(3))).toBe("€b");
  expect(d.text).toBe("a€b");
});

test("an unfinished character is flushed as U+FFFD at the end", () => {
  const d = new TokenTextDecoder();
  d.push(Buffer.from([0xe2, 0x82]));
  expect(d.end()).toBe("\uFFFD");
});
