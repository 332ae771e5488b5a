// A ServerHandler (Request → Response) on node:http. The request's signal aborts when the client goes
// away before the response is complete, and a streamed body stops being read then: the handler's work
// is aborted at once and its KV cells freed.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { ServerHandler } from "./handler.js";
import { badRequest } from "./http-error.js";

/** A `node:http` request listener serving `handler`: `createServer(nodeListener(handler)).listen(8080)`. */
export function nodeListener(handler: ServerHandler) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const controller = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) controller.abort();
    });
    void serve(handler, req, res, controller).catch((error: unknown) => {
      // Only a failure to write (the socket broke): the handler itself answers every error.
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy(error as Error);
    });
  };
}

function toRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  // The handler reads only the path: a fixed origin, so an odd Host header cannot make the URL invalid.
  return new Request(new URL(req.url ?? "/", "http://localhost"), {
    method: req.method,
    headers,
    signal,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
    // Node's fetch needs `duplex` for a streamed request body.
    duplex: "half",
  });
}

async function serve(handler: ServerHandler, req: IncomingMessage, res: ServerResponse, controller: AbortController): Promise<void> {
  let request: Request;
  try {
    request = toRequest(req, controller.signal);
  } catch (error) {
    // What fetch's Request refuses (a method such as TRACE, a malformed header): the client's mistake.
    const refused = badRequest(`the request cannot be read: ${(error as Error).message}`);
    return void res.writeHead(refused.status, { "content-type": "application/json" }).end(JSON.stringify(refused.body()));
  }
  const response = await handler(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (!response.body) return void res.end();
  const reader = response.body.getReader();
  controller.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}), { once: true });
  for (;;) {
    const { done, value } = await reader.read().catch(() => ({ done: true as const, value: undefined }));
    if (done || res.destroyed) break;
    // Wait while the client reads slowly, rather than buffer the stream in memory.
    if (!res.write(value)) await new Promise<void>((resolve) => res.once("drain", resolve).once("close", resolve));
  }
  res.end();
}
