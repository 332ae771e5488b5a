// An `image_url` part's URL as image bytes. data: URIs always; file:// URLs only inside the folder the
// server was started with (--media-path), so a client cannot make the server read any file it can; no
// remote fetching (a server that fetches URLs for clients is an open proxy).
import { readFile, realpath } from "node:fs/promises";
import { resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { badRequest, HttpError } from "./http-error.js";

const dataUri = /^data:([^;,]*)((?:;[^;,]*)*?),(.*)$/s;

export async function imageBytes(url: string, mediaPath: string | undefined): Promise<Uint8Array> {
  if (url.startsWith("data:")) return dataUriBytes(url);
  if (url.startsWith("file:")) return mediaFileBytes(url, mediaPath);
  throw badRequest("image_url must be a data: URI (data:image/png;base64,…), or a file:// URL inside the server's --media-path: this server does not fetch remote images", "unsupported_image_url");
}

function dataUriBytes(url: string): Uint8Array {
  const match = dataUri.exec(url);
  if (!match) throw badRequest("image_url is a malformed data: URI: write data:image/png;base64,…", "invalid_image");
  const [, mime, params, payload] = match;
  if (mime && !mime.startsWith("image/")) throw badRequest(`image_url is a data: URI of ${mime}, not an image`, "invalid_image");
  const bytes = params!.split(";").includes("base64") ? Buffer.from(payload!, "base64") : Buffer.from(decodeURIComponent(payload!), "latin1");
  if (bytes.length === 0) throw badRequest("image_url holds an empty image", "invalid_image");
  return bytes;
}

const inside = (path: string, root: string) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
const outside = (url: string) => new HttpError(403, "invalid_request_error", "forbidden_path", `${url} is outside the server's --media-path`);

async function mediaFileBytes(url: string, mediaPath: string | undefined): Promise<Uint8Array> {
  if (!mediaPath) throw badRequest("file:// image URLs are off: start the server with --media-path DIR to allow files inside DIR", "unsupported_image_url");
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch (error) {
    throw badRequest(`image_url is not a valid file:// URL: ${(error as Error).message}`, "invalid_image");
  }
  // The path as written, then with links resolved: a link inside the folder must not lead out of it.
  // Checking the written path first also keeps "no such file" from telling what exists outside.
  if (!inside(resolve(path), resolve(mediaPath))) throw outside(url);
  const real = await realpath(path).catch(() => {
    throw new HttpError(400, "invalid_request_error", "image_not_found", `no image at ${url} (inside --media-path)`);
  });
  if (!inside(real, await realpath(mediaPath))) throw outside(url);
  try {
    return await readFile(real);
  } catch (error) {
    throw new HttpError(400, "invalid_request_error", "image_not_found", `cannot read ${url}: ${(error as Error).message}`);
  }
}
