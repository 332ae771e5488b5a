// Which file hf:OWNER/REPO:QUANT names, and which projector goes with it, from file names alone.
import { expect, test } from "vitest";
import { hasQuant, pickModelFile, pickProjectorFile, precisionOf } from "../../lib/hub/gguf-choice.js";

const repo = [
  "README.md",
  ".gitattributes",
  "gemma-3-4b-it-Q8_0.gguf",
  "gemma-3-4b-it-Q4_K_M.gguf",
  "gemma-3-4b-it-Q4_K_S.gguf",
  "gemma-3-4b-it-IQ4_XS.gguf",
  "gemma-3-4b-it-BF16.gguf",
  "mmproj-gemma-3-4b-it-f16.gguf",
  "mmproj-gemma-3-4b-it-bf16.gguf",
  "mmproj-gemma-3-4b-it-Q8_0.gguf",
  "imatrix.gguf",
];

test("a quantization matches as a whole word of the name, case-insensitively", () => {
  expect(hasQuant("model-Q4_K_M.gguf", "q4_k_m")).toBe(true);
  expect(hasQuant("model.q4_k_m.gguf", "Q4_K_M")).toBe(true);
  expect(hasQuant("Q4_K_M/model-00001-of-00002.gguf", "Q4_K_M")).toBe(true);
  expect(hasQuant("ggml-model-q4_k.gguf", "Q4_K")).toBe(true);
  expect(hasQuant("model-Q4_K_M.gguf", "Q4_K")).toBe(false);
  expect(hasQuant("model-Q4_K_S.gguf", "Q4_K_M")).toBe(false);
  expect(hasQuant("model-IQ4_XS.gguf", "Q4_XS")).toBe(false);
  expect(hasQuant("mmproj-model-bf16.gguf", "F16")).toBe(false);
  expect(precisionOf("gemma-3-4b-it-Q4_K_M.gguf")).toBe("Q4_K_M");
  expect(precisionOf("model.BF16.gguf")).toBe("BF16");
  expect(precisionOf("model.gguf")).toBeNull();
});

test("hf:OWNER/REPO:QUANT picks that quantization; no quantization picks Q4_K_M, else the first GGUF", () => {
  expect(pickModelFile(repo, "Q8_0", "r")).toBe("gemma-3-4b-it-Q8_0.gguf");
  expect(pickModelFile(repo, "iq4_xs", "r")).toBe("gemma-3-4b-it-IQ4_XS.gguf");
  expect(pickModelFile(repo, null, "r")).toBe("gemma-3-4b-it-Q4_K_M.gguf");
  expect(pickModelFile(["b-Q8_0.gguf", "a-F16.gguf", "mmproj-a.gguf"], null, "r")).toBe("a-F16.gguf");
  expect(pickModelFile(["sub/x-Q4_K_M.gguf"], "Q4_K_M", "r")).toBe("sub/x-Q4_K_M.gguf");
});

test("no such quantization, no GGUF, or split files are errors that say what there is and what to do", () => {
  expect(() => pickModelFile(repo, "Q5_K_S", "hf:o/r:Q5_K_S")).toThrow(expect.objectContaining({ code: "MODEL_NOT_FOUND", message: expect.stringContaining("gemma-3-4b-it-Q8_0.gguf") }));
  expect(() => pickModelFile(["README.md", "mmproj-f16.gguf"], null, "hf:o/r")).toThrow(expect.objectContaining({ code: "MODEL_NOT_FOUND", message: expect.stringContaining("only projectors") }));
  const split = ["Q4_K_M/model-Q4_K_M-00001-of-00002.gguf", "Q4_K_M/model-Q4_K_M-00002-of-00002.gguf", "model-Q8_0.gguf"];
  expect(() => pickModelFile(split, "Q4_K_M", "hf:o/r:Q4_K_M")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringContaining("split into 2 files") }));
  expect(pickModelFile(split, "Q8_0", "r")).toBe("model-Q8_0.gguf");
});

test("the projector carries the model's precision when the repository has one, else F16, else the first", () => {
  expect(pickProjectorFile(repo, "gemma-3-4b-it-Q8_0.gguf")).toBe("mmproj-gemma-3-4b-it-Q8_0.gguf");
  expect(pickProjectorFile(repo, "gemma-3-4b-it-BF16.gguf")).toBe("mmproj-gemma-3-4b-it-bf16.gguf");
  expect(pickProjectorFile(repo, "gemma-3-4b-it-Q4_K_M.gguf")).toBe("mmproj-gemma-3-4b-it-f16.gguf");
  expect(pickProjectorFile(["mmproj-b-q8_0.gguf", "mmproj-a-f32.gguf"], "x-Q4_K_M.gguf")).toBe("mmproj-a-f32.gguf");
  expect(pickProjectorFile(["x-Q4_K_M.gguf", "README.md"], "x-Q4_K_M.gguf")).toBeNull();
});
