import { describe, expect, test } from "vitest";
import { extractChoice, extractNumber, normalise, scoreAnswer, scorerFor, yesNo } from "../../lib/eval/score.js";

const choices = { A: "red circle", B: "blue square", C: "green triangle", D: "circle" };

describe("scorerFor", () => {
  test("by the kind of answer", () => {
    expect(scorerFor({ choices: { A: "x", B: "y" }, answer: "A" })).toBe("choice");
    expect(scorerFor({ answer: "Yes" })).toBe("yes-no");
    expect(scorerFor({ answer: "no." })).toBe("yes-no");
    expect(scorerFor({ answer: "3" })).toBe("number");
    expect(scorerFor({ answer: "1,250.5" })).toBe("number");
    expect(scorerFor({ answer: "45%" })).toBe("number");
    expect(scorerFor({ answer: "seven" })).toBe("number");
    expect(scorerFor({ answer: "no smoking sign" })).toBe("exact");
  });
});

describe("extractChoice", () => {
  test.each([
    ["B", "B"],
    ["(B)", "B"],
    ["B.", "B"],
    ["[C]", "C"],
    ["**D**", "D"],
    ["The answer is B.", "B"],
    ["Answer: (C) green triangle", "C"],
    ["The correct option is D", "D"],
    ["I first thought A, but the answer is C.", "C"],
    ["B. blue square", "B"],
    ["C) green triangle", "C"],
    ["Looking again, (A) fits best.", "A"],
    ["It is the blue square.", "B"],
    ["a green triangle", "C"],
    // "circle" is D's text and part of A's: the longer, containing match wins.
    ["The red circle.", "A"],
    ["circle", "D"],
  ])("%j → %s", (prediction, letter) => {
    expect(extractChoice(prediction, choices)).toBe(letter);
  });

  test.each([
    ["", null],
    ["E", null],
    ["I cannot tell.", null],
    ["A red shape", null],
    ["blue square or green triangle", null],
    ["(A) or (B)", null],
  ])("%j picks nothing", (prediction, letter) => {
    expect(extractChoice(prediction, choices)).toBe(letter);
  });
});

describe("yes/no, numbers, exact", () => {
  test("yes/no", () => {
    expect(yesNo("Yes, it is.")).toBe("yes");
    expect(yesNo("No.")).toBe("no");
    expect(yesNo("The answer is no")).toBe("no");
    expect(yesNo("yes and no")).toBe("yes");
    expect(yesNo("Maybe")).toBeNull();
    expect(yesNo("I would say yes or no")).toBeNull();
  });

  test("numbers: after 'answer is', else the last one; digits, separators and words", () => {
    expect(extractNumber("There are 3 circles.")).toBe(3);
    expect(extractNumber("Of the 5 shapes, 2 are red.")).toBe(2);
    expect(extractNumber("The answer is 4, since 2 + 2.")).toBe(4);
    expect(extractNumber("about 1,250.5 units")).toBe(1250.5);
    expect(extractNumber("It fell by -3.5%")).toBe(-3.5);
    expect(extractNumber("There are seven dots")).toBe(7);
    expect(extractNumber("none that I can see")).toBeNull();
  });

  test("scores say which scorer decided and what it read", () => {
    expect(scoreAnswer({ choices, answer: "B" }, "The answer is (B).")).toEqual({ scorer: "choice", extracted: "B", correct: true });
    expect(scoreAnswer({ choices, answer: "B" }, "green triangle")).toEqual({ scorer: "choice", extracted: "C", correct: false });
    expect(scoreAnswer({ answer: "Yes" }, "yes.")).toEqual({ scorer: "yes-no", extracted: "yes", correct: true });
    expect(scoreAnswer({ answer: "No" }, "Unclear")).toEqual({ scorer: "yes-no", extracted: null, correct: false });
    expect(scoreAnswer({ answer: "3" }, "There are three circles.")).toEqual({ scorer: "number", extracted: "3", correct: true });
    expect(scoreAnswer({ answer: "100" }, "about 100.9")).toMatchObject({ correct: true });
    expect(scoreAnswer({ answer: "100" }, "about 101.5")).toMatchObject({ correct: false });
    expect(scoreAnswer({ answer: "100" }, "about 101.5", { tolerance: 0.02 })).toMatchObject({ correct: true });
    expect(scoreAnswer({ answer: "3" }, "3.5")).toMatchObject({ correct: false });
    expect(scoreAnswer({ answer: "A red circle" }, "red circle.")).toEqual({ scorer: "exact", extracted: "red circle", correct: true });
    expect(scoreAnswer({ answer: "red circle" }, "The answer is: a red circle.")).toMatchObject({ correct: true });
    expect(scoreAnswer({ answer: "red circle" }, "a red circle and a square")).toMatchObject({ correct: false });
    expect(scoreAnswer({ answer: "stop" }, "")).toEqual({ scorer: "exact", extracted: null, correct: false });
  });

  test("normalise", () => {
    expect(normalise("  The Red-Circle, an apple!  ")).toBe("red circle apple");
  });
});
