import { expect, test } from "vitest";
import { AbortError, ContextFullError, StagebeamError, toStagebeamError } from "../lib/errors.js";

test("native errors become typed errors by their code", () => {
  const native = Object.assign(new Error("no cells"), { code: "CONTEXT_FULL" });
  const error = toStagebeamError(native);
  expect(error).toBeInstanceOf(ContextFullError);
  expect(error.code).toBe("CONTEXT_FULL");
  expect(error.message).toBe("no cells");
  expect(error.cause).toBe(native);
  expect(toStagebeamError(Object.assign(new Error("x"), { code: "ABORTED" }))).toBeInstanceOf(AbortError);
});

test("unknown failures are INTERNAL, and typed errors pass through", () => {
  expect(toStagebeamError(new Error("?")).code).toBe("INTERNAL");
  expect(toStagebeamError("string").code).toBe("INTERNAL");
  const typed = new StagebeamError("DISPOSED", "gone");
  expect(toStagebeamError(typed)).toBe(typed);
});
