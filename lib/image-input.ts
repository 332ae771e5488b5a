// What users pass as an image, turned into a decoded native Image with a content id.
//
// Accepted: a file path; a Buffer/Uint8Array of an encoded jpg, png, bmp or gif; a `data:` URL; raw RGB
// `{ width, height, data }`. Formats the decoder (stb_image inside libmtmd) lacks are refused by name,
// before decoding. The id is the SHA-256 of the decoded pixels and size, so the same picture gets the
// same id whichever way it arrives — that is what the prefix cache keys on.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { ImageInput, RawImage } from "./engine/prompt-input.js";
import { createError, native, nativeSync } from "./errors.js";
import type { NativeImage, NativeProjector } from "./native.js";
// Defined by the engine contract (lib/engine); re-exported for code that imports them from here.
export type { ImageInput, RawImage };

const decodable: [string, (b: Uint8Array) => boolean][] = [
  ["png", (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47],
  ["jpeg", (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff],
  ["gif", (b) => b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46],
  ["bmp", (b) => b[0] === 0x42 && b[1] === 0x4d],
];

const undecodable: [string, (b: Uint8Array) => boolean][] = [
  ["webp", (b) => ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP"],
  ["avif", (b) => ascii(b, 4, 8) === "ftyp" && ["avif", "avis"].includes(ascii(b, 8, 12))],
  ["heic", (b) => ascii(b, 4, 8) === "ftyp" && ["heic", "heix", "mif1", "msf1"].includes(ascii(b, 8, 12))],
  ["tiff", (b) => ascii(b, 0, 4) === "II*\0" || ascii(b, 0, 4) === "MM\0*"],
  ["svg", (b) => /^\s*(<\?xml|<svg)/.test(ascii(b, 0, 64))],
];

function ascii(b: Uint8Array, from: number, to: number): string {
  return Buffer.from(b.subarray(from, to)).toString("latin1");
}

/** The encoded format's name, or throws UNSUPPORTED_IMAGE naming what it is. */
export function imageFormat(bytes: Uint8Array): string {
  for (const [name, test] of decodable) if (bytes.length >= 4 && test(bytes)) return name;
  for (const [name, test] of undecodable) {
    if (bytes.length >= 12 && test(bytes)) {
      throw createError("UNSUPPORTED_IMAGE", `${name} images are not supported: convert the image to png or jpeg first`);
    }
  }
  throw createError("UNSUPPORTED_IMAGE", "the image format is not recognised: pass a png, jpeg, bmp or gif file, or raw RGB");
}

async function encodedBytes(input: string | Uint8Array): Promise<Uint8Array> {
  if (typeof input !== "string") return input;
  const dataUrl = /^data:([^;,]*)(;base64)?,(.*)$/s.exec(input);
  if (dataUrl) {
    return dataUrl[2] ? Buffer.from(dataUrl[3]!, "base64") : Buffer.from(decodeURIComponent(dataUrl[3]!), "latin1");
  }
  try {
    return await readFile(input);
  } catch (error) {
    throw createError("IMAGE_NOT_FOUND", `cannot read image file ${input}: ${(error as Error).message}`, error);
  }
}

/** What decodes images: a libmtmd projector, or the addon's own decoder (engines without libmtmd). */
export type ImageDecoder = Pick<NativeProjector, "decodeImage" | "imageFromRgb">;

export async function decodeImage(projector: ImageDecoder, input: ImageInput): Promise<NativeImage> {
  let image: NativeImage;
  if (typeof input === "object" && !(input instanceof Uint8Array)) {
    if (!input || !Number.isInteger(input.width) || !Number.isInteger(input.height) || !(input.data instanceof Uint8Array)) {
      throw createError("INVALID_ARGUMENT", "a raw image is { width, height, data: Uint8Array of RGB bytes }");
    }
    image = nativeSync(() => projector.imageFromRgb(input.width, input.height, input.data));
  } else {
    const bytes = await encodedBytes(input);
    if (bytes.length === 0) throw createError("INVALID_IMAGE", "the image is empty");
    imageFormat(bytes);
    image = await native(() => projector.decodeImage(bytes));
  }
  image.id = createHash("sha256").update(`${image.width}x${image.height}:`).update(image.pixels()).digest("hex");
  return image;
}
