import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { readJsonlItems } from "../../lib/eval/jsonl-items.js";
import { encodePng } from "../../lib/png.js";
import { png } from "./datasets.js";

const lines = (...rows: unknown[]) => rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n");

describe("readJsonlItems", () => {
  test("images as a relative path, base64 or a data URL; choices as a list or by letter; answers as letter or text", () => {
    const base64 = png(4).toString("base64");
    const { items, problems } = readJsonlItems(
      lines(
        { id: "a", image: "img/a.png", question: "Colour?", choices: ["red", "blue"], answer: "B", category: "colour" },
        { id: 2, image: base64, question: "Count?", answer: 3 },
        { id: "c", image: `data:image/png;base64,${base64}`, question: "Which?", choices: { A: "cat", B: "dog" }, answer: "dog", hint: "pets" },
        { id: "d", image: "/abs/d.png", question: "Open?", answer: true },
        "",
      ),
      "/data/set",
    );
    expect(problems).toEqual([]);
    expect(items[0]).toEqual({ id: "a", question: "Colour?", image: join("/data/set", "img/a.png"), choices: { A: "red", B: "blue" }, answer: "B", category: "colour" });
    expect(items[1]).toEqual({ id: "2", question: "Count?", image: Buffer.from(base64, "base64"), answer: "3" });
    expect(Buffer.from(items[2]!.image as Uint8Array)).toEqual(png(4));
    expect(items[2]).toMatchObject({ answer: "B", hint: "pets" });
    expect(items[3]).toMatchObject({ image: "/abs/d.png", answer: "true" });
  });

  test("base64 of a small image is bytes however short; a path that happens to be valid base64 stays a path", () => {
    const tiny = encodePng(1, 1, new Uint8Array([200, 10, 10])).toString("base64");
    expect(tiny.length).toBeLessThan(256);
    const { items, problems } = readJsonlItems(
      lines({ id: "t", image: tiny, question: "Colour?", answer: "red" }, { id: "p", image: "cat1", question: "Colour?", answer: "red" }),
      "/data/set",
    );
    expect(problems).toEqual([]);
    expect(Buffer.from(items[0]!.image as Uint8Array)).toEqual(Buffer.from(tiny, "base64"));
    expect(items[1]!.image).toBe(join("/data/set", "cat1"));
  });

  test("malformed lines are reported with their number and skipped", () => {
    const { items, problems } = readJsonlItems(
      lines(
        "{not json",
        [1, 2],
        { question: "no id", answer: "x" },
        { id: "e", question: "   ", answer: "x" },
        { id: "f", question: "q" },
        { id: "g", question: "q", answer: "C", choices: ["x", "y"] },
        { id: "h", question: "q", answer: "A", choices: ["only one"] },
        { id: "i", question: "q", answer: "x", image: 42 },
        { id: "ok", question: "q", answer: "x" },
        { id: "ok", question: "again", answer: "y" },
      ),
      "/",
    );
    expect(items.map((i) => i.id)).toEqual(["ok"]);
    expect(problems.map((p) => p.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 10]);
    expect(problems[0]!.message).toMatch(/^is not JSON/);
    expect(problems[2]!.message).toContain('"id"');
    expect(problems[4]).toMatchObject({ id: "f", message: 'has no "answer" (a string or a number)' });
    expect(problems[5]!.message).toContain("neither a letter of the choices (A, B)");
    expect(problems[8]!.message).toBe("repeats id ok");
  });
});
