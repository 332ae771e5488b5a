// The absolute path of a weights file the caller names, checked to be a file before a native loader
// sees it, so a wrong path is MODEL_NOT_FOUND naming it rather than a loader's own message.
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { createError } from "./errors.js";

export async function existingFile(path: string, what: "model" | "projector"): Promise<string> {
  if (typeof path !== "string" || path.length === 0) throw createError("INVALID_ARGUMENT", `the ${what} path must be a non-empty string, got ${typeof path === "string" ? '""' : typeof path}`);
  const absolute = resolve(path);
  try {
    if (!(await stat(absolute)).isFile()) throw new Error("not a file");
  } catch {
    throw createError("MODEL_NOT_FOUND", `${what} file not found: ${absolute}`);
  }
  return absolute;
}
