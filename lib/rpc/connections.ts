// The rpc-servers this process has a connection to, counted by the models that use them. ggml keeps one
// connection per endpoint for the whole process, and rpc-server serves one client at a time, so a
// second model on a server already in use must not be probed (the probe would wait behind our own
// connection): it waits for the first model's probe instead, and shares its outcome.
interface Hold {
  count: number;
  ready: Promise<void>;
}

const holds = new Map<string, Hold>();

/**
 * Probes each endpoint not already held (in parallel, `probe` rejecting with a typed error when one does
 * not answer as an rpc-server) and holds them all. Resolves with the function that lets them go, once
 * the model using them is freed; rejects, holding nothing, if any probe fails.
 */
export async function holdRpcServers(endpoints: readonly string[], probe: (endpoint: string) => Promise<unknown>): Promise<() => void> {
  const taken = endpoints.map((endpoint) => {
    let hold = holds.get(endpoint);
    if (!hold) {
      const fresh: Hold = {
        count: 0,
        ready: probe(endpoint).then(
          () => undefined,
          (error: unknown) => {
            // A server that failed is probed afresh next time.
            if (holds.get(endpoint) === fresh) holds.delete(endpoint);
            throw error;
          },
        ),
      };
      hold = fresh;
      holds.set(endpoint, hold);
    }
    hold.count += 1;
    return { endpoint, hold };
  });
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    for (const { endpoint, hold } of taken) {
      hold.count -= 1;
      if (hold.count === 0 && holds.get(endpoint) === hold) holds.delete(endpoint);
    }
  };
  const outcomes = await Promise.allSettled(taken.map(({ hold }) => hold.ready));
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failed) {
    release();
    throw failed.reason;
  }
  return release;
}
