// Image encoders for the fuzz harness: every format the addon decodes (stb_image: png, jpeg, gif, bmp),
// written by code so no image blob is committed. They make valid files of any shape the mutators then
// damage: PNG of every colour type and bit depth, a baseline JPEG of 1, 3 or 4 (CMYK) components, a GIF
// of one or many frames, a 24-bit BMP.
import { deflateSync } from "node:zlib";
import { pngChunk } from "../../dist/png.js";

// Chunks (length, type, data, CRC) as the package's own PNG writer frames them.
export { pngChunk };

const PNG_CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * A PNG: colourType 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA; bitDepth 1..16 as the type allows.
 * `interlace` only sets the header flag (the data stays non-interlaced: a lie the decoder must survive).
 */
export function encodePng({ width, height, colourType = 2, bitDepth = 8, interlace = 0, random }) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width >>> 0, 0);
  header.writeUInt32BE(height >>> 0, 4);
  header.set([bitDepth, colourType, 0, 0, interlace], 8);
  const channels = PNG_CHANNELS[colourType] ?? 3;
  const stride = Math.ceil((width * channels * bitDepth) / 8);
  // Random bytes tiled (cheap at any size); filter bytes 0..4 are all valid, and palette indices stay
  // within the 16 colours.
  const rows = Buffer.alloc(Math.min(height, 4096) * (stride + 1));
  const tile = Buffer.from(Array.from({ length: 997 }, () => Math.floor(random() * 256) & (colourType === 3 ? 0x0f : 0xff)));
  if (rows.length) rows.fill(tile);
  for (let i = 0; i < rows.length; i += stride + 1) rows[i] &= 3;
  const chunks = [pngChunk("IHDR", header)];
  if (colourType === 3) chunks.push(pngChunk("PLTE", Buffer.from(Array.from({ length: 16 * 3 }, () => Math.floor(random() * 256)))));
  chunks.push(pngChunk("IDAT", deflateSync(rows)), pngChunk("IEND", Buffer.alloc(0)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks]);
}

function segment(marker, body) {
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt16BE(0xff00 | marker, 0);
  out.writeUInt16BE(body.length + 2, 2);
  body.copy(out, 4);
  return out;
}

/**
 * A baseline JPEG whose every 8×8 block is flat (DC difference 0, then end-of-block), with one-code
 * Huffman tables: each block is two 0 bits, so any size and component count is a few bytes of scan.
 * components 4 adds Adobe's APP14 marker (transform 0): a CMYK JPEG.
 */
export function encodeJpeg({ width, height, components = 3 }) {
  const parts = [Buffer.from([0xff, 0xd8])];
  if (components === 4) parts.push(segment(0xee, Buffer.from([0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, 0])));
  parts.push(segment(0xdb, Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 1)])));
  const sof = Buffer.alloc(6 + 3 * components);
  sof[0] = 8;
  sof.writeUInt16BE(height & 0xffff, 1);
  sof.writeUInt16BE(width & 0xffff, 3);
  sof[5] = components;
  for (let c = 0; c < components; c++) sof.set([c + 1, 0x11, 0], 6 + 3 * c);
  parts.push(segment(0xc0, sof));
  const oneCode = (classAndId) => Buffer.concat([Buffer.from([classAndId, 1]), Buffer.alloc(15), Buffer.from([0])]);
  parts.push(segment(0xc4, oneCode(0x00)), segment(0xc4, oneCode(0x10)));
  const sos = Buffer.alloc(4 + 2 * components);
  sos[0] = components;
  for (let c = 0; c < components; c++) sos.set([c + 1, 0x00], 1 + 2 * c);
  sos.set([0, 63, 0], 1 + 2 * components);
  parts.push(segment(0xda, sos));
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8) * components;
  const scan = Buffer.alloc(Math.ceil((2 * Math.min(blocks, 1 << 22)) / 8));
  const usedBits = (2 * blocks) % 8;
  if (usedBits && scan.length) scan[scan.length - 1] = 0xff >>> usedBits; // pad with 1 bits
  if (scan.length && scan[scan.length - 1] === 0xff) parts.push(scan, Buffer.from([0x00]));
  else parts.push(scan);
  parts.push(Buffer.from([0xff, 0xd9]));
  return Buffer.concat(parts);
}

/** LZW of 8-bit indices at a fixed 9-bit code size: a clear code every 250 codes keeps the table small. */
function lzw(indices) {
  const out = [];
  let acc = 0;
  let bits = 0;
  const put = (code) => {
    acc |= code << bits;
    bits += 9;
    while (bits >= 8) {
      out.push(acc & 0xff);
      acc >>>= 8;
      bits -= 8;
    }
  };
  for (let i = 0; i < indices.length; i++) {
    if (i % 250 === 0) put(256);
    put(indices[i]);
  }
  put(257);
  if (bits > 0) out.push(acc & 0xff);
  const blocks = [8];
  for (let i = 0; i < out.length; i += 255) {
    const part = out.slice(i, i + 255);
    blocks.push(part.length, ...part);
  }
  blocks.push(0);
  return Buffer.from(blocks);
}

/** A GIF89a with a 256-colour table and `frames` frames (more than one: an animation, looping). */
export function encodeGif({ width, height, frames = 1, random }) {
  const head = Buffer.alloc(13);
  head.write("GIF89a", 0, "latin1");
  head.writeUInt16LE(width & 0xffff, 6);
  head.writeUInt16LE(height & 0xffff, 8);
  head.set([0xf7, 0, 0], 10);
  const palette = Buffer.from(Array.from({ length: 768 }, () => Math.floor(random() * 256)));
  const parts = [head, palette];
  if (frames > 1) parts.push(Buffer.from([0x21, 0xff, 0x0b, ...Buffer.from("NETSCAPE2.0", "latin1"), 3, 1, 0, 0, 0]));
  const pixels = Math.min(width * height, 1 << 16);
  for (let f = 0; f < frames; f++) {
    parts.push(Buffer.from([0x21, 0xf9, 4, 0, 10, 0, 0, 0]));
    const descriptor = Buffer.alloc(10);
    descriptor[0] = 0x2c;
    descriptor.writeUInt16LE(width & 0xffff, 5);
    descriptor.writeUInt16LE(height & 0xffff, 7);
    parts.push(descriptor, lzw(Array.from({ length: pixels }, () => Math.floor(random() * 256))));
  }
  parts.push(Buffer.from([0x3b]));
  return Buffer.concat(parts);
}

/** A 24-bit bottom-up BMP. */
export function encodeBmp({ width, height, random }) {
  const stride = (Math.abs(width) * 3 + 3) & ~3;
  const dataBytes = stride * Math.min(Math.abs(height), 4096);
  const out = Buffer.alloc(54 + dataBytes);
  out.write("BM", 0, "latin1");
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(width | 0, 18);
  out.writeInt32LE(height | 0, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  out.writeUInt32LE(dataBytes, 34);
  if (dataBytes) out.fill(Buffer.from(Array.from({ length: 997 }, () => Math.floor(random() * 256))), 54);
  return out;
}
