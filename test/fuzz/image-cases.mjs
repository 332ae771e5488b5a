// Fuzz class "image": images in every format the decoder reads (png, jpeg, gif, bmp) and some it does
// not, made by code in odd shapes (1×1, zero sides, 16-bit, palette, gray+alpha, CMYK JPEG, animated
// GIF, headers claiming 65535×65535), then damaged (truncated, bytes or checksums corrupted); plus inputs
// that are not images at all: empty bytes, text, a directory, a missing path, bad raw RGB objects. Each
// arrives as bytes, a file path or a data URL. A decoded image is then encoded into a sequence.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeBmp, encodeGif, encodeJpeg, encodePng, pngChunk } from "./encoders.mjs";

const SIDES = [0, 1, 1, 2, 3, 7, 8, 13, 56, 57, 100, 300, 65535];

const FORMATS = {
  png: (r, w, h) => {
    const [colourType, bitDepth] = r.pick([[0, 1], [0, 8], [0, 16], [2, 8], [2, 16], [3, 1], [3, 4], [3, 8], [4, 8], [4, 16], [6, 8], [6, 16], [2, 3], [5, 8]]);
    return encodePng({ width: w, height: h, colourType, bitDepth, interlace: r.chance(0.1) ? 1 : 0, random: r });
  },
  jpeg: (r, w, h) => encodeJpeg({ width: w, height: h, components: r.pick([1, 3, 4, 2]) }),
  gif: (r, w, h) => encodeGif({ width: w, height: h, frames: r.pick([1, 1, 2, 5]), random: r }),
  bmp: (r, w, h) => encodeBmp({ width: r.chance(0.1) ? -w : w, height: r.chance(0.2) ? -h : h, random: r }),
  webp: (r) => Buffer.concat([Buffer.from("RIFF\x10\x00\x00\x00WEBPVP8 ", "latin1"), r.bytes(16)]),
  tiff: (r) => Buffer.concat([Buffer.from("II*\x00", "latin1"), r.bytes(32)]),
  svg: () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'),
};

const NOT_IMAGES = [
  () => Buffer.alloc(0),
  () => Buffer.from("hello, I am not an image"),
  (r) => r.bytes(r.int(1, 64)),
  () => Buffer.from([0x89, 0x50, 0x4e]),
  () => Buffer.from([0x89, 0x50, 0x4e, 0x47]),
  () => Buffer.from([0xff, 0xd8, 0xff]),
  () => Buffer.from("GIF8"),
  () => Buffer.from("BM"),
  () => Buffer.alloc(4096, 0),
];

/** The encoded image the case starts from (before damage). */
function encoded(c, r) {
  if (c.source === "notImage") return NOT_IMAGES[c.which](r);
  return FORMATS[c.format](r, c.width, c.height);
}

function damage(c, bytes, r) {
  const out = Buffer.from(bytes);
  switch (c.damage) {
    case "truncate":
      return out.subarray(0, Math.floor(out.length * c.fraction));
    case "flip":
      for (let i = 0; i < c.flips; i++) if (out.length) out[r.int(0, out.length - 1)] ^= 1 << r.int(0, 7);
      return out;
    case "checksum":
      // PNG: the IHDR's CRC; other formats: a byte near the end.
      if (out.length > 33) out[29 + r.int(0, 3)] ^= 0xff;
      return out;
    case "bombHeader": {
      // A valid PNG header claiming a huge image, with checksums right.
      if (c.format !== "png") return out;
      const header = Buffer.alloc(13);
      header.writeUInt32BE(c.bomb[0], 0);
      header.writeUInt32BE(c.bomb[1], 4);
      header.set([8, 2, 0, 0, 0], 8);
      return Buffer.concat([out.subarray(0, 8), pngChunk("IHDR", header), out.subarray(33)]);
    }
    case "trailing":
      return Buffer.concat([out, r.bytes(r.int(1, 512))]);
    default:
      return out;
  }
}

export function makeCase(r) {
  const kind = r.pick(["encoded", "encoded", "encoded", "encoded", "notImage", "raw", "path"]);
  const delivery = r.pick(["bytes", "file", "dataUrl", "dataUrlPlain"]);
  if (kind === "raw") {
    const w = r.pick([0, 1, 2, 56, -1, 1.5, Number.NaN, 70000, 2 ** 31]);
    const h = r.pick([0, 1, 2, 56, -1, 1.5, 70000]);
    return { kind, width: w, height: h, dataLength: r.pick(["exact", "short", "long", "none", "array"]), seed: r.int(0, 1e9) };
  }
  if (kind === "path") return { kind, path: r.pick(["missing", "directory", "emptyFile", "dataUrlBroken", "dataUrlEmpty", "relative"]) };
  if (kind === "notImage") return { kind, source: "notImage", which: r.int(0, NOT_IMAGES.length - 1), delivery, seed: r.int(0, 1e9) };
  const format = r.pick(Object.keys(FORMATS));
  const damageKind = r.pick(["none", "none", "truncate", "flip", "checksum", "bombHeader", "trailing"]);
  return {
    kind,
    format,
    width: r.pick(SIDES),
    height: r.pick(SIDES),
    damage: damageKind,
    fraction: r(),
    flips: r.int(1, 16),
    bomb: r.pick([[65535, 65535], [0x7fffffff, 1], [1, 0x7fffffff], [100000, 100000], [16384, 16384], [8193, 8192], [0xffffffff, 0xffffffff]]),
    delivery,
    seed: r.int(0, 1e9),
  };
}

/** The ImageInput the case passes, and whether it is expected to be usable at all. */
export function caseInput(c, resources, r) {
  const tmp = resources.tmp;
  if (c.kind === "raw") {
    const n = Number.isFinite(c.width * c.height) && c.width * c.height > 0 && c.width * c.height < 1e7 ? Math.floor(c.width * c.height * 3) : 3;
    const lengths = { exact: n, short: Math.max(0, n - 1), long: n + 3 };
    if (c.dataLength === "none") return { width: c.width, height: c.height };
    if (c.dataLength === "array") return { width: c.width, height: c.height, data: Array.from({ length: 3 }, () => 0) };
    return { width: c.width, height: c.height, data: new Uint8Array(lengths[c.dataLength]) };
  }
  if (c.kind === "path") {
    const dir = join(tmp, "a-directory");
    mkdirSync(dir, { recursive: true });
    const empty = join(tmp, "empty.png");
    writeFileSync(empty, "");
    return { missing: join(tmp, "no-such-image.png"), directory: dir, emptyFile: empty, dataUrlBroken: "data:image/png;base64,@@@@", dataUrlEmpty: "data:,", relative: "./no/such.png" }[c.path];
  }
  const bytes = c.kind === "notImage" ? encoded(c, r) : damage(c, encoded(c, r), r);
  // A data URL of hundreds of MB would fail in this harness (string length), not in the library.
  switch (bytes.length > 1 << 24 && c.delivery.startsWith("dataUrl") ? "bytes" : c.delivery) {
    case "file": {
      const path = join(tmp, `image-${resources.serial++}.bin`);
      writeFileSync(path, bytes);
      return path;
    }
    case "dataUrl":
      return `data:image/png;base64,${bytes.toString("base64")}`;
    case "dataUrlPlain":
      return `data:application/octet-stream,${encodeURIComponent(bytes.toString("latin1"))}`;
    default:
      return new Uint8Array(bytes);
  }
}

export async function runCase(c, resources) {
  const { caseRandom } = await import("./random.mjs");
  const r = caseRandom(c.seed ?? 0, "image-bytes", 0);
  const input = caseInput(c, resources, r);
  const { model, context } = await resources.shared();
  const image = await model.projector.loadImage(input);
  if (!(image.width > 0 && image.height > 0)) return { status: "violation", code: "EMPTY_IMAGE", message: `decoded to ${image.width}×${image.height}` };
  const sequence = context.createSequence();
  try {
    await sequence.evaluate({ prompt: `look: ${model.projector.marker}`, images: [input] });
  } finally {
    await sequence.dispose();
  }
}
