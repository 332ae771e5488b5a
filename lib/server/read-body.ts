// The request body as JSON, read with a bound: a client cannot make the server buffer more than
// `limit` bytes, whatever Content-Length says (or leaves out).
import { badRequest, HttpError } from "./http-error.js";

function tooLarge(limit: number): HttpError {
  return new HttpError(413, "invalid_request_error", "request_too_large", `the request body is over ${limit} bytes: send smaller images (or start the server with a larger body limit)`);
}

export async function readJsonBody(request: Request, limit: number): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) throw tooLarge(limit);
  if (!request.body) throw badRequest("the request has no body: send a JSON object");
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest(`the request body is not valid JSON: ${(error as Error).message}`, "invalid_json");
  }
}
