// What a server answers while its model is still loading: 503 on every route, so load balancers and
// clients (the openai SDK retries 503) wait rather than fail.
import { HttpError } from "./http-error.js";

export function loadingResponse(): Response {
  return new HttpError(503, "server_error", "model_loading", "the model is still loading: retry shortly", { "retry-after": "1" }).response();
}
