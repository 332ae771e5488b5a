// `stagebeam rpc-server` and `--rpc` on `run` and `serve`, as processes: two rpc-servers started by the
// CLI carry a `run` whose answer equals the local one.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { repoRoot, tinyLlama } from "../fixtures/models.js";
import { freePort, startRpcServer, type RunningRpcServer } from "../rpc/rpc-servers.js";

const cli = join(repoRoot, "dist", "cli", "main.js");
const env = { ...process.env, NO_COLOR: "1" };
const stagebeam = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env, timeout: 120_000 });
const question = ["-m", tinyLlama(), "--force-structure", "prefill", "--max-stage-tokens", "6", "--strategy", "single", "--threads", "1", "--seed", "7"];

const servers: RunningRpcServer[] = [];

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    servers.push(await startRpcServer(process.execPath, (port) => [cli, "rpc-server", "--port", String(port), "--threads", "1"]));
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

describe("run --rpc", () => {
  test("the answer through two rpc-servers equals the local one", async () => {
    const local = stagebeam(["run", ...question, "--json", "Why is the sky blue?"]);
    expect(local.status, local.stderr).toBe(0);
    const split = stagebeam(["run", ...question, "--json", "--rpc", servers.map((s) => s.endpoint).join(","), "Why is the sky blue?"]);
    expect(split.status, split.stderr).toBe(0);
    const text = (r: { stdout: string }) => (JSON.parse(r.stdout) as { text: string }).text;
    expect(text(split)).toBe(text(local));
    expect(text(local).length).toBeGreaterThan(0);
    // Each server took the run's connections besides the readiness probe's: the layers ran there.
    await vi.waitFor(() => {
      for (const s of servers) expect(s.output().split("Accepted client connection").length - 1).toBeGreaterThan(2);
    });
  }, 120_000);

  test("a malformed endpoint is a usage error (exit 2) on run and serve", () => {
    for (const command of ["run", "serve"]) {
      const r = stagebeam([command, "-m", tinyLlama(), "--rpc", "127.0.0.1", "Why?"]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("--rpc");
      expect(r.stderr).toContain("port is missing");
    }
  });

  test("a server that is not there: exit 1 with RPC_UNREACHABLE, at once", async () => {
    const r = stagebeam(["run", ...question, "--rpc", `127.0.0.1:${await freePort()}`, "Why?"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("[RPC_UNREACHABLE]");
  });
});

/** `stagebeam serve` on a free port with `args`; one plain greedy chat completion; then stopped. */
async function serveOnce(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [cli, "serve", "-m", tinyLlama(), "--port", "0", "--threads", "1", ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let stderr = "";
      child.stderr!.on("data", (d) => {
        stderr += d;
        const found = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
        if (found) resolve(found);
      });
      void exited.then(() => reject(new Error(`serve exited: ${stderr}`)));
    });
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "Why is the sky blue?" }], max_tokens: 12, temperature: 0 }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

describe("serve --rpc", () => {
  test("a greedy completion through two rpc-servers equals the local one", async () => {
    const local = await serveOnce([]);
    expect(local.length).toBeGreaterThan(0);
    expect(await serveOnce(["--rpc", servers.map((s) => s.endpoint).join(",")])).toBe(local);
  }, 120_000);
});

describe("rpc-server", () => {
  test("serves on 127.0.0.1 by default and stops cleanly (exit 0) on SIGTERM", async () => {
    const server = await startRpcServer(process.execPath, (port) => [cli, "rpc-server", "--port", String(port), "--threads", "1"]);
    expect(await server.stop()).toBe(0);
    expect(server.output()).toContain(`endpoint       : 127.0.0.1:${server.port}`);
  });

  test("warns that RPC is unauthenticated when it listens beyond this machine", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [cli, "rpc-server", "--host", "0.0.0.0", "--port", String(port), "--threads", "1"], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    await new Promise<void>((resolve) => {
      child.stderr!.on("data", (d) => {
        stderr += d;
        if (stderr.includes("no authentication")) resolve();
      });
      child.once("exit", () => resolve());
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
    expect(stderr).toContain("no authentication");
  });

  test("a port out of range is a usage error", () => {
    expect(stagebeam(["rpc-server", "--port", "0"]).status).toBe(2);
    expect(stagebeam(["rpc-server", "--port", "70000"]).status).toBe(2);
  });
});
