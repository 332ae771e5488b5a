// pull() against a local server that answers as the Hub does (no network here), into a Hugging Face cache
// folder laid out as huggingface_hub lays it out.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { downloadLockPath, snapshotPath } from "../../lib/hub/hf-cache.js";
import { pull } from "../../lib/hub/pull.js";
import { parseHubRef } from "../../lib/hub/reference.js";
import { populateHfCache } from "./fake-hf-cache.js";
import { commitFor, sha256, startFakeHub, type FakeHub } from "./hub-server.js";

const body = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) % 251));
const repo = { owner: "owner", repo: "repo", commit: commitFor("owner/repo"), files: { "dir/model.gguf": body } };
const folder = () => join(process.env.HF_HUB_CACHE!, "models--owner--repo");
let hub: FakeHub;

beforeAll(async () => {
  hub = await startFakeHub([repo]);
  process.env.STAGEBEAM_HF_ENDPOINT = hub.url;
});

beforeEach(() => {
  const home = mkdtempSync(join(tmpdir(), "stagebeam-hf-"));
  process.env.HF_HOME = home; // no token file of the machine's user is read
  process.env.HF_HUB_CACHE = join(home, "hub");
  process.env.STAGEBEAM_CACHE = join(home, "stagebeam");
  delete process.env.HF_TOKEN;
  hub.requests = [];
  hub.mode = "ok";
});

afterAll(async () => {
  await hub.close();
  for (const name of ["STAGEBEAM_HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "STAGEBEAM_CACHE"]) delete process.env[name];
});

test("downloads into the Hugging Face cache layout: blob by SHA-256, relative snapshot link, ref", async () => {
  const progress: number[] = [];
  const path = await pull("hf:owner/repo/dir/model.gguf", { onProgress: (received) => progress.push(received) });
  expect(path).toBe(join(folder(), "snapshots", repo.commit, "dir", "model.gguf"));
  expect(lstatSync(path).isSymbolicLink()).toBe(true);
  expect(readlinkSync(path)).toBe(join("..", "..", "..", "blobs", sha256(body)));
  expect(readFileSync(path).equals(body)).toBe(true);
  expect(readFileSync(join(folder(), "refs", "main"), "utf8")).toBe(repo.commit);
  expect(existsSync(join(folder(), "blobs", `${sha256(body)}.incomplete`))).toBe(false);
  expect(progress.at(-1)).toBe(body.length);
  // the metadata comes from the Hub's answer (a redirect to its CDN), the bytes from the CDN, by commit
  expect(hub.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
    "HEAD /owner/repo/resolve/main/dir/model.gguf",
    `GET /owner/repo/resolve/${repo.commit}/dir/model.gguf`,
    `GET /cdn/${sha256(body)}`,
  ]);
  hub.requests = [];
  expect(await pull("hf:owner/repo/dir/model.gguf")).toBe(path);
  expect(await pull(`hf:owner/repo@${repo.commit}/dir/model.gguf`)).toBe(path);
  expect(hub.requests).toHaveLength(0); // cached: no request at all
});

test("a cache huggingface_hub filled is used as it is, with no request", async () => {
  populateHfCache(process.env.HF_HUB_CACHE!, repo);
  const path = await pull("hf:owner/repo/dir/model.gguf");
  expect(path).toBe(join(folder(), "snapshots", repo.commit, "dir", "model.gguf"));
  expect(readFileSync(path).equals(body)).toBe(true);
  expect(hub.requests).toHaveLength(0);
});

test("snapshots holding copies (no symlinks, as on Windows) are used too", async () => {
  populateHfCache(process.env.HF_HUB_CACHE!, repo, { copies: true });
  expect(readFileSync(await pull("hf:owner/repo/dir/model.gguf")).equals(body)).toBe(true);
  expect(hub.requests).toHaveLength(0);
});

test("a blob already in the cache (from another commit or file) is linked without downloading it", async () => {
  const blob = join(folder(), "blobs", sha256(body));
  mkdirSync(join(folder(), "blobs"), { recursive: true });
  writeFileSync(blob, body);
  const path = await pull("hf:owner/repo/dir/model.gguf");
  expect(readFileSync(path).equals(body)).toBe(true);
  expect(hub.requests.map((r) => r.method)).toEqual(["HEAD"]);
});

test("a cut connection keeps blobs/<sha>.incomplete, and the next pull resumes it with a Range request", async () => {
  hub.mode = "cut";
  await expect(pull("hf:owner/repo/dir/model.gguf")).rejects.toMatchObject({ code: "DOWNLOAD_FAILED" });
  const part = join(folder(), "blobs", `${sha256(body)}.incomplete`);
  const kept = statSync(part).size;
  expect(kept).toBeGreaterThan(0);
  expect(kept).toBeLessThan(body.length);
  // nothing that looks like the file: no blob, no snapshot entry
  expect(existsSync(join(folder(), "blobs", sha256(body)))).toBe(false);
  expect(existsSync(join(folder(), "snapshots", repo.commit, "dir", "model.gguf"))).toBe(false);
  hub.mode = "ok";
  const path = await pull("hf:owner/repo/dir/model.gguf");
  expect(hub.requests.at(-1)!.range).toBe(`bytes=${kept}-`);
  expect(readFileSync(path).equals(body)).toBe(true);
  expect(existsSync(part)).toBe(false);
});

test("a checksum mismatch removes the download and is CHECKSUM_MISMATCH", async () => {
  hub.mode = "bad-sha";
  await expect(pull("hf:owner/repo/dir/model.gguf")).rejects.toMatchObject({ code: "CHECKSUM_MISMATCH" });
  const blobs = join(folder(), "blobs");
  expect(existsSync(join(blobs, "0".repeat(64)))).toBe(false);
  expect(existsSync(join(blobs, `${"0".repeat(64)}.incomplete`))).toBe(false);
  expect(existsSync(join(folder(), "snapshots", repo.commit, "dir", "model.gguf"))).toBe(false);
});

test("HF_TOKEN is sent as a bearer token", async () => {
  process.env.HF_TOKEN = "hf_test_token";
  await pull("hf:owner/repo/dir/model.gguf");
  expect(hub.requests[0]!.authorization).toBe("Bearer hf_test_token");
  // never to the CDN, another host
  expect(hub.requests.find((r) => r.url.startsWith("/cdn/"))!.authorization).toBeUndefined();
});

test("missing files and malformed references are typed errors", async () => {
  await expect(pull("hf:owner/repo/other.gguf")).rejects.toMatchObject({ code: "MODEL_NOT_FOUND" });
  await expect(pull("hf:owner/nothing/model.gguf")).rejects.toMatchObject({ code: "MODEL_NOT_FOUND", message: expect.stringContaining("repository") });
  hub.mode = "error";
  await expect(pull("hf:owner/repo/dir/model.gguf")).rejects.toMatchObject({ code: "DOWNLOAD_FAILED" });
  expect(() => parseHubRef("hf:owner/model.gguf")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  expect(parseHubRef("hf:o/r@v2/a/b.gguf")).toEqual({ owner: "o", repo: "r", revision: "v2", path: "a/b.gguf" });
});

test("an unreachable Hub is DOWNLOAD_FAILED naming the cache it looked in", async () => {
  process.env.STAGEBEAM_HF_ENDPOINT = "http://127.0.0.1:1";
  try {
    await expect(pull("hf:owner/repo/dir/model.gguf")).rejects.toMatchObject({ code: "DOWNLOAD_FAILED", message: expect.stringContaining(process.env.HF_HUB_CACHE!) });
  } finally {
    process.env.STAGEBEAM_HF_ENDPOINT = hub.url;
  }
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
  expect(() => snapshotPath({ owner: "..", repo: "..", revision: "..", path: "x.gguf" }, repo.commit)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  expect(() => snapshotPath({ owner: "o", repo: "r", revision: "main", path: "../../../../x.gguf" }, repo.commit)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  expect(() => snapshotPath({ owner: "o", repo: "r", revision: "main", path: "x.gguf" }, "../../..")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  expect(hub.requests).toHaveLength(0);
  // ordinary names with dots, dashes and underscores still work
  expect(parseHubRef("hf:meta-llama/Llama-3.2-11B-Vision.GGUF@v1.0/sub_dir/model-Q4_K_M.gguf").path).toBe("sub_dir/model-Q4_K_M.gguf");
});

test("an aborted download keeps its partial file", async () => {
  hub.mode = "cut";
  const controller = new AbortController();
  const pending = pull("hf:owner/repo/dir/model.gguf", { signal: controller.signal, onProgress: () => controller.abort() });
  await expect(pending).rejects.toMatchObject({ code: "ABORTED" });
  expect(existsSync(join(folder(), "blobs", `${sha256(body)}.incomplete`))).toBe(true);
  expect(existsSync(join(folder(), "snapshots", repo.commit, "dir", "model.gguf"))).toBe(false);
});

test("a download another live process holds the lock for is waited for, then its blob used; a dead holder's lock is taken over", async () => {
  const lock = downloadLockPath("owner", "repo", sha256(body));
  mkdirSync(join(lock, ".."), { recursive: true });
  writeFileSync(lock, String(process.pid)); // "another process", alive
  const waited: number[] = [];
  const pending = pull("hf:owner/repo/dir/model.gguf", { onWait: (pid) => waited.push(pid) });
  await new Promise((r) => setTimeout(r, 500));
  expect(waited).toEqual([process.pid]);
  expect(hub.requests.map((r) => r.method)).toEqual(["HEAD"]); // nothing downloaded while it waits
  mkdirSync(join(folder(), "blobs"), { recursive: true });
  writeFileSync(join(folder(), "blobs", sha256(body)), body); // the other process finishes
  rmSync(lock);
  expect(readFileSync(await pending).equals(body)).toBe(true);
  expect(hub.requests.map((r) => r.method)).toEqual(["HEAD"]); // its blob, not a second download
  expect(existsSync(lock)).toBe(false);

  rmSync(folder(), { recursive: true });
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
  mkdirSync(join(lock, ".."), { recursive: true });
  writeFileSync(lock, dead);
  expect(readFileSync(await pull("hf:owner/repo/dir/model.gguf")).equals(body)).toBe(true);
  expect(existsSync(lock)).toBe(false);
}, 20_000);
