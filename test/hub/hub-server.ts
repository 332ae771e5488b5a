// A local stand-in for the Hugging Face Hub (no network in tests), answering as the Hub does:
// - HEAD/GET {url}/OWNER/REPO/resolve/REVISION/PATH (REVISION: "main" or the commit): a 302 to the "CDN"
//   (another host name) carrying X-Repo-Commit, X-Linked-Etag (the SHA-256) and X-Linked-Size, as for LFS files;
//   404 with X-Error-Code for a missing repository, revision or file;
// - GET {url}/cdn/SHA256: the bytes, with Range support;
// - GET {url}/api/models/OWNER/REPO/revision/REVISION: { sha, siblings: [{ rfilename }] }.
// Every request is recorded; `mode` makes the next downloads break off ("cut"), carry a wrong checksum
// ("bad-sha") or fail ("error").
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeRepo {
  owner: string;
  repo: string;
  commit: string;
  files: Record<string, Buffer>;
}

export interface HubRequest {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

export interface FakeHub {
  url: string;
  /** The same server under another host name, as the Hub's CDN is another host. */
  cdnUrl: string;
  requests: HubRequest[];
  mode: "ok" | "cut" | "bad-sha" | "error";
  close(): Promise<void>;
}

export const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** A deterministic commit hash for a test repository. */
export const commitFor = (name: string) => createHash("sha1").update(name).digest("hex");

export async function startFakeHub(repos: FakeRepo[]): Promise<FakeHub> {
  const blobs = new Map<string, Buffer>();
  for (const repo of repos) for (const body of Object.values(repo.files)) blobs.set(sha256(body), body);
  const hub: FakeHub = { url: "", cdnUrl: "", requests: [], mode: "ok", close: async () => {} };

  const server = createServer((req, res) => {
    hub.requests.push({ method: req.method!, url: req.url!, range: req.headers.range, authorization: req.headers.authorization });
    const url = decodeURIComponent(req.url!.split("?")[0]!);
    if (hub.mode === "error") return void res.writeHead(500).end();

    const api = /^\/api\/models\/([^/]+)\/([^/]+)\/revision\/([^/]+)$/.exec(url);
    if (api) {
      const repo = repos.find((r) => r.owner === api[1] && r.repo === api[2]);
      if (!repo) return void res.writeHead(404, { "x-error-code": "RepoNotFound" }).end();
      if (api[3] !== "main" && api[3] !== repo.commit) return void res.writeHead(404, { "x-error-code": "RevisionNotFound" }).end();
      const body = JSON.stringify({ id: `${repo.owner}/${repo.repo}`, sha: repo.commit, siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })) });
      return void res.writeHead(200, { "content-type": "application/json" }).end(body);
    }

    const resolve = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    if (resolve) {
      const repo = repos.find((r) => r.owner === resolve[1] && r.repo === resolve[2]);
      if (!repo) return void res.writeHead(404, { "x-error-code": "RepoNotFound" }).end();
      if (resolve[3] !== "main" && resolve[3] !== repo.commit) return void res.writeHead(404, { "x-error-code": "RevisionNotFound" }).end();
      const body = repo.files[resolve[4]!];
      if (!body) return void res.writeHead(404, { "x-error-code": "EntryNotFound" }).end();
      const sha = sha256(body);
      return void res
        .writeHead(302, {
          location: `${hub.cdnUrl}/cdn/${sha}`,
          "x-repo-commit": repo.commit,
          "x-linked-etag": `"${hub.mode === "bad-sha" ? "0".repeat(64) : sha}"`,
          "x-linked-size": String(body.length),
          "content-length": "0",
        })
        .end();
    }

    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url);
    const body = cdn && blobs.get(cdn[1]!);
    if (!body) return void res.writeHead(404).end();
    const start = req.headers.range ? Number(/bytes=(\d+)-/.exec(req.headers.range)![1]) : 0;
    if (start >= body.length && start > 0) return void res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
    const slice = body.subarray(start);
    res.writeHead(start > 0 ? 206 : 200, {
      "content-length": String(slice.length),
      ...(start > 0 ? { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    if (req.method === "HEAD") return void res.end();
    if (hub.mode === "cut" && start === 0) {
      res.write(slice.subarray(0, Math.floor(slice.length / 4)));
      setTimeout(() => res.destroy(), 20); // the connection drops mid-file
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hub.cdnUrl = `http://localhost:${(server.address() as AddressInfo).port}`;
  hub.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // fetch keeps connections alive; close would wait for them
    });
  return hub;
}
