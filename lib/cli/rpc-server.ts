// `stagebeam rpc-server`: runs llama.cpp's rpc-server (the one built with this stagebeam, so client and
// server speak the same protocol version), so another machine can put part of a model here with
// `--rpc HOST:PORT`. It runs until interrupted.
import { spawn } from "node:child_process";
import type { Command } from "commander";
import { AbortError, createError } from "../errors.js";
import { rpcServerBinary } from "../rpc/server-binary.js";
import { nonNegativeInteger, positiveInteger, UsageError } from "./usage-error.js";

interface RpcServerOptions {
  host: string;
  port: number;
  threads?: number;
  device?: string;
  cache?: boolean;
}

export function registerRpcServer(program: Command, signal: AbortSignal): void {
  program
    .command("rpc-server")
    .description("serve this machine's devices to another machine's `--rpc` (llama.cpp's rpc-server; unauthenticated)")
    .option("--host <address>", "address to listen on (other machines reach it only if you choose so)", "127.0.0.1")
    .option("--port <n>", "port to listen on", nonNegativeInteger("--port"), 50052)
    .option("--threads <n>", "CPU threads, when the CPU is the device", positiveInteger("--threads"))
    .option("--device <names>", "comma-separated ggml devices to serve (default: the GPUs, else the CPU)")
    .option("--cache", "keep received weights in a local file cache, so the next load of the same model sends only hashes")
    .addHelpText(
      "after",
      `
The RPC protocol has no authentication and no encryption: whoever reaches the port can use this
machine's devices and memory. Keep it on 127.0.0.1, or on a network only you use.

Examples:
  $ stagebeam rpc-server --host 10.0.0.2 --port 50052      # on the machine that lends its memory
  $ stagebeam run -m big.gguf --rpc 10.0.0.2:50052 "…"      # on the machine that runs the model`,
    )
    .action(async (o: RpcServerOptions) => {
      if (o.port < 1 || o.port > 65535) throw new UsageError("--port must be from 1 to 65535");
      const binary = rpcServerBinary();
      if (o.host !== "127.0.0.1" && o.host !== "localhost") {
        process.stderr.write(
          `stagebeam: warning: listening on ${o.host}: the RPC protocol has no authentication or encryption; ` +
            "anyone who can reach this port can run computations here and read what is sent. Use it only on a trusted network.\n",
        );
      }
      const args = ["--host", o.host, "--port", String(o.port)];
      if (o.threads !== undefined) args.push("--threads", String(o.threads));
      if (o.device !== undefined) args.push("--device", o.device);
      if (o.cache) args.push("--cache");
      await run(binary, args, signal);
    });
}

/** Runs the server with this process's stdio until it exits or `signal` aborts (then stops it). */
function run(binary: string, args: string[], signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: "inherit" });
    const stop = () => child.kill("SIGTERM");
    signal.addEventListener("abort", stop, { once: true });
    // SIGTERM to stagebeam (a service manager stopping it) stops the server too.
    const onTerm = () => stop();
    process.once("SIGTERM", onTerm);
    child.on("error", (error) => {
      signal.removeEventListener("abort", stop);
      process.off("SIGTERM", onTerm);
      reject(createError("RPC_SERVER_FAILED", `could not start ${binary}: ${error.message}`));
    });
    child.on("exit", (code, killedBy) => {
      signal.removeEventListener("abort", stop);
      process.off("SIGTERM", onTerm);
      if (signal.aborted) return reject(new AbortError());
      if (killedBy === "SIGTERM") return resolve();
      if (code === 0) return resolve();
      reject(createError("RPC_SERVER_FAILED", `rpc-server exited with ${code !== null ? `status ${code}` : killedBy} (see its output above: is the port already in use?)`));
    });
  });
}
