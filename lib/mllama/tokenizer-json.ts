// A Hugging Face tokenizer.json (+ tokenizer_config.json) → the GGUF vocabulary llama.cpp loads as a
// "gpt2"/"llama-bpe" tokenizer, as llama.cpp's convert_hf_to_gguf.py writes it (get_vocab_base): tokens by
// id with added tokens included and holes as [PAD<id>] (UNUSED); added special tokens CONTROL, other added
// tokens USER_DEFINED, the rest NORMAL; merges as "a b". Only Llama 3's BPE is accepted: its pre-tokenizer
// regex is checked, because llama.cpp applies "llama-bpe" by name, not from the file.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createError, type StagebeamError } from "../errors.js";
import type { GgufValue } from "../gguf/types.js";
import { gguf } from "../gguf/writer.js";

/** llama.cpp's llama_token_type (gguf-py TokenType). */
export enum TokenType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

export interface GgufVocabulary {
  /** Token text by id. */
  tokens: string[];
  tokenTypes: TokenType[];
  /** BPE merges, "left right". */
  merges: string[];
  bosId: number;
  eosId: number;
  padId?: number;
}

/** Llama 3's Split regex as tokenizer.json carries it, and the case-expanded form llama.cpp uses. */
export const LLAMA3_PRETOKENIZER_PATTERNS = [
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

function bad(message: string, cause?: unknown): StagebeamError {
  return createError("INVALID_CHECKPOINT", message, cause);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw bad(`${path} is not readable JSON (${(error as Error).message})`, error);
  }
}

interface PreTokenizer {
  type?: string;
  pretokenizers?: PreTokenizer[];
  pattern?: { Regex?: string; String?: string };
}

/** The pre-tokenizer steps, flattening a Sequence. */
function steps(p: PreTokenizer | null | undefined): PreTokenizer[] {
  if (!p) return [];
  return p.type === "Sequence" ? (p.pretokenizers ?? []).flatMap(steps) : [p];
}

function checkLlama3PreTokenizer(path: string, pre: PreTokenizer | null | undefined): void {
  const all = steps(pre);
  const split = all.find((s) => s.type === "Split");
  const regex = split?.pattern?.Regex;
  const byteLevel = all.some((s) => s.type === "ByteLevel");
  if (!regex || !byteLevel || !LLAMA3_PRETOKENIZER_PATTERNS.includes(regex)) {
    throw createError(
      "UNSUPPORTED_ARCHITECTURE",
      `${path}: the pre-tokenizer is not Llama 3's (a Split on Llama 3's regex followed by ByteLevel), so llama.cpp's "llama-bpe" would tokenize differently; only Llama 3 tokenizers can be converted`,
    );
  }
}

/** A special token given as "text" or {content: "text"} in tokenizer_config.json. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && typeof (value as { content?: unknown }).content === "string") return (value as { content: string }).content;
  return undefined;
}

export interface TokenizerFallbacks {
  /** config.json's ids, used when tokenizer_config.json does not name a token (never class defaults). */
  bosTokenId?: number;
  eosTokenId?: number | number[];
  padTokenId?: number;
}

/** Reads `dir`/tokenizer.json and tokenizer_config.json into a GGUF vocabulary. */
export function readTokenizerVocabulary(dir: string, fallbacks: TokenizerFallbacks = {}): GgufVocabulary {
  const path = join(dir, "tokenizer.json");
  if (!existsSync(path)) throw bad(`${dir} has no tokenizer.json: copy it from the model's repository`);
  const json = readJson(path) as {
    model?: { type?: string; vocab?: Record<string, number>; merges?: unknown[] };
    added_tokens?: { id: number; content: string; special?: boolean }[];
    pre_tokenizer?: PreTokenizer | null;
  };
  const model = json.model;
  if (model?.type !== "BPE") throw createError("UNSUPPORTED_ARCHITECTURE", `${path}: the tokenizer model is ${model?.type ?? "missing"}, not BPE; only Llama 3 (BPE) tokenizers can be converted`);
  if (typeof model.vocab !== "object" || model.vocab === null) throw bad(`${path} has no model.vocab`);
  if (!Array.isArray(model.merges)) throw bad(`${path} has no model.merges`);
  checkLlama3PreTokenizer(path, json.pre_tokenizer);

  const byId = new Map<number, { text: string; type: TokenType }>();
  for (const [text, id] of Object.entries(model.vocab)) {
    if (!Number.isSafeInteger(id) || id < 0) throw bad(`${path}: token ${JSON.stringify(text)} has an invalid id ${id}`);
    byId.set(id, { text, type: TokenType.NORMAL });
  }
  for (const added of json.added_tokens ?? []) {
    if (!Number.isSafeInteger(added.id) || added.id < 0 || typeof added.content !== "string") throw bad(`${path}: an added token is malformed (${JSON.stringify(added)})`);
    // An added token takes its id over, as the tokenizer does.
    byId.set(added.id, { text: added.content, type: added.special ? TokenType.CONTROL : TokenType.USER_DEFINED });
  }
  let size = 0;
  for (const id of byId.keys()) size = Math.max(size, id + 1);
  const tokens: string[] = new Array(size);
  const tokenTypes: TokenType[] = new Array(size);
  const idOf = new Map<string, number>();
  for (let id = 0; id < size; id++) {
    const t = byId.get(id);
    tokens[id] = t ? t.text : `[PAD${id}]`;
    tokenTypes[id] = t ? t.type : TokenType.UNUSED;
    if (t && !idOf.has(t.text)) idOf.set(t.text, id);
  }

  const merges = model.merges.map((m, i) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && m.every((p) => typeof p === "string")) return `${m[0]} ${m[1]}`;
    throw bad(`${path}: merge ${i} is neither "a b" nor ["a", "b"] (${JSON.stringify(m)})`);
  });

  const configPath = join(dir, "tokenizer_config.json");
  const config = existsSync(configPath) ? (readJson(configPath) as Record<string, unknown>) : {};
  const special = (key: "bos_token" | "eos_token" | "pad_token", fallback: number | number[] | undefined, required: boolean): number | undefined => {
    const text = tokenText(config[key]);
    if (text !== undefined) {
      const id = idOf.get(text);
      if (id === undefined) throw bad(`${configPath}: ${key} ${JSON.stringify(text)} is not a token of ${path}`);
      return id;
    }
    const id = Array.isArray(fallback) ? fallback[0] : fallback;
    if (id !== undefined) {
      if (!Number.isSafeInteger(id) || id < 0 || id >= size) throw bad(`config.json's ${key}_id ${id} is outside the vocabulary (${size} tokens)`);
      return id;
    }
    if (required) throw bad(`neither tokenizer_config.json nor config.json names the ${key.replace("_token", "")} token: add "${key}" to tokenizer_config.json`);
    return undefined;
  };
  const bosId = special("bos_token", fallbacks.bosTokenId, true)!;
  const eosId = special("eos_token", fallbacks.eosTokenId, true)!;
  const padId = special("pad_token", fallbacks.padTokenId, false);
  return { tokens, tokenTypes, merges, bosId, eosId, ...(padId === undefined ? {} : { padId }) };
}

/** The tokenizer.ggml.* keys of a Llama 3 vocabulary. */
export function vocabularyKv(vocab: GgufVocabulary): [string, GgufValue][] {
  return [
    ["tokenizer.ggml.model", gguf.str("gpt2")],
    ["tokenizer.ggml.pre", gguf.str("llama-bpe")],
    ["tokenizer.ggml.tokens", gguf.strs(vocab.tokens)],
    ["tokenizer.ggml.token_type", gguf.i32s(vocab.tokenTypes)],
    ["tokenizer.ggml.merges", gguf.strs(vocab.merges)],
    ["tokenizer.ggml.bos_token_id", gguf.u32(vocab.bosId)],
    ["tokenizer.ggml.eos_token_id", gguf.u32(vocab.eosId)],
    ...(vocab.padId === undefined ? [] : ([["tokenizer.ggml.padding_token_id", gguf.u32(vocab.padId)]] as [string, GgufValue][])),
    // Llama 3 adds <|begin_of_text|> through its post-processor; llama.cpp needs it said.
    ["tokenizer.ggml.add_bos_token", gguf.bool(true)],
  ];
}
