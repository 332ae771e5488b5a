// Server-sent events as OpenAI frames them: `data: {json}\n\n` per chunk and `data: [DONE]\n\n` at the end.
// The response starts with the first chunk, so what fails before it (a prompt past the context, a bad
// image) still gets its own HTTP status. What fails later goes out as a `data: {"error": {...}}` frame
// (what OpenAI's clients look for), and the stream ends.
import { httpErrorFor } from "./error-status.js";

const encoder = new TextEncoder();
const frame = (data: string) => encoder.encode(`data: ${data}\n\n`);

export interface EventStreamOptions {
  /** Writes the events with `send`, one chunk object each. */
  run: (send: (chunk: unknown) => void) => Promise<void>;
  /** The client stopped reading (cancelled the body): abort the work. */
  onCancel: () => void;
  /** Once, with how a started stream ended: 200, or the status of the error that ended it. */
  onEnd: (status: number) => void;
}

/** Resolves with the streaming response at the first chunk (or at the end); rejects if `run` fails before any. */
export function startEventStream(options: EventStreamOptions): Promise<Response> {
  return new Promise((resolve, reject) => {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let started = false;
    let closed = false;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
      cancel() {
        closed = true;
        options.onCancel();
      },
    });
    const start = () => {
      if (started) return;
      started = true;
      resolve(
        new Response(body, {
          status: 200,
          headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" },
        }),
      );
    };
    const write = (data: string) => {
      if (!closed) controller.enqueue(frame(data));
    };
    const end = () => {
      if (!closed) controller.close();
      closed = true;
    };
    options
      .run((chunk) => {
        start();
        write(JSON.stringify(chunk));
      })
      .then(
        () => {
          start();
          write("[DONE]");
          end();
          options.onEnd(200);
        },
        (error: unknown) => {
          if (!started) return reject(error);
          const http = httpErrorFor(error);
          write(JSON.stringify(http.body()));
          end();
          options.onEnd(http.status);
        },
      );
  });
}
