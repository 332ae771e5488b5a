// pull() against a local server that serves the Hub's URL layout (no network here), with the headers
// the Hub sends: Content-Length, Range support, and X-Linked-Etag carrying the SHA-256 of LFS files.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { cachedPath, parseHubRef, pull } from "../../lib/hub/pull.js";

const body = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) % 251));
const sha = createHash("sha256").update(body).digest("hex");
let server: Server;
let requests: { url: string; range?: string }[] = [];
let mode: "ok" | "cut" | "bad-sha" = "ok";

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push({ url: req.url!, range: req.headers.range });
    if (req.url !== "/owner/repo/resolve/main/dir/model.gguf") {
      res.writeHead(404).end();
      return;
    }
    const start = req.headers.range ? Number(/bytes=(\d+)-/.exec(req.headers.range)![1]) : 0;
    const slice = body.subarray(start);
    res.writeHead(start > 0 ? 206 : 200, {
      "content-length": String(slice.length),
      "x-linked-etag": `"${mode === "bad-sha" ? "0".repeat(64) : sha}"`,
      ...(start > 0 ? { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    if (mode === "cut" && start === 0) {
      res.write(slice.subarray(0, 50_000));
      setTimeout(() => res.destroy(), 20); // the connection drops mid-file
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  process.env.STAGEBEAM_HF_ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  process.env.STAGEBEAM_CACHE = mkdtempSync(join(tmpdir(), "stagebeam-cache-"));
  requests = [];
  mode = "ok";
});

afterAll(() => {
  server.close();
  delete process.env.STAGEBEAM_HF_ENDPOINT;
});

test("downloads into the cache by the Hub's URL layout and checks the SHA-256", async () => {
  const progress: number[] = [];
  const path = await pull("hf:owner/repo/dir/model.gguf", { onProgress: (received) => progress.push(received) });
  expect(path).toBe(cachedPath(parseHubRef("hf:owner/repo/dir/model.gguf")));
  expect(readFileSync(path).equals(body)).toBe(true);
  expect(progress.at(-1)).toBe(body.length);
  expect(await pull("hf:owner/repo/dir/model.gguf")).toBe(path); // cached: no second request
  expect(requests).toHaveLength(1);
});

test("a cut connection keeps the partial file, and the next pull resumes it with a Range request", async () => {
  mode = "cut";
  await expect(pull("hf:owner/repo/dir/model.gguf")).rejects.toMatchObject({ code: "DOWNLOAD_FAILED" });
  const part = `${cachedPath(parseHubRef("hf:owner/repo/dir/model.gguf"))}.part`;
  expect(existsSync(part)).toBe(true);
  const kept = statSync(part).size;
  expect(kept).toBeGreaterThan(0);
  expect(kept).toBeLessThan(body.length);
  mode = "ok";
  const path = await pull("hf:owner/repo/dir/model.gguf");
  expect(requests.at(-1)!.range).toBe(`bytes=${kept}-`);
  expect(readFileSync(path).equals(body)).toBe(true);
});

test("a checksum mismatch removes the download and is CHECKSUM_MISMATCH", async () => {
  mode = "bad-sha";
  await expect(pull("hf:owner/repo/dir/model.gguf")).rejects.toMatchObject({ code: "CHECKSUM_MISMATCH" });
  const path = cachedPath(parseHubRef("hf:owner/repo/dir/model.gguf"));
  expect(existsSync(path)).toBe(false);
  expect(existsSync(`${path}.part`)).toBe(false);
});

test("missing files and malformed references are typed errors", async () => {
  await expect(pull("hf:owner/repo/other.gguf")).rejects.toMatchObject({ code: "MODEL_NOT_FOUND" });
  expect(() => parseHubRef("hf:owner/model.gguf")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  expect(parseHubRef("hf:o/r@v2/a/b.gguf")).toEqual({ owner: "o", repo: "r", revision: "v2", path: "a/b.gguf" });
});

test("references never resolve outside the cache folder", async () => {
  const escapes = [
    "hf:owner/repo/../../../../etc/evil.gguf",
    "hf:owner/repo/dir/../../x.gguf",
    "hf:../repo/x.gguf",
    "hf:owner/..@main/x.gguf",
    "hf:owner/repo@../x.gguf",
    "hf:owner/repo@..%2f..%2f/x.gguf",
    "hf:owner/repo//etc/x.gguf",
    "hf:owner/repo/./x.gguf",
    "hf:owner/repo/C:\\Windows\\x.gguf",
    "hf:owner/repo/a\\..\\..\\x.gguf",
    "hf:owner/repo/a\u0000b.gguf",
    "hf:.hidden/repo/x.gguf",
  ];
  for (const ref of escapes) {
    expect(() => parseHubRef(ref), ref).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    await expect(pull(ref), ref).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  }
  expect(() => cachedPath({ owner: "..", repo: "..", revision: "..", path: "x.gguf" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  // ordinary names with dots, dashes and underscores still work
  expect(parseHubRef("hf:meta-llama/Llama-3.2-11B-Vision.GGUF@v1.0/sub_dir/model-Q4_K_M.gguf").path).toBe("sub_dir/model-Q4_K_M.gguf");
});

test("an aborted download keeps its partial file", async () => {
  mode = "cut";
  const controller = new AbortController();
  const pending = pull("hf:owner/repo/dir/model.gguf", { signal: controller.signal, onProgress: () => controller.abort() });
  await expect(pending).rejects.toMatchObject({ code: "ABORTED" });
  void writeFileSync;
});
