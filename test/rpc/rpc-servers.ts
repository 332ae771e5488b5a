// llama.cpp's rpc-server processes for tests, on free local ports, CPU only, one thread each.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { probeRpcServer } from "../../lib/rpc/handshake.js";
import { nativeAddon } from "../../lib/native.js";

export interface RunningRpcServer {
  endpoint: string;
  port: number;
  /** Everything it printed so far (it says "Accepted client connection" per client). */
  output(): string;
  /** SIGTERM; resolves with its exit code (null when the signal killed it). */
  stop(): Promise<number | null>;
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** Starts `command args…` (which must serve RPC on 127.0.0.1:port) and resolves once it answers the handshake. */
export async function startRpcServer(command: string, args: (port: number) => string[]): Promise<RunningRpcServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(command, args(port), { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const endpoint = `127.0.0.1:${port}`;
  const protocol = nativeAddon().rpcProtocol();
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await probeRpcServer(endpoint, protocol, 5_000);
      break;
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`rpc-server on ${endpoint} did not come up: ${(error as Error).message}\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    endpoint,
    port,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
