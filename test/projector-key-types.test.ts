// The table of projector key types (lib/projector-key-types.ts) is libmtmd's own: every key its clip
// loader reads with a scalar getter, at the pinned llama.cpp, with that getter's type. Read from the
// source itself, so that a pin bump which adds or retypes a key fails here instead of reopening an abort.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { GgufType } from "../lib/gguf/types.js";
import { PROJECTOR_KEY_TYPES, projectorKeyTypes } from "../lib/projector-key-types.js";
import { llamaCppDir } from "./fixtures/models.js";

const mtmd = join(llamaCppDir, "tools", "mtmd");
const getterTypes: Record<string, GgufType> = {
  get_u32: GgufType.UINT32,
  get_i32: GgufType.INT32,
  get_f32: GgufType.FLOAT32,
  get_bool: GgufType.BOOL,
  get_string: GgufType.STRING,
};

test("every key libmtmd's clip loader reads with a scalar getter is in the table, with the getter's type", () => {
  const names = new Map<string, string>();
  for (const m of readFileSync(join(mtmd, "clip-impl.h"), "utf8").matchAll(/#define\s+(KEY_\w+)\s+"([^"]+)"/g)) names.set(m[1]!, m[2]!);
  const read = new Map<string, GgufType>();
  for (const m of readFileSync(join(mtmd, "clip.cpp"), "utf8").matchAll(/\b(get_u32|get_i32|get_f32|get_bool|get_string)\(\s*(?:string_format\(\s*)?(KEY_\w+)/g)) {
    const name = names.get(m[2]!);
    expect(name, `${m[2]} is not defined in clip-impl.h`).toBeDefined();
    read.set(name!, getterTypes[m[1]!]!);
  }
  // the parse found the getters (a renamed helper would otherwise make this test pass on nothing)
  expect(read.size).toBeGreaterThan(40);
  expect(Object.fromEntries(read)).toEqual(PROJECTOR_KEY_TYPES);
});

test("keys with a modality prefix expand to every prefix clip.cpp formats in", () => {
  const source = readFileSync(join(mtmd, "clip.cpp"), "utf8");
  for (const prefix of ["vision", "audio", "gen.audio"]) expect(source).toContain(`"${prefix}"`);
  const types = projectorKeyTypes();
  expect(types.get("clip.vision.embedding_length")).toBe(GgufType.UINT32);
  expect(types.get("clip.gen.audio.attention.layer_norm_epsilon")).toBe(GgufType.FLOAT32);
  expect([...types.keys()].some((k) => k.includes("%s"))).toBe(false);
});
