// `stagebeam serve` as a process, driven by the official openai client on the tiny fixtures.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { encodePng, rgbPattern } from "../fixtures/images.js";
import { repoRoot, tinyClip, tinyLlama } from "../fixtures/models.js";

const cli = join(repoRoot, "dist", "cli", "main.js");

interface Served {
  process: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `stagebeam serve` on a free port; resolves once it says its URL. */
function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [cli, "serve", "-m", tinyLlama(), "--projector", tinyClip(), "--port", "0", "--threads", "1", ...args], {
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (data: Buffer) => {
      stderr += data.toString();
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (url) resolve({ process: child, url, stderr: () => stderr, exited });
    });
    void exited.then((code) => reject(new Error(`stagebeam serve exited with ${code}: ${stderr}`)));
  });
}

/** A response body as JSON, untyped: the tests check its shape. */
const json = (r: Response): Promise<any> => r.json();

let server: Served;
let locked: Served;
let client: OpenAI;
const model = "tiny-llama.gguf";
const hi = [{ role: "user" as const, content: "Hello there" }];
const dataUri = `data:image/png;base64,${encodePng(56, 56, rgbPattern(56, 56, 21)).toString("base64")}`;

/** A gauge or counter of /metrics. */
/** A streamed completion's text, last finish reason and usage, gathered from its chunks. */
async function collect(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<{ text: string; finish: string | null; usage?: OpenAI.CompletionUsage }> {
  let text = "";
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  return { text, finish, usage };
}

async function metric(name: string, url = server.url, headers: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers })).text();
  const match = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  if (!match) throw new Error(`no ${name} in /metrics`);
  return Number(match[1]);
}

beforeAll(async () => {
  [server, locked] = await Promise.all([serve([]), serve(["--api-key", "sesame", "--parallel", "1", "--max-queue", "0"])]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

afterAll(() => {
  server?.process.kill("SIGTERM");
  locked?.process.kill("SIGTERM");
});

describe("stagebeam serve", () => {
  test("binds 127.0.0.1 by default; /health, /v1/models", async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await json(await fetch(`${server.url}/health`))).toEqual({ status: "ok" });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([model]);
  });

  test("a plain chat completion, whole and streamed, with usage", async () => {
    const whole = await client.chat.completions.create({ model, messages: hi, max_tokens: 10, temperature: 0 });
    expect(whole.choices[0]!.finish_reason).toBe("length");
    expect(whole.usage!.completion_tokens).toBe(10);
    expect(whole.usage!.total_tokens).toBe(whole.usage!.prompt_tokens + 10);

    const stream = await client.chat.completions.create({ model, messages: hi, max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true } });
    const { text, finish, usage } = await collect(stream);
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(finish).toBe("length");
    expect(usage).toEqual(whole.usage);
  });

  test("an image as a data: URI", async () => {
    const before = await metric("stagebeam_image_encodes_total");
    const r = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: dataUri } }, { type: "text", text: "What is in the image?" }] }],
      max_tokens: 4,
    });
    expect(r.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(await metric("stagebeam_image_encodes_total")).toBe(before + 1);
  });

  test("staged reasoning: reasoning_content holds the stages, content the conclusion", async () => {
    const body = {
      model,
      messages: [{ role: "user" as const, content: [{ type: "image_url" as const, image_url: { url: dataUri } }, { type: "text" as const, text: "What is it?" }] }],
      seed: 2,
      reasoning_effort: "low" as const,
      stagebeam: { forceStructure: "prefill", maxStageTokens: 4 },
    };
    const whole = await client.chat.completions.create(body);
    const message = whole.choices[0]!.message as typeof whole.choices[0]["message"] & { reasoning_content: string };
    expect(message.reasoning_content).toMatch(/^<SUMMARY> .*<\/SUMMARY>\n\n<CAPTION> .*<\/CAPTION>\n\n<REASONING> .*<\/REASONING>$/s);
    expect(message.content!.length).toBeGreaterThan(0);

    const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    let reasoning = "";
    let content = "";
    const kinds: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
      if (delta?.reasoning_content) kinds.push("reasoning");
      if (delta?.content) kinds.push("content");
      reasoning += delta?.reasoning_content ?? "";
      content += delta?.content ?? "";
      usage = chunk.usage ?? usage;
    }
    expect(reasoning).toBe(message.reasoning_content);
    expect(content).toBe(message.content);
    // reasoning_effort low: a lone candidate per stage, streamed token by token as it is written — more
    // reasoning chunks than stages, all before the answer's
    expect(kinds.filter((k) => k === "reasoning").length).toBeGreaterThan(3);
    expect(kinds.indexOf("content")).toBe(kinds.lastIndexOf("reasoning") + 1);
    expect(usage!.completion_tokens).toBe(whole.usage!.completion_tokens);
  });

  test("an error in OpenAI's shape reaches the client as its error class", async () => {
    await expect(client.chat.completions.create({ model: "gpt-4", messages: hi })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.chat.completions.create({ model, messages: hi, temperature: 7 })).rejects.toMatchObject({ status: 400, code: "invalid_request" });
  });

  test("what fetch's Request cannot hold (a TRACE) is a 400, not a crash", async () => {
    const status = await new Promise<number>((resolve, reject) =>
      request(`${server.url}/health`, { method: "TRACE" }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      })
        .on("error", reject)
        .end(),
    );
    expect(status).toBe(400);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  test("a body over 20 MB is 413", async () => {
    const r = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "x".repeat(21 * 1024 * 1024) }] }),
    });
    expect(r.status).toBe(413);
    expect((await json(r)).error.code).toBe("request_too_large");
  });

  test("--api-key: 401 without it; --max-queue: 429 past it", async () => {
    const wrong = new OpenAI({ baseURL: `${locked.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    await expect(wrong.chat.completions.create({ model, messages: hi, max_tokens: 1 })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const right = new OpenAI({ baseURL: `${locked.url}/v1`, apiKey: "sesame", maxRetries: 0 });
    // --parallel 1 --max-queue 0: while one stream runs, the next request is refused.
    const running = await right.chat.completions.create({ model, messages: hi, max_tokens: 1500, temperature: 0, stream: true });
    const iterator = running[Symbol.asyncIterator]();
    await iterator.next();
    const refused = right.chat.completions.create({ model, messages: hi, max_tokens: 1 });
    await expect(refused).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    running.controller.abort();
    await expect.poll(() => metric("stagebeam_requests_running", locked.url, { authorization: "Bearer sesame" })).toBe(0);
    expect((await right.chat.completions.create({ model, messages: hi, max_tokens: 1 })).choices).toHaveLength(1);
  });

  test("a client that goes away mid-stream: its work stops and its cells are freed", async () => {
    // The prompt once first, so the prefix cache holds it and its cells stay put.
    await client.chat.completions.create({ model, messages: hi, max_tokens: 1 });
    const cells = await metric("stagebeam_kv_cells_used");
    const tokens = await metric("stagebeam_completion_tokens_total");
    const stream = await client.chat.completions.create({ model, messages: hi, max_tokens: 1500, temperature: 0, stream: true });
    let chunks = 0;
    for await (const _ of stream) {
      if (++chunks === 5) break; // leaving the loop aborts the request
    }
    await expect.poll(() => metric("stagebeam_requests_running")).toBe(0);
    expect(await metric("stagebeam_kv_cells_used")).toBe(cells);
    expect(await metric("stagebeam_completion_tokens_total")).toBe(tokens); // an aborted request counts no tokens
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('stagebeam_requests_total{route="/v1/chat/completions",status="499"}');
  });

  test("a client that gives up on a whole (unstreamed) answer: its work stops too", async () => {
    await client.chat.completions.create({ model, messages: hi, max_tokens: 1 });
    const cells = await metric("stagebeam_kv_cells_used");
    const request = client.chat.completions.create({ model, messages: hi, max_tokens: 2000, temperature: 0 }, { signal: AbortSignal.timeout(100) });
    await expect(request).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    await expect.poll(() => metric("stagebeam_requests_running")).toBe(0);
    expect(await metric("stagebeam_kv_cells_used")).toBe(cells);
  });

  test("12 concurrent streaming clients all complete", async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const stream = await client.chat.completions.create({
          model,
          messages: [{ role: "user", content: `Question number ${i}` }],
          max_tokens: 16,
          seed: i,
          stream: true,
          stream_options: { include_usage: true },
        });
        return collect(stream);
      }),
    );
    for (const r of results) {
      expect(r.finish).toMatch(/^(stop|length)$/);
      expect(r.usage!.completion_tokens).toBeGreaterThan(0);
    }
    expect(await metric("stagebeam_requests_running")).toBe(0);
    expect(await metric("stagebeam_queue_length")).toBe(0);
  });

  test.each([
    [["--port", "70000"], "--port must be at most 65535"],
    [["--media-path", "/no/such/folder"], "--media-path /no/such/folder is not a folder"],
    [["--max-queue", "-1"], "--max-queue must be a non-negative integer"],
  ])("usage error %j exits 2", (args, message) => {
    const r = spawnSync(process.execPath, [cli, "serve", "-m", tinyLlama(), ...args], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
  });

  test("a model without a chat template: exit 1 naming --chat-template; with one, it serves", async () => {
    const bare = tinyLlama("tiny-llama-no-template", { chatTemplate: null });
    const r = spawnSync(process.execPath, [cli, "serve", "-m", bare, "--port", "0"], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("--chat-template NAME|FILE");
    const templated = await serve(["-m", bare, "--chat-template", "chatml"]);
    try {
      const c = new OpenAI({ baseURL: `${templated.url}/v1`, apiKey: "unused", maxRetries: 0 });
      const answer = await c.chat.completions.create({ model: "tiny-llama-no-template.gguf", messages: hi, max_tokens: 2 });
      expect(answer.usage!.completion_tokens).toBe(2);
    } finally {
      templated.process.kill("SIGTERM");
      await templated.exited;
    }
  });

  test("a port in use: exit 1 naming it", () => {
    const port = new URL(server.url).port;
    const r = spawnSync(process.execPath, [cli, "serve", "-m", tinyLlama(), "--port", port], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`127.0.0.1:${port} is in use`);
  });

  test("SIGTERM stops the server: the stream running ends, the process exits 0", async () => {
    const own = await serve([]);
    const ownClient = new OpenAI({ baseURL: `${own.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const stream = await ownClient.chat.completions.create({ model, messages: hi, max_tokens: 1500, temperature: 0, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    own.process.kill("SIGTERM");
    const drained = (async () => {
      for (;;) if ((await iterator.next()).done) return;
    })();
    await drained.catch(() => {}); // ended, by an error frame or a closed connection
    expect(await own.exited).toBe(0);
    expect(own.stderr()).toContain("stopping");
  });
});
