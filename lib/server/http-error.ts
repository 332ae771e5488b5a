// An error a request ends with, in OpenAI's shape: `{ "error": { "message", "type", "code" } }` with its
// HTTP status. Clients (the openai SDK among them) read `type` and `code`, so both are stable strings.

export type ErrorType = "invalid_request_error" | "authentication_error" | "not_found_error" | "rate_limit_error" | "server_error";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    readonly code: string,
    message: string,
    /** Extra response headers, e.g. Retry-After on 429. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }

  body(): { error: { message: string; type: ErrorType; code: string; param: null } } {
    return { error: { message: this.message, type: this.type, code: this.code, param: null } };
  }

  response(): Response {
    return Response.json(this.body(), { status: this.status, headers: this.headers });
  }
}

/** A request the server cannot take as sent (400): a field's type, range or value. */
export function badRequest(message: string, code = "invalid_request"): HttpError {
  return new HttpError(400, "invalid_request_error", code, message);
}
