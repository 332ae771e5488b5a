// Rows answered by a running `stagebeam serve` (or any server of its API): one chat completion per row,
// the image as a data: URI, the strategy, width and judge in the request's `stagebeam` object. The
// conclusion is the message content; the other stages are parsed from reasoning_content. The server
// reports tokens only, so judge calls and image encodes are not measured (null).
import { readFile } from "node:fs/promises";
import { AbortError, createError } from "../errors.js";
import type { ForceStructure, JudgeMode } from "../reasoning/options.js";
import { parseStage, STAGES, type Stage } from "../reasoning/stages.js";
import type { Solver } from "./solver.js";

export interface RemoteSolverOptions {
  /** The server's address: http://host:port (a trailing /v1 is accepted). */
  url: string;
  apiKey?: string;
  judge: JudgeMode;
  forceStructure?: ForceStructure;
  maxStageTokens?: number;
  temperature?: number;
  topP?: number;
}

const MIME: [string, (b: Uint8Array) => boolean][] = [
  ["image/png", (b) => b[0] === 0x89 && b[1] === 0x50],
  ["image/jpeg", (b) => b[0] === 0xff && b[1] === 0xd8],
  ["image/gif", (b) => b[0] === 0x47 && b[1] === 0x49],
  ["image/bmp", (b) => b[0] === 0x42 && b[1] === 0x4d],
];

async function dataUri(image: string | Uint8Array): Promise<string> {
  let bytes: Uint8Array;
  if (typeof image === "string") {
    if (image.startsWith("data:")) return image;
    try {
      bytes = await readFile(image);
    } catch (error) {
      throw createError("IMAGE_NOT_FOUND", `cannot read image file ${image}: ${(error as Error).message}`, error);
    }
  } else bytes = image;
  const mime = MIME.find(([, test]) => test(bytes))?.[0] ?? "application/octet-stream";
  return `data:${mime};base64,${Buffer.from(bytes).toString("base64")}`;
}

export function remoteSolver(o: RemoteSolverOptions): Solver {
  const endpoint = `${o.url.replace(/\/+$/, "").replace(/\/v1$/, "")}/v1/chat/completions`;
  return async ({ question, image, spec, seed, signal }) => {
    if (image !== undefined && typeof image !== "string" && !(image instanceof Uint8Array)) {
      throw createError("INVALID_ARGUMENT", "a remote run sends encoded images; raw RGB is not supported");
    }
    const content = [{ type: "text", text: question }, ...(image === undefined ? [] : [{ type: "image_url", image_url: { url: await dataUri(image) } }])];
    const body = {
      messages: [{ role: "user", content }],
      seed,
      ...(o.temperature === undefined ? {} : { temperature: o.temperature }),
      ...(o.topP === undefined ? {} : { top_p: o.topP }),
      stagebeam: {
        strategy: spec.strategy,
        ...(spec.width === undefined ? {} : { width: spec.width }),
        judge: o.judge,
        ...(o.forceStructure === undefined ? {} : { forceStructure: o.forceStructure }),
        ...(o.maxStageTokens === undefined ? {} : { maxStageTokens: o.maxStageTokens }),
      },
    };
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
        body: JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if (signal?.aborted) throw new AbortError("the operation was aborted", { cause: error });
      throw createError("REMOTE_FAILED", `cannot reach ${endpoint}: ${(error as Error).cause ?? (error as Error).message} — is \`stagebeam serve\` running there?`, error);
    }
    const text = await response.text().catch((error: unknown) => {
      if (signal?.aborted) throw new AbortError("the operation was aborted", { cause: error });
      throw createError("REMOTE_FAILED", `${endpoint}: the response broke off: ${(error as Error).message}`, error);
    });
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      throw createError("REMOTE_FAILED", `${endpoint} answered ${response.status} with something that is not JSON: is --url a stagebeam server?`);
    }
    if (!response.ok) {
      const message = json?.error?.message ?? text.slice(0, 200);
      // The server refused this row (its image, its size): the row's failure. Anything else stops the run.
      if (response.status === 400) throw createError("INVALID_ARGUMENT", `the server refused the row: ${message}`);
      throw createError("REMOTE_FAILED", `${endpoint} answered ${response.status}: ${message}`);
    }
    const message = json?.choices?.[0]?.message;
    if (typeof message?.content !== "string") throw createError("REMOTE_FAILED", `${endpoint} answered without choices[0].message.content: is --url a stagebeam server?`);
    const reasoning: string = typeof message.reasoning_content === "string" ? message.reasoning_content : "";
    const stages = Object.fromEntries(STAGES.map((s) => [s, s === "CONCLUSION" ? message.content : parseStage(reasoning, s).content])) as Record<Stage, string>;
    const usage = json.usage ?? {};
    return {
      conclusion: message.content,
      stages,
      counts: {
        generatedTokens: typeof usage.completion_tokens === "number" ? usage.completion_tokens : null,
        promptTokens: typeof usage.prompt_tokens === "number" ? usage.prompt_tokens : null,
        judgeCalls: null,
        imageEncodes: null,
        candidates: null,
      },
      stagesMs: {},
      problems: [],
    };
  };
}
