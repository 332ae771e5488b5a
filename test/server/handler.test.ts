// The handler on web-standard Requests, in process, on the tiny fixtures: routes, errors, plain and
// staged completions, streaming, the queue bound.
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, type Context, type Model } from "../../lib/index.js";
import { plainChatPrompt } from "../../lib/chat-prompt.js";
import { createServerHandler, type ServerHandler } from "../../lib/server/handler.js";
import { loadingResponse } from "../../lib/server/loading-response.js";
import { encodePng, rgbPattern } from "../fixtures/images.js";
import { fixturesDir, tinyClip, tinyLlama } from "../fixtures/models.js";
import { joined, readSse } from "./sse.js";

/** A response body as JSON, untyped: the tests check its shape. */
const json = (r: Response): Promise<any> => r.json();

let model: Model;
let context: Context;
let handler: ServerHandler;
const mediaDir = join(fixturesDir, "server-media");
const png = encodePng(56, 56, rgbPattern(56, 56, 5));
const dataUri = `data:image/png;base64,${png.toString("base64")}`;

const post = (body: unknown, h: ServerHandler = handler, headers: Record<string, string> = {}) =>
  h(new Request("http://localhost/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) }));
const get = (path: string, h: ServerHandler = handler) => h(new Request(`http://localhost${path}`));
const hi = [{ role: "user", content: "Hello there" }];
const staged = { reasoning_effort: "low", stagebeam: { forceStructure: "prefill", maxStageTokens: 4 } };

beforeAll(async () => {
  mkdirSync(mediaDir, { recursive: true });
  writeFileSync(join(mediaDir, "photo.png"), png);
  rmSync(join(mediaDir, "link.png"), { force: true });
  writeFileSync(join(fixturesDir, "server-outside.png"), png);
  symlinkSync(join(fixturesDir, "server-outside.png"), join(mediaDir, "link.png"));
  model = await loadModel({ path: tinyLlama(), projector: tinyClip() });
  context = await model.createContext({ contextSize: 1024, sequences: 16, threads: 1, prefixCache: { sequences: 2 } });
  handler = createServerHandler({ model, context, mediaPath: mediaDir });
});

afterAll(async () => {
  await model?.dispose();
});

describe("routes", () => {
  test("/health, /v1/models, /v1/models/ID, /metrics", async () => {
    expect(await json(await get("/health"))).toEqual({ status: "ok" });
    const models = await json(await get("/v1/models"));
    expect(models).toEqual({ object: "list", data: [{ id: "tiny-llama.gguf", object: "model", created: 0, owned_by: "stagebeam" }] });
    expect((await get("/v1/models/tiny-llama.gguf")).status).toBe(200);
    const metrics = await (await get("/metrics")).text();
    expect(metrics).toContain('stagebeam_requests_total{route="/health",status="200"} 1');
    expect(metrics).toMatch(/^stagebeam_kv_cells_used \d+$/m);
  });

  test("/metrics counts the batch steps a completion ran, their tokens and their native seconds", async () => {
    const counter = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)![1]);
    const names = ["stagebeam_decode_calls_total", "stagebeam_decode_tokens_total", "stagebeam_decode_seconds_total", "stagebeam_output_read_seconds_total"];
    const before = await (await get("/metrics")).text();
    const response = await post({ messages: hi, max_tokens: 4, temperature: 0 });
    const { usage } = (await json(response)) as { usage: { prompt_tokens: number; completion_tokens: number } };
    const after = await (await get("/metrics")).text();
    const delta = Object.fromEntries(names.map((n) => [n, counter(after, n) - counter(before, n)]));
    // at least one step per generated token after the first (sampled from the prompt's step)
    expect(delta.stagebeam_decode_calls_total).toBeGreaterThanOrEqual(usage.completion_tokens);
    // a prompt served from the prefix cache evaluates fewer tokens than it has; the generated ones all pass
    expect(delta.stagebeam_decode_tokens_total).toBeGreaterThanOrEqual(usage.completion_tokens - 1);
    expect(delta.stagebeam_decode_tokens_total).toBeLessThanOrEqual(usage.prompt_tokens + usage.completion_tokens);
    expect(delta.stagebeam_decode_seconds_total).toBeGreaterThan(0);
    expect(delta.stagebeam_output_read_seconds_total).toBeGreaterThanOrEqual(0);
  });

  test("while the model loads, every route is 503 with Retry-After", async () => {
    const r = loadingResponse();
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("1");
    expect((await json(r)).error.code).toBe("model_loading");
  });

  test("unknown routes and models are 404, a wrong method 405, all in OpenAI's error shape", async () => {
    const missing = await get("/v1/completions");
    expect(missing.status).toBe(404);
    expect(await json(missing)).toMatchObject({ error: { type: "not_found_error", code: "not_found" } });
    expect((await get("/v1/models/gpt-4")).status).toBe(404);
    expect((await get("/v1/models/%E0%A4%A")).status).toBe(404);
    const model404 = await post({ model: "gpt-4", messages: hi });
    expect(model404.status).toBe(404);
    expect((await json(model404)).error.code).toBe("model_not_found");
    const wrong = await get("/v1/chat/completions");
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
  });

  test("with an API key: 401 without the right bearer token, /health open", async () => {
    const locked = createServerHandler({ model, context, apiKey: "sesame" });
    const refused = await post({ messages: hi, max_tokens: 1 }, locked);
    expect(refused.status).toBe(401);
    expect((await json(refused)).error).toMatchObject({ type: "authentication_error", code: "invalid_api_key" });
    expect((await post({ messages: hi, max_tokens: 1 }, locked, { authorization: "Bearer wrong" })).status).toBe(401);
    expect((await get("/metrics", locked)).status).toBe(401);
    expect((await get("/health", locked)).status).toBe(200);
    expect((await post({ messages: hi, max_tokens: 1 }, locked, { authorization: "Bearer sesame" })).status).toBe(200);
  });
});

describe("request errors", () => {
  test("invalid JSON and invalid fields are 400", async () => {
    const r = await handler(new Request("http://localhost/v1/chat/completions", { method: "POST", body: "{not json" }));
    expect(r.status).toBe(400);
    expect((await json(r)).error.code).toBe("invalid_json");
    const field = await post({ messages: hi, temperature: 9 });
    expect(field.status).toBe(400);
    expect((await json(field)).error.message).toContain("temperature");
  });

  test("nothing a client sends is a 500", async () => {
    const u = { role: "user", content: "x" };
    const bodies = [
      "null", "true", '"text"', "[]", "1e999", '{"messages": null}', '{"messages": "hi"}', '{"messages": [null]}', '{"messages": [[]]}',
      JSON.stringify({ messages: [{ role: "user", content: [null] }] }),
      JSON.stringify({ messages: [{ role: "user", content: [{ type: "text", text: null }] }] }),
      JSON.stringify({ messages: [{ role: "user", content: [{ type: "image_url", image_url: "data:," }] }] }),
      JSON.stringify({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:," } }] }] }),
      JSON.stringify({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,!!!" } }] }] }),
      JSON.stringify({ messages: [{ role: { x: 1 }, content: "x" }] }),
      JSON.stringify({ messages: [u], stop: null, stagebeam: null, stream_options: null, max_tokens: null, max_completion_tokens: 1 }),
      '{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1e999}',
      JSON.stringify({ messages: [u], seed: 2 ** 53 }),
      JSON.stringify({ messages: [u], stream_options: [] }),
      JSON.stringify({ messages: [{ role: "user", content: "" }], reasoning_effort: "low" }),
      '{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1, "__proto__": {"stream": true}, "constructor": 1}',
    ];
    for (const body of bodies) {
      const r = await handler(new Request("http://localhost/v1/chat/completions", { method: "POST", body }));
      expect(r.status, body).toBeLessThan(500);
    }
  });

  test("a body over the bound is 413", async () => {
    const small = createServerHandler({ model, context, maxBodyBytes: 1000 });
    const r = await post({ messages: [{ role: "user", content: "x".repeat(2000) }] }, small);
    expect(r.status).toBe(413);
    expect((await json(r)).error.code).toBe("request_too_large");
  });

  test("image URLs: remote refused, file:// only inside the media path, a broken image 400", async () => {
    const image = (url: string) => post({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url } }, { type: "text", text: "What?" }] }], max_tokens: 1 });
    expect((await image("https://example.com/cat.png")).status).toBe(400);
    expect((await image(pathToFileURL(join(fixturesDir, "server-outside.png")).href)).status).toBe(403);
    expect((await image(pathToFileURL(join(mediaDir, "..", "server-outside.png")).href)).status).toBe(403);
    expect((await image(pathToFileURL(join(mediaDir, "none.png")).href)).status).toBe(400);
    expect((await image(pathToFileURL(join(mediaDir, "link.png")).href)).status).toBe(403); // a link out of the folder
    expect((await image(pathToFileURL(join(mediaDir, "photo.png")).href)).status).toBe(200);
    const broken = await image(`data:image/png;base64,${png.subarray(0, 40).toString("base64")}`);
    expect(broken.status).toBe(400);
    expect((await json(broken)).error.code).toBe("invalid_image");
    const webp = await image(`data:image/webp;base64,${Buffer.from("RIFF\0\0\0\0WEBPVP8 ").toString("base64")}`);
    expect((await json(webp)).error.code).toBe("unsupported_image");
  });

  test("a prompt past the context is 400 context_length_exceeded", async () => {
    const small = await model.createContext({ contextSize: 256, sequences: 4, threads: 1 });
    const r = await post({ messages: [{ role: "user", content: "word ".repeat(small.contextSize + 10) }] }, createServerHandler({ model, context: small }));
    expect(r.status).toBe(400);
    expect((await json(r)).error.code).toBe("context_length_exceeded");
    await small.dispose();
  });
});

describe("plain chat completions", () => {
  test("usage counts the prompt's tokens and the generated ones", async () => {
    const r = await post({ messages: hi, max_tokens: 6, temperature: 0 });
    expect(r.status).toBe(200);
    const body = await json(r);
    expect(body).toMatchObject({ object: "chat.completion", model: "tiny-llama.gguf", choices: [{ index: 0, finish_reason: "length", message: { role: "assistant" } }] });
    expect(body.choices[0].message.reasoning_content).toBeUndefined();
    const prompt = model.tokenize(model.applyChatTemplate(hi), { parseSpecial: true });
    expect(body.usage).toEqual({ prompt_tokens: prompt.length, completion_tokens: 6, total_tokens: prompt.length + 6 });
  });

  test("message text is plain: `</s>` and the media marker a client sends stay text", async () => {
    const text = `end </s> here ${model.projector!.marker} and [INST]`;
    const messages = [
      { role: "system", content: "be brief </s>" },
      { role: "user", content: text },
    ];
    const r = await post({ messages, max_tokens: 2, temperature: 0 });
    expect(r.status).toBe(200);
    const expected = await context.createSequenceFrom(plainChatPrompt(model, messages, { fix: "" }));
    const tokens = [...expected.tokens];
    await expected.dispose();
    // the tiny template ends a system (non-user) message with its own `</s>`: that one, and not the client's two
    const eos = (t: readonly number[]) => t.filter((token) => token === model.metadata.specialTokens.eos).length;
    expect(eos(tokens)).toBe(1);
    expect(eos(model.tokenize(model.applyChatTemplate(messages), { parseSpecial: true }))).toBe(3);
    expect((await json(r)).usage.prompt_tokens).toBe(tokens.length);
    // with an image, the marker in the text is not a second image
    const withImage = await post({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: dataUri } }, { type: "text", text }] }], max_tokens: 2, temperature: 0 });
    expect(withImage.status).toBe(200);
  });

  test("streaming sends what the plain response holds, framed as OpenAI frames it", async () => {
    const whole = await json(await post({ messages: hi, max_tokens: 12, temperature: 0 }));
    const r = await post({ messages: hi, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
    expect(r.headers.get("content-type")).toContain("text/event-stream");
    const { chunks, done } = await readSse(r);
    expect(done).toBe(true);
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    for (const c of chunks) expect(c).toMatchObject({ object: "chat.completion.chunk", id: chunks[0].id });
    const last = chunks.at(-1);
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
    expect(chunks.at(-2).choices[0].finish_reason).toBe("length");
    expect(joined(chunks).content).toBe(whole.choices[0].message.content);
  });

  test("a stop string ends the text before it, streamed or not", async () => {
    const text: string = (await json(await post({ messages: hi, max_tokens: 16, temperature: 0 }))).choices[0].message.content;
    const stop = text.slice(10, 13);
    const cut = text.slice(0, text.indexOf(stop));
    const whole = await json(await post({ messages: hi, max_tokens: 16, temperature: 0, stop }));
    expect(whole.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: cut } });
    const { chunks } = await readSse(await post({ messages: hi, max_tokens: 16, temperature: 0, stop: [stop], stream: true }));
    expect(joined(chunks).content).toBe(cut);
  });

  test("an image as a data: URI is encoded once, then found in the prefix cache", async () => {
    const before = context.stats.imageEncodes;
    const other = `data:image/png;base64,${encodePng(48, 40, rgbPattern(48, 40, 6)).toString("base64")}`;
    const messages = [{ role: "user", content: [{ type: "image_url", image_url: { url: other } }, { type: "text", text: "What is in the image?" }] }];
    const a = await json(await post({ messages, max_tokens: 4, temperature: 0 }));
    const b = await json(await post({ messages, max_tokens: 4, temperature: 0 }));
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
    expect(context.stats.imageEncodes - before).toBe(1);
    expect(a.usage.prompt_tokens).toBeGreaterThan(model.tokenize("What is in the image?").length + 10);
  });
});

describe("staged reasoning", () => {
  test("SUMMARY, CAPTION and REASONING are the reasoning, the CONCLUSION the content; streamed the same", async () => {
    const messages = [{ role: "user", content: [{ type: "image_url", image_url: { url: dataUri } }, { type: "text", text: "What is it?" }] }];
    const r = await post({ messages, seed: 1, ...staged });
    expect(r.status).toBe(200);
    const body = await json(r);
    const message = body.choices[0].message;
    expect(message.reasoning_content).toMatch(/^<SUMMARY> .* <\/SUMMARY>\n\n<CAPTION> .* <\/CAPTION>\n\n<REASONING> .* <\/REASONING>$/s);
    expect(message.reasoning).toBe(message.reasoning_content);
    expect(message.content.length).toBeGreaterThan(0);
    expect(message.content).not.toContain("<");
    expect(body.usage.completion_tokens).toBeGreaterThanOrEqual(4);

    const { chunks, done } = await readSse(await post({ messages, seed: 1, stream: true, stream_options: { include_usage: true }, ...staged }));
    expect(done).toBe(true);
    // reasoning_effort low: one candidate per stage, streamed token by token (more than a chunk a stage)
    const reasoningChunks = chunks.filter((c) => c.choices[0]?.delta.reasoning_content !== undefined);
    expect(reasoningChunks.length).toBeGreaterThan(3);
    expect(joined(chunks)).toEqual({ content: message.content, reasoning: message.reasoning_content });
    // the same tokens sampled (prompt_tokens counts what the search evaluated, less once the prompt is cached)
    const usage = chunks.at(-1).usage;
    expect(usage.completion_tokens).toBe(body.usage.completion_tokens);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
  });

  test("a searched stage (width 2) streams once decided: one reasoning chunk per stage, the same text", async () => {
    const body = { messages: hi, seed: 3, reasoning_effort: "medium", stagebeam: { forceStructure: "prefill", maxStageTokens: 4, judge: "logprob" } };
    const message = (await json(await post(body))).choices[0].message;
    const { chunks } = await readSse(await post({ ...body, stream: true }));
    expect(chunks.filter((c) => c.choices[0]?.delta.reasoning_content !== undefined)).toHaveLength(3);
    expect(chunks.filter((c) => c.choices[0]?.delta.content)).toHaveLength(1);
    expect(joined(chunks)).toEqual({ content: message.content, reasoning: message.reasoning_content });
  });

  test("a stop string cuts the answer (not the reasoning), streamed per token or not", async () => {
    const body = { messages: hi, seed: 4, ...staged, stagebeam: { forceStructure: "prefill", maxStageTokens: 12 } };
    const full = (await json(await post(body))).choices[0].message.content as string;
    expect(full.length).toBeGreaterThan(2);
    const stop = full.slice(1, 3); // two characters from inside the answer
    const cut = (await json(await post({ ...body, stop }))).choices[0];
    expect(cut.message.content).toBe(full.slice(0, full.indexOf(stop)));
    expect(cut.finish_reason).toBe("stop");
    const { chunks } = await readSse(await post({ ...body, stop, stream: true }));
    expect(joined(chunks).content).toBe(cut.message.content);
    expect(joined(chunks).reasoning).toBe(cut.message.reasoning_content);
    expect(chunks.at(-1).choices[0].finish_reason).toBe("stop");
  });

  test("concurrent searches and plain completions on the shared context all complete", async () => {
    const searches = ["low", "medium", "low"].map((effort, i) =>
      post({ messages: [{ role: "user", content: `Question ${i}?` }], seed: i, reasoning_effort: effort, stagebeam: { forceStructure: "prefill", maxStageTokens: 3, judge: "logprob" } }),
    );
    const plain = [0, 1].map((i) => post({ messages: [{ role: "user", content: `Plain ${i}` }], max_tokens: 8 }));
    const bodies = await Promise.all([...searches, ...plain].map(async (r) => json(await r)));
    for (const body of bodies.slice(0, 3)) expect(body.choices[0].message.reasoning_content).toContain("</REASONING>");
    for (const body of bodies.slice(3)) expect(body.usage.completion_tokens).toBe(8);
  });

  test("a search wider than the context can hold is 400, at once", async () => {
    const r = await post({ messages: hi, stagebeam: { width: 16, forceStructure: "prefill", maxStageTokens: 2 } });
    expect(r.status).toBe(400);
    expect((await json(r)).error.code).toBe("width_too_large");
  });
});

describe("queue and cancellation", () => {
  test("a server that stops mid-stream ends the stream with an error frame", async () => {
    const stopping = new AbortController();
    const h = createServerHandler({ model, context, signal: stopping.signal });
    const r = await post({ messages: hi, max_tokens: 800, temperature: 0, stream: true }, h);
    const reader = r.body!.getReader();
    await reader.read();
    stopping.abort();
    let rest = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
    const frames = rest.trim().split("\n\n");
    expect(frames.at(-1)).toMatch(/^data: \{"error":/);
    expect(JSON.parse(frames.at(-1)!.slice(6)).error).toMatchObject({ type: "server_error", code: "shutting_down" });
    expect(rest).not.toContain("[DONE]");
  });

  test("requests that together need more KV cells than the context has wait for each other, none fails", async () => {
    const small = await model.createContext({ contextSize: 256, sequences: 8, threads: 1 });
    const h = createServerHandler({ model, context: small });
    const responses = await Promise.all(
      [0, 1, 2, 3, 4].map(async (i) => json(await post({ messages: [{ role: "user", content: `Request ${i}` }], max_tokens: 120, temperature: 0, seed: i }, h))),
    );
    // 5 × (prompt + 120) cells do not fit in 256: they wait, give cells back and resume, and each gets all 120.
    for (const body of responses) {
      expect(body.error).toBeUndefined();
      expect(body.choices[0].finish_reason).toBe("length");
      expect(body.usage.completion_tokens).toBe(120);
    }
    expect(small.usedCells).toBe(0);
    await small.dispose();
  });

  test("past maxQueue a request is 429 with Retry-After; cancelling a stream frees its cells", async () => {
    const one = createServerHandler({ model, context, parallel: 1, maxQueue: 0 });
    // The same prompt once first: the prefix cache holds it from then on, so the cells it keeps do not change.
    expect((await post({ messages: hi, max_tokens: 1 }, one)).status).toBe(200);
    const cellsBefore = context.usedCells;
    const stream = await post({ messages: hi, max_tokens: 800, temperature: 0, stream: true }, one);
    const reader = stream.body!.getReader();
    await reader.read();
    const refused = await post({ messages: hi, max_tokens: 1 }, one);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect((await json(refused)).error).toMatchObject({ type: "rate_limit_error", code: "queue_full" });
    await reader.read();
    expect(context.usedCells).toBeGreaterThan(cellsBefore);
    await reader.cancel();
    await expect.poll(async () => (await (await get("/metrics", one)).text()).match(/^stagebeam_requests_running (\d+)$/m)![1]).toBe("0");
    await expect.poll(() => context.usedCells).toBe(cellsBefore);
    expect(await (await get("/metrics", one)).text()).toContain('route="/v1/chat/completions",status="499"');
    expect((await post({ messages: hi, max_tokens: 1 }, one)).status).toBe(200);
  });
});
