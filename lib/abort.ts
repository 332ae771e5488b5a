// AbortSignal → native Cancellation. Native work polls the flag between decode chunks and steps, and the
// CPU backend's abort callback reads it during a decode.
import { AbortError } from "./errors.js";
import { nativeAddon, type NativeCancellation } from "./native.js";

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError("the operation was aborted", { cause: signal.reason });
}

/** Runs `body` with a Cancellation that is raised when `signal` aborts. */
export async function withCancellation<T>(
  signal: AbortSignal | undefined,
  body: (cancellation: NativeCancellation) => Promise<T>,
): Promise<T> {
  throwIfAborted(signal);
  const cancellation = new (nativeAddon().Cancellation)();
  const onAbort = () => cancellation.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await body(cancellation);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
