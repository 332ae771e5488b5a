// createServerHandler(): an OpenAI-compatible HTTP API for staged reasoning, as a function from a
// web-standard Request to a Response, so it mounts in any server that speaks them (Hono, Next.js route
// handlers, Fastify through an adapter, Node's http through lib/server/node-adapter.ts).
//
//   POST /v1/chat/completions   chat completions; staged reasoning with reasoning_effort or `stagebeam`
//   GET  /v1/models             the one model served
//   GET  /health                200 once serving
//   GET  /metrics               Prometheus text
//
// All requests share one context, so concurrent requests join the same batch steps.
import { basename } from "node:path";
import type { Context } from "../context.js";
import type { Model } from "../model.js";
import { Admission } from "./admission.js";
import { parseChatRequest, type ChatRequest } from "./chat-request.js";
import type { Completion, CompletionDelta, CompletionOutcome } from "./completion.js";
import { completionBody, completionChunk, completionMeta, usageChunk } from "./completion-objects.js";
import { httpErrorFor } from "./error-status.js";
import { startEventStream } from "./event-stream.js";
import { badRequest, HttpError } from "./http-error.js";
import { imageBytes } from "./image-url.js";
import { ServerMetrics } from "./metrics.js";
import { plainCompletion } from "./plain-completion.js";
import { readJsonBody } from "./read-body.js";
import { stagedCompletion } from "./staged-completion.js";

export interface ServerHandlerOptions {
  model: Model;
  /**
   * The context every request runs on. Default: one made at the first request, with the model's context
   * length up to 8192, 64 sequences and a prefix cache of 4 prompts.
   */
  context?: Context;
  /** The model's id in /v1/models and the name requests must use (default: the model file's name). */
  modelName?: string;
  /** Requests must carry `Authorization: Bearer <apiKey>` (all routes but /health). */
  apiKey?: string;
  /** Chat requests running at once (default 8); the others wait their turn. */
  parallel?: number;
  /** Chat requests that may wait for a turn (default 64); past it, 429. */
  maxQueue?: number;
  /** The folder `file://` image URLs may point into; without it they are refused. */
  mediaPath?: string;
  /** A chat template (Jinja text or a name llama.cpp knows) instead of the model's own. */
  chatTemplate?: string;
  /** Largest request body in bytes (default 20 MB). */
  maxBodyBytes?: number;
  /** Aborts every request's work (the server is shutting down). */
  signal?: AbortSignal;
}

export type ServerHandler = (request: Request) => Promise<Response>;

const DEFAULT_MAX_BODY = 20 * 1024 * 1024;

export function createServerHandler(options: ServerHandlerOptions): ServerHandler {
  const { model } = options;
  const modelName = options.modelName ?? basename(model.path);
  const admission = new Admission(options.parallel ?? 8, options.maxQueue ?? 64);
  const metrics = new ServerMetrics();
  let context: Promise<Context> | null = options.context ? Promise.resolve(options.context) : null;
  let contextNow: Context | null = options.context ?? null;
  const sharedContext = () => {
    context ??= model
      .createContext({ contextSize: Math.min(8192, model.metadata.contextLength || 8192), sequences: 64, prefixCache: { sequences: 4 } })
      .then((c) => (contextNow = c))
      .catch((error: unknown) => {
        context = null; // not kept: the next request tries again
        throw error;
      });
    return context;
  };

  async function chatCompletion(request: Request, abort: AbortController, signal: AbortSignal, onStreamEnd: (status: number) => void): Promise<Response> {
    const chat = parseChatRequest(await readJsonBody(request, options.maxBodyBytes ?? DEFAULT_MAX_BODY));
    if (chat.model !== undefined && chat.model !== modelName) {
      throw new HttpError(404, "invalid_request_error", "model_not_found", `this server serves the model "${modelName}", not "${chat.model}"`);
    }
    const images = await requestImages(chat, options.mediaPath);
    const leave = await admission.enter(signal);
    let streaming = false;
    try {
      const ctx = await sharedContext();
      const input = { model, context: ctx, request: chat, template: options.chatTemplate, signal };
      const run = chat.staged ? stagedCompletion({ ...input, settings: chat.staged, image: images[0] }) : plainCompletion({ ...input, images });
      // Work aborted because the server stops is said as that, not as a client that went away.
      const completion: Completion = (emit) =>
        run(emit).catch((error: unknown) => {
          throw options.signal?.aborted ? new HttpError(503, "server_error", "shutting_down", "the server is shutting down: retry shortly") : error;
        });
      const meta = completionMeta(modelName);
      const finished = (outcome: CompletionOutcome) => {
        metrics.promptTokens += outcome.promptTokens;
        metrics.completionTokens += outcome.completionTokens;
      };
      if (!chat.stream) {
        const { content, reasoning, outcome } = await collect(completion);
        finished(outcome);
        return Response.json(completionBody(meta, content, chat.staged ? reasoning : null, outcome));
      }
      const response = await startEventStream({
        run: async (send) => {
          let first = true;
          const role = () => {
            if (first) send(completionChunk(meta, { role: "assistant", content: "" }));
            first = false;
          };
          const outcome = await completion((delta) => {
            role();
            send(completionChunk(meta, delta));
          });
          role();
          send(completionChunk(meta, {}, outcome.finishReason));
          if (chat.includeUsage) send(usageChunk(meta, outcome));
          finished(outcome);
        },
        onCancel: () => abort.abort(),
        onEnd: (status) => {
          leave();
          onStreamEnd(status);
        },
      });
      streaming = true;
      return response;
    } finally {
      // A stream keeps its turn until it ends (onEnd).
      if (!streaming) leave();
    }
  }

  return async function handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname.replace(/\/+$/, "") || "/";
    const route = routeMethod(path) === undefined ? "other" : path.startsWith("/v1/models/") ? "/v1/models/{id}" : path;
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, request.signal, ...(options.signal ? [options.signal] : [])]);
    let streamed = false;
    try {
      const allowed = routeMethod(path);
      if (!allowed) throw new HttpError(404, "not_found_error", "not_found", `no route ${request.method} ${path}: the API is under /v1 (POST /v1/chat/completions, GET /v1/models)`);
      if (path !== "/health") authorize(request, options.apiKey);
      if (request.method !== allowed) {
        throw new HttpError(405, "invalid_request_error", "method_not_allowed", `${path} takes ${allowed}, not ${request.method}`, { allow: allowed });
      }
      let response: Response;
      switch (path) {
        case "/health":
          response = Response.json({ status: "ok" });
          break;
        case "/metrics":
          response = new Response(metrics.render({ context: contextNow, waiting: admission.waiting, running: admission.running }), {
            headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
          });
          break;
        case "/v1/models":
          response = Response.json({ object: "list", data: [modelObject(modelName)] });
          break;
        default:
          if (path.startsWith("/v1/models/")) {
            const id = decodedPathPart(path.slice("/v1/models/".length));
            if (id !== modelName) throw new HttpError(404, "invalid_request_error", "model_not_found", `this server serves the model "${modelName}", not "${id}"`);
            response = Response.json(modelObject(modelName));
          } else {
            response = await chatCompletion(request, controller, signal, (status) => metrics.countRequest(route, status));
            streamed = response.headers.get("content-type")?.startsWith("text/event-stream") ?? false;
          }
      }
      if (!streamed) metrics.countRequest(route, response.status);
      return response;
    } catch (error) {
      const http = httpErrorFor(error);
      metrics.countRequest(route, http.status);
      return http.response();
    }
  };

  function modelObject(id: string) {
    return { id, object: "model", created: 0, owned_by: "stagebeam" };
  }
}

const ROUTES: Record<string, string> = { "/health": "GET", "/metrics": "GET", "/v1/models": "GET", "/v1/chat/completions": "POST" };

/** The method a route takes; undefined for no such route. /v1/models/ID is any model id. */
function routeMethod(path: string): string | undefined {
  return ROUTES[path] ?? (path.startsWith("/v1/models/") ? "GET" : undefined);
}

/** A percent-encoded path segment; a malformed one (a stray %) is kept as sent, matching no model. */
function decodedPathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function authorize(request: Request, apiKey: string | undefined): void {
  if (apiKey === undefined) return;
  const header = request.headers.get("authorization") ?? "";
  if (header !== `Bearer ${apiKey}`) {
    throw new HttpError(401, "authentication_error", "invalid_api_key", "missing or wrong API key: send the header Authorization: Bearer <key>");
  }
}

/** The request's images as bytes: all of them for a plain completion; the last message's for staged reasoning. */
async function requestImages(chat: ChatRequest, mediaPath: string | undefined): Promise<Uint8Array[]> {
  const messages = chat.staged ? [chat.messages.at(-1)!] : chat.messages;
  const urls = messages.flatMap((m) => m.content.flatMap((p) => (p.type === "image" ? [p.url] : [])));
  if (chat.staged && urls.length > 1) throw badRequest("staged reasoning takes one image with the question: send at most one image_url in the last message");
  return Promise.all(urls.map((url) => imageBytes(url, mediaPath)));
}

async function collect(completion: Completion): Promise<{ content: string; reasoning: string; outcome: CompletionOutcome }> {
  let content = "";
  let reasoning = "";
  const outcome = await completion((delta: CompletionDelta) => {
    content += delta.content ?? "";
    reasoning += delta.reasoning ?? "";
  });
  return { content, reasoning, outcome };
}
