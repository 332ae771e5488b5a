import { describe, expect, test } from "vitest";
import { createError } from "../../lib/errors.js";
import { httpErrorFor } from "../../lib/server/error-status.js";
import { HttpError } from "../../lib/server/http-error.js";

describe("httpErrorFor", () => {
  test.each([
    ["CONTEXT_FULL", "the input needs 900 positions", 400, "context_length_exceeded"],
    ["INVALID_IMAGE", "the image could not be decoded: it is corrupt", 400, "invalid_image"],
    ["INVALID_IMAGE", "the image is 40000x1: at most 32768 pixels a side", 413, "image_too_large"],
    ["INVALID_IMAGE", "the image is 40000x40000: images may have at most 32768 pixels a side and 134217728 pixels in all; scale it down first", 413, "image_too_large"],
    ["UNSUPPORTED_IMAGE", "webp images are not supported", 400, "unsupported_image"],
    ["NO_PROJECTOR", "images need the model's projector", 400, "images_not_supported"],
    ["SEQUENCE_LIMIT", "this search may need 51 sequences", 400, "width_too_large"],
    ["ABORTED", "aborted", 499, "client_closed_request"],
    ["DISPOSED", "the context has been disposed", 503, "shutting_down"],
    ["DECODE_FAILED", "llama_decode failed", 500, "decode_failed"],
  ] as const)("%s (%s) → %i %s", (code, message, status, httpCode) => {
    const error = httpErrorFor(createError(code, message));
    expect(error.status).toBe(status);
    expect(error.code).toBe(httpCode);
  });

  test("anything else is a 500 internal_error; an HttpError passes as it is", () => {
    expect(httpErrorFor(new TypeError("x is undefined"))).toMatchObject({ status: 500, code: "internal_error", type: "server_error" });
    const own = new HttpError(429, "rate_limit_error", "queue_full", "busy");
    expect(httpErrorFor(own)).toBe(own);
  });
});
