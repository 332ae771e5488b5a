// Which HTTP status and OpenAI error code each failure gets. Decided per StagebeamError code: what a
// client sent (a bad image, a prompt past the context) is a 4xx it can fix; what the server or the model
// lacks is said as such; only what should never happen is a 500.
import { StagebeamError, type ErrorCode } from "../errors.js";
import { HttpError } from "./http-error.js";

/** Status 499 (nginx's "client closed request"): the client went away; nobody reads the answer, metrics count it. */
export const CLIENT_CLOSED = 499;

const clientErrors: Partial<Record<ErrorCode, string>> = {
  CONTEXT_FULL: "context_length_exceeded",
  INVALID_IMAGE: "invalid_image",
  UNSUPPORTED_IMAGE: "unsupported_image",
  IMAGE_NOT_FOUND: "image_not_found",
  NO_PROJECTOR: "images_not_supported",
  MEDIA_MARKER_MISMATCH: "invalid_request",
  INVALID_ARGUMENT: "invalid_request",
  INVALID_TOKEN: "invalid_request",
  // A search wider than the context can ever hold at once (reserveSequences refuses it at once).
  SEQUENCE_LIMIT: "width_too_large",
};

/** The decoder's INVALID_IMAGE for an image over its pixel limit (native/image_channels.cpp says so). */
function isOverPixelLimit(error: StagebeamError): boolean {
  return error.code === "INVALID_IMAGE" && /pixels a side/.test(error.message);
}

export function httpErrorFor(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof StagebeamError) {
    if (error.code === "ABORTED") return new HttpError(CLIENT_CLOSED, "invalid_request_error", "client_closed_request", "the client closed the request");
    if (isOverPixelLimit(error)) return new HttpError(413, "invalid_request_error", "image_too_large", error.message);
    if (error.code === "NO_PROJECTOR") {
      return new HttpError(400, "invalid_request_error", "images_not_supported", "this server's model takes no images: start it with --projector MMPROJ");
    }
    const code = clientErrors[error.code];
    if (code) return new HttpError(400, "invalid_request_error", code, error.message);
    if (error.code === "DISPOSED") return new HttpError(503, "server_error", "shutting_down", "the server is shutting down: retry on another instance");
    return new HttpError(500, "server_error", error.code.toLowerCase(), error.message);
  }
  return new HttpError(500, "server_error", "internal_error", error instanceof Error ? error.message : String(error));
}
