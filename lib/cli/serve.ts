// `stagebeam serve`: the OpenAI-compatible server (lib/server) on node:http. It listens at once and
// answers 503 while the model loads, then says its URL on stderr. Ctrl-C or SIGTERM stops taking
// connections, aborts the requests running (their sequences are freed) and exits 0.
import { statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Command } from "commander";
import { loadModel, type Model } from "../model.js";
import { createServerHandler, type ServerHandler } from "../server/handler.js";
import { loadingResponse } from "../server/loading-response.js";
import { nodeListener } from "../server/node-adapter.js";
import { chatTemplateArgument } from "./chat-template-option.js";
import { createCommandContext } from "./command-context.js";
import { resolveModelFiles } from "./resolve-model.js";
import { terminal } from "./terminal.js";
import { rpcEndpoints } from "./rpc-option.js";
import { nonNegativeInteger, positiveInteger, UsageError } from "./usage-error.js";

interface ServeOptions {
  model: string;
  projector?: string;
  host: string;
  port: number;
  apiKey?: string;
  parallel: number;
  maxQueue: number;
  contextSize?: number;
  threads?: number;
  gpuLayers?: number;
  rpc?: string[];
  mediaPath?: string;
  chatTemplate?: string;
}

export function registerServe(program: Command, signal: AbortSignal): void {
  program
    .command("serve")
    .description("serve the model over an OpenAI-compatible HTTP API (chat completions, staged reasoning)")
    .requiredOption("-m, --model <path|hf:ref>", "text model GGUF: a path, hf:OWNER/REPO/FILE.gguf, hf:OWNER/REPO:QUANT or hf:OWNER/REPO")
    .option("--projector <path|hf:ref>", "the model's multimodal projector, for images (default with hf:OWNER/REPO[:QUANT]: the repository's)")
    .option("--host <address>", "address to listen on (other machines reach the server only if you choose so)", "127.0.0.1")
    .option("--port <n>", "port to listen on (0: any free port)", nonNegativeInteger("--port"), 8080)
    .option("--api-key <key>", "require Authorization: Bearer KEY on every request but /health")
    .option("--parallel <n>", "chat requests running at once (they share batch steps)", positiveInteger("--parallel"), 8)
    .option("--max-queue <n>", "chat requests that may wait for a turn; past it the answer is 429", nonNegativeInteger("--max-queue"), 64)
    .option("--context-size <n>", "KV cache size in tokens, shared by all requests", positiveInteger("--context-size"))
    .option("--threads <n>", "CPU threads", positiveInteger("--threads"))
    .option("--gpu-layers <n>", "layers to offload to the GPU (default: all)", nonNegativeInteger("--gpu-layers"))
    .option("--rpc <host:port,…>", "split the model across these rpc-servers (stagebeam rpc-server on each machine)", rpcEndpoints)
    .option("--media-path <dir>", "allow file:// image URLs inside this folder")
    .option("--chat-template <name|file>", "chat template, for a model whose file has none (or to override it): a name llama.cpp knows or a Jinja file", chatTemplateArgument)
    .addHelpText(
      "after",
      `
Examples:
  $ stagebeam serve -m model.gguf --projector mmproj.gguf
  $ stagebeam serve -m hf:ggml-org/gemma-3-4b-it-GGUF:Q4_K_M --port 8080 --api-key secret
  $ curl http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \\
      -d '{"messages":[{"role":"user","content":"Why is the sky blue?"}],"reasoning_effort":"medium"}'`,
    )
    .action(async (o: ServeOptions) => {
      if (o.port > 65535) throw new UsageError(`--port must be at most 65535, got ${o.port}`);
      if (o.mediaPath !== undefined && !statSync(o.mediaPath, { throwIfNoEntry: false })?.isDirectory()) {
        throw new UsageError(`--media-path ${o.mediaPath} is not a folder`);
      }
      const say = (line: string) => process.stderr.write(`stagebeam: ${line}\n`);
      // Ctrl-C (the CLI's signal) or SIGTERM: stop, aborting the requests running.
      const stop = new AbortController();
      signal.addEventListener("abort", () => stop.abort(), { once: true });
      const onTerm = () => stop.abort();
      process.once("SIGTERM", onTerm);
      let handler: ServerHandler = async () => loadingResponse();
      const server = createServer(nodeListener((request) => handler(request)));
      await listen(server, o.host, o.port);
      let model: Model | undefined;
      try {
        const term = terminal();
        const files = await resolveModelFiles(o.model, o.projector, term, { wantProjector: true, say, signal: stop.signal });
        model = await loadModel({ path: files.model, projector: files.projector, gpuLayers: o.gpuLayers, rpc: o.rpc, signal: stop.signal, onProgress: (p) => term.bar("loading model", p) });
        term.clear();
        const context = await createCommandContext(model, { ...o, prefixSequences: 4 });
        handler = createServerHandler({
          model,
          context,
          apiKey: o.apiKey,
          parallel: o.parallel,
          maxQueue: o.maxQueue,
          mediaPath: o.mediaPath,
          chatTemplate: o.chatTemplate,
          signal: stop.signal,
        });
        const { port } = server.address() as AddressInfo;
        const host = o.host.includes(":") ? `[${o.host}]` : o.host;
        if (!o.apiKey && !isLoopback(o.host)) say(`note: listening on ${o.host} without --api-key: anyone who can reach this machine can use the model`);
        say(`listening on http://${host}:${port} (model ${context.model.path}${files.projector ? `, projector ${files.projector}` : ""})`);
        await stopped(stop.signal);
        say("stopping: aborting the requests running");
      } finally {
        process.off("SIGTERM", onTerm);
        await close(server);
        await model?.dispose();
      }
    });
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "EADDRINUSE" ? new Error(`${host}:${port} is in use: choose another --port`) : error),
    );
    server.listen(port, host, () => resolve());
  });
}

function stopped(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** Stops taking connections and waits for the open ones: requests running were aborted with `signal`. */
function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    // Keep-alive connections become idle as their aborted requests end: close them as they do.
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    // Connections still busy after a moment (a client that does not read its aborted stream) are cut.
    const cut = setTimeout(() => server.closeAllConnections(), 2000);
    server.close(() => {
      clearInterval(idle);
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections();
  });
}
