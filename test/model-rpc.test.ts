// loadModel({ rpc }): a model split across llama.cpp rpc-server processes (two, local, CPU) computes
// what the model computes alone, and every way a server can be wrong is a typed error, never an abort
// of the process (ggml's client aborts on a refused connection or a failed handshake) or a hang.
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { InvalidArgumentError, loadModel, StagebeamError, type Model } from "../lib/index.js";
import { nativeAddon } from "../lib/native.js";
import { rpcServerBinary } from "../lib/rpc/server-binary.js";
import { tinyLlama, tinyMllama } from "./fixtures/models.js";
import { freePort, startRpcServer, type RunningRpcServer } from "./rpc/rpc-servers.js";

const servers: RunningRpcServer[] = [];

beforeAll(async () => {
  for (let i = 0; i < 2; i++) servers.push(await startRpcServer(rpcServerBinary(), (port) => ["--port", String(port), "--threads", "1"]));
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

async function greedy(model: Model, prompt: string, maxTokens: number): Promise<number[]> {
  const context = await model.createContext({ contextSize: 512, sequences: 2, threads: 1 });
  try {
    const sequence = context.createSequence();
    await sequence.evaluate(prompt);
    const [result] = await context.generate([sequence], { maxTokens }).result();
    return result!.tokens;
  } finally {
    await context.dispose();
  }
}

async function failure(promise: Promise<unknown>): Promise<StagebeamError> {
  try {
    const model = await promise;
    await (model as Model).dispose();
  } catch (error) {
    expect(error).toBeInstanceOf(StagebeamError);
    return error as StagebeamError;
  }
  throw new Error("expected loadModel to fail");
}

describe("a model split across two rpc-servers", () => {
  test("greedy generation equals the local run token for token; the servers hold it until it is disposed", async () => {
    const local = await loadModel({ path: tinyLlama() });
    expect(local.rpc).toEqual([]);
    const expected = await greedy(local, "Once upon a time", 24);
    await local.dispose();
    expect(expected).toHaveLength(24);

    const before = servers.map((s) => s.output().split("Accepted client connection").length);
    const split = await loadModel({ path: tinyLlama(), rpc: servers.map((s) => s.endpoint) });
    expect(split.rpc).toEqual(servers.map((s) => s.endpoint));
    try {
      // Both servers took a connection from the load itself (beyond the probes'): the layers went there.
      expect(await greedy(split, "Once upon a time", 24)).toEqual(expected);
      await vi.waitFor(() => {
        for (const [i, s] of servers.entries()) expect(s.output().split("Accepted client connection").length).toBeGreaterThan(before[i]! + 1);
      });

      // A second model on the same servers while the first holds them: no probe (it would wait behind
      // our own connection, rpc-server serves one client at a time); ggml shares the connection.
      const second = await loadModel({ path: tinyLlama(), rpc: servers.map((s) => s.endpoint) });
      expect(await greedy(second, "Once upon a time", 24)).toEqual(expected);
      await second.dispose();
    } finally {
      await split.dispose();
    }
    // Freed: the servers are free for the next client (a fresh load probes and connects again).
    const again = await loadModel({ path: tinyLlama(), rpc: [servers[0]!.endpoint] });
    expect(await greedy(again, "Once upon a time", 24)).toEqual(expected);
    await again.dispose();
  }, 120_000);
});

describe("errors", () => {
  test("malformed endpoints: INVALID_RPC_ENDPOINT before anything connects", async () => {
    for (const rpc of [["127.0.0.1"], ["127.0.0.1:0"], ["127.0.0.1:70000"], ["[::1]:50052"], [], ["a:1", "a:1"], "127.0.0.1:1" as unknown as string[]]) {
      const error = await failure(loadModel({ path: tinyLlama(), rpc }));
      expect(error.code, JSON.stringify(rpc)).toBe("INVALID_RPC_ENDPOINT");
      expect(error).toBeInstanceOf(InvalidArgumentError);
    }
  });

  test("a port nothing listens on: RPC_UNREACHABLE, and the process lives on", async () => {
    const port = await freePort();
    const error = await failure(loadModel({ path: tinyLlama(), rpc: [servers[0]!.endpoint, `127.0.0.1:${port}`] }));
    expect(error.code).toBe("RPC_UNREACHABLE");
    expect(error.message).toContain(`127.0.0.1:${port}`);
    // The good server was let go with the bad one: it is usable at once.
    const model = await loadModel({ path: tinyLlama(), rpc: [servers[0]!.endpoint] });
    await model.dispose();
  }, 30_000);

  test("something that is not an rpc-server on the port: RPC_PROTOCOL_MISMATCH", async () => {
    const server: Server = createServer((s) => s.once("data", () => s.end("SSH-2.0-OpenSSH_9.2\r\n")));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const error = await failure(loadModel({ path: tinyLlama(), rpc: [`127.0.0.1:${(server.address() as { port: number }).port}`] }));
      expect(error.code).toBe("RPC_PROTOCOL_MISMATCH");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 30_000);

  test("mllama models: RPC_UNSUPPORTED (stagebeam's own engine runs on this machine only)", async () => {
    const error = await failure(loadModel({ path: tinyMllama().model, rpc: [servers[0]!.endpoint] }));
    expect(error.code).toBe("RPC_UNSUPPORTED");
  });

  test("gpuLayers 0 with rpc would put nothing on the servers: INVALID_ARGUMENT", async () => {
    expect((await failure(loadModel({ path: tinyLlama(), gpuLayers: 0, rpc: [servers[0]!.endpoint] }))).code).toBe("INVALID_ARGUMENT");
  });

  test("the addon itself refuses an endpoint ggml's parser would abort on", async () => {
    for (const endpoint of ["no-port", "host:99999", "host:", ":80"]) {
      expect(() => nativeAddon().Model.load(tinyLlama(), { rpc: [endpoint] })).toThrow(expect.objectContaining({ code: "INVALID_RPC_ENDPOINT" }));
    }
  });
});
