// A /v1/chat/completions body, checked field by field into what the server runs. OpenAI's own API refuses
// parameters it does not know, and so does this: a client that asks for tools or logprobs learns at once
// that it will not get them, instead of getting an answer that silently ignored them.
import { boolean, integerIn, numberIn, object, oneOf, string } from "./field-checks.js";
import { badRequest } from "./http-error.js";
import { stagedSettings, type StagedSettings } from "./reasoning-settings.js";

export type RequestPart = { type: "text"; text: string } | { type: "image"; url: string };

export interface RequestMessage {
  role: "system" | "user" | "assistant";
  content: RequestPart[];
}

export interface ChatRequest {
  model?: string;
  messages: RequestMessage[];
  stream: boolean;
  includeUsage: boolean;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  stop: string[];
  /** Staged reasoning (reasoning_effort or the stagebeam object); null for a plain chat completion. */
  staged: StagedSettings | null;
}

/** Accepted and without effect here: bookkeeping fields of OpenAI's API. */
const IGNORED = new Set(["user", "metadata", "store", "service_tier"]);
const ROLES = ["system", "developer", "user", "assistant"] as const;
/** The native sampler takes a 32-bit seed. */
const MAX_SEED = 0xffffffff;

export function parseChatRequest(body: unknown): ChatRequest {
  const b = object("the request body", body);
  const request: ChatRequest = { messages: [], stream: false, includeUsage: false, stop: [], staged: stagedSettings(b.reasoning_effort ?? undefined, b.stagebeam ?? undefined) };
  for (const [key, value] of Object.entries(b)) {
    if (value === null && key !== "messages") continue; // OpenAI's clients send null for "not set"
    switch (key) {
      case "model":
        request.model = string("model", value);
        break;
      case "messages":
        request.messages = messages(value);
        break;
      case "stream":
        request.stream = boolean("stream", value);
        break;
      case "stream_options": {
        for (const [k, v] of Object.entries(object("stream_options", value))) {
          if (k !== "include_usage") throw badRequest(`unknown field stream_options.${k}: the one field is include_usage`);
          request.includeUsage = boolean("stream_options.include_usage", v);
        }
        break;
      }
      case "max_tokens":
      case "max_completion_tokens":
        request.maxTokens = integerIn(key, value, 1, Number.MAX_SAFE_INTEGER);
        break;
      case "temperature":
        request.temperature = numberIn(key, value, 0, 2);
        break;
      case "top_p":
        request.topP = numberIn(key, value, 0, 1);
        break;
      case "seed":
        request.seed = integerIn(key, value, 0, MAX_SEED);
        break;
      case "frequency_penalty":
        request.frequencyPenalty = numberIn(key, value, -2, 2);
        break;
      case "presence_penalty":
        request.presencePenalty = numberIn(key, value, -2, 2);
        break;
      case "stop":
        request.stop = stops(value);
        break;
      case "n":
        integerIn("n", value, 1, 1);
        break;
      case "logprobs":
        if (boolean("logprobs", value)) throw badRequest("logprobs are not supported by this server: leave logprobs out");
        break;
      case "response_format":
        if (object("response_format", value).type !== "text") throw badRequest('response_format: only { "type": "text" } is supported by this server');
        break;
      case "reasoning_effort":
      case "stagebeam":
        break; // read above
      default:
        if (IGNORED.has(key)) break;
        throw badRequest(`unknown or unsupported parameter ${key}`, "unsupported_parameter");
    }
  }
  if (request.messages.length === 0) throw badRequest("messages must be a non-empty array of { role, content }");
  if (request.staged && request.messages.at(-1)!.role !== "user") {
    throw badRequest("staged reasoning answers the last message, which must be the user's question");
  }
  return request;
}

function messages(value: unknown): RequestMessage[] {
  if (!Array.isArray(value)) throw badRequest("messages must be an array of { role, content }");
  return value.map((m, i) => {
    const message = object(`messages[${i}]`, m);
    const role = oneOf(`messages[${i}].role`, message.role, ROLES);
    for (const key of Object.keys(message)) {
      if (!["role", "content", "name"].includes(key)) throw badRequest(`messages[${i}].${key} is not supported by this server (no tools or function calls)`, "unsupported_parameter");
    }
    const content = contentParts(`messages[${i}].content`, message.content);
    if (role !== "user" && content.some((p) => p.type === "image")) throw badRequest(`messages[${i}]: images go in user messages only`);
    // The developer role is the system role of newer OpenAI models; templates know only "system".
    return { role: role === "developer" ? "system" : role, content };
  });
}

function contentParts(name: string, value: unknown): RequestPart[] {
  if (typeof value === "string") return [{ type: "text", text: value }];
  if (!Array.isArray(value)) throw badRequest(`${name} must be a string or an array of content parts`);
  return value.map((p, i): RequestPart => {
    const part = object(`${name}[${i}]`, p);
    const type = oneOf(`${name}[${i}].type`, part.type, ["text", "image_url"] as const);
    if (type === "text") return { type, text: string(`${name}[${i}].text`, part.text) };
    const imageUrl = object(`${name}[${i}].image_url`, part.image_url);
    if (imageUrl.detail !== undefined) oneOf(`${name}[${i}].image_url.detail`, imageUrl.detail, ["auto", "low", "high"] as const);
    return { type: "image", url: string(`${name}[${i}].image_url.url`, imageUrl.url) };
  });
}

function stops(value: unknown): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === "string" && s.length > 0)) {
    throw badRequest("stop must be a non-empty string or an array of at most 4 of them");
  }
  return list;
}
