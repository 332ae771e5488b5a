// The probe that stands between a user's endpoint and ggml's client, which aborts the process on a
// refused connection, a failed handshake or a version mismatch, and waits forever on a silent server.
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { StagebeamError } from "../../lib/errors.js";
import { nativeAddon } from "../../lib/native.js";
import { probeRpcServer } from "../../lib/rpc/handshake.js";
import { rpcServerBinary } from "../../lib/rpc/server-binary.js";
import { freePort, startRpcServer, type RunningRpcServer } from "./rpc-servers.js";

const protocol = () => nativeAddon().rpcProtocol();

/** A local TCP server that does `onConnection` with each client. */
async function fakeServer(onConnection: (socket: Socket) => void): Promise<{ endpoint: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Answers a HELLO with `version` the way rpc-server frames it: | size u64 | major minor patch pad caps[24] |. */
function helloAnswer(major: number, minor: number): Buffer {
  const answer = Buffer.alloc(8 + 28);
  answer.writeBigUInt64LE(28n, 0);
  answer[8] = major;
  answer[9] = minor;
  return answer;
}

async function failure(promise: Promise<unknown>): Promise<StagebeamError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StagebeamError);
    return error as StagebeamError;
  }
  throw new Error("expected the probe to fail");
}

describe("probeRpcServer", () => {
  let real: RunningRpcServer;
  beforeAll(async () => {
    real = await startRpcServer(rpcServerBinary(), (port) => ["--port", String(port), "--threads", "1"]);
  }, 60_000);
  afterAll(async () => {
    await real?.stop();
  });

  test("llama.cpp's rpc-server built here: this build's protocol, at least one device", async () => {
    const info = await probeRpcServer(real.endpoint, protocol(), 5_000);
    const { major, minor, patch } = protocol();
    expect(info).toEqual({ endpoint: real.endpoint, version: `${major}.${minor}.${patch}`, devices: 1 });
  });

  test("a port nothing listens on: RPC_UNREACHABLE, saying so", async () => {
    const error = await failure(probeRpcServer(`127.0.0.1:${await freePort()}`, protocol(), 5_000));
    expect(error.code).toBe("RPC_UNREACHABLE");
    expect(error.message).toContain("refused");
  });

  test("a server that accepts and never answers: RPC_UNREACHABLE at the deadline, not a hang", async () => {
    const silent = await fakeServer(() => {});
    try {
      const error = await failure(probeRpcServer(silent.endpoint, protocol(), 300));
      expect(error.code).toBe("RPC_UNREACHABLE");
      expect(error.message).toContain("did not answer within 300 ms");
    } finally {
      await silent.close();
    }
  });

  test("something else on the port (an HTTP server): RPC_PROTOCOL_MISMATCH", async () => {
    const http = await fakeServer((s) => s.once("data", () => s.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")));
    try {
      expect((await failure(probeRpcServer(http.endpoint, protocol(), 5_000))).code).toBe("RPC_PROTOCOL_MISMATCH");
    } finally {
      await http.close();
    }
  });

  test("a server that hangs up at once, or speaks another protocol version: RPC_PROTOCOL_MISMATCH", async () => {
    const rude = await fakeServer((s) => s.destroy());
    const older = await fakeServer((s) => s.once("data", () => s.write(helloAnswer(protocol().major - 1, 0))));
    const newer = await fakeServer((s) => s.once("data", () => s.write(helloAnswer(protocol().major, protocol().minor + 1))));
    try {
      expect((await failure(probeRpcServer(rude.endpoint, protocol(), 5_000))).code).toBe("RPC_PROTOCOL_MISMATCH");
      const old = await failure(probeRpcServer(older.endpoint, protocol(), 5_000));
      expect(old.code).toBe("RPC_PROTOCOL_MISMATCH");
      expect(old.message).toContain(`speaks RPC protocol ${protocol().major - 1}.0.0`);
      expect((await failure(probeRpcServer(newer.endpoint, protocol(), 5_000))).code).toBe("RPC_PROTOCOL_MISMATCH");
    } finally {
      await Promise.all([rude.close(), older.close(), newer.close()]);
    }
  });

  test("a server with no devices: RPC_UNREACHABLE (ggml would register nothing)", async () => {
    const empty = await fakeServer((s) => {
      let seen = 0;
      s.on("data", (d) => {
        seen += d.length;
        if (seen === 33) s.write(helloAnswer(protocol().major, protocol().minor));
        if (seen === 33 + 9) s.write(Buffer.from([4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
      });
    });
    try {
      const error = await failure(probeRpcServer(empty.endpoint, protocol(), 5_000));
      expect(error.code).toBe("RPC_UNREACHABLE");
      expect(error.message).toContain("no devices");
    } finally {
      await empty.close();
    }
  });
});
