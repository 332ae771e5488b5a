import { describe, expect, test } from "vitest";
import { parseTsv, tsvField } from "../../lib/eval/tsv-fields.js";
import { readVlmevalTsv } from "../../lib/eval/vlmeval-tsv.js";
import { benchmarkRows, png, vlmevalTsv } from "./datasets.js";

describe("TSV fields", () => {
  test("quoted fields keep tabs, newlines and quotes; rows keep the line they start on", () => {
    const values = [["a", "b\tc", 'say "hi"'], ["multi\nline", "", "x"], ["plain", "y", "z"]];
    const text = values.map((r) => r.map(tsvField).join("\t")).join("\r\n") + "\n";
    const rows = parseTsv(text);
    expect(rows.map((r) => r.fields)).toEqual(values);
    expect(rows.map((r) => r.line)).toEqual([1, 2, 4]);
  });
});

describe("readVlmevalTsv", () => {
  test("reads every kind of row: options, hint, category, an image shared by index", () => {
    const { items, problems } = readVlmevalTsv(vlmevalTsv(benchmarkRows()));
    expect(problems).toEqual([]);
    expect(items.map((i) => i.id)).toEqual(["0", "1", "2", "3", "4", "5", "6", "7"]);
    expect(items[0]!.choices).toEqual({ A: "red", B: "green", C: "blue" });
    expect(items[1]!.hint).toBe("Look at the left half.");
    expect(items[2]!.choices).toBeUndefined();
    // Row 2 names row 1's index as its image, as MMBench does.
    expect(Buffer.from(items[2]!.image as Uint8Array)).toEqual(png(2));
    expect(Buffer.from(items[0]!.image as Uint8Array)).toEqual(png(1));
    expect(items[7]!.question).toBe("What colour is the\tbar?\nAnswer briefly.");
    expect(items[7]!.choices).toEqual({ A: "yellow", B: '"purple"' });
    expect(items[4]).toMatchObject({ answer: "3", category: "count" });
  });

  test("malformed rows are reported with their line and skipped; the others are read", () => {
    const rows = benchmarkRows().slice(0, 3);
    let text = vlmevalTsv([
      ...rows,
      { index: "", question: "no index", answer: "A" },
      { index: "9", question: "", answer: "A" },
      { index: "10", question: "no answer", answer: "" },
      { index: "11", question: "bad letter", options: ["x", "y"], answer: "C" },
      { index: "12", image: "not base64 !!!", question: "q", answer: "yes" },
      { index: "0", question: "repeated", answer: "yes" },
      { index: "13", question: "answer is an option's text", options: ["cat", "dog"], answer: "dog" },
    ]);
    text += "14\tshort row\n";
    const { items, problems } = readVlmevalTsv(text);
    expect(items.map((i) => i.id)).toEqual(["0", "1", "2", "13"]);
    expect(items.at(-1)!.answer).toBe("B");
    expect(problems.map((p) => [p.line, p.message])).toEqual([
      [5, "has no index"],
      [6, "has no question"],
      [7, "has no answer"],
      [8, 'answer "C" is none of the options A, B'],
      [9, 'image "not base64 !!!" is neither base64 nor the index of a row with an image'],
      [10, "repeats index 0"],
      [12, "has 2 fields where the header has 10"],
    ]);
    expect(problems[0]!.id).toBeUndefined();
    expect(problems[1]!.id).toBe("9");
  });

  test("a file that is not a benchmark TSV says which column is missing", () => {
    expect(readVlmevalTsv("").problems[0]!.message).toContain("empty");
    const { items, problems } = readVlmevalTsv("id\tquestion\tanswer\n1\tq\ta\n");
    expect(items).toEqual([]);
    expect(problems[0]!.message).toContain('no "index" column');
  });
});
