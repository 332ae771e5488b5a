// A seeded test image as a 24-bit BMP (stb_image reads it; no image library needed), for the image row.
import { writeFileSync } from "node:fs";

export function writeBmp(path, width, height, seed = 1) {
  const rowBytes = Math.ceil((width * 3) / 4) * 4;
  const data = Buffer.alloc(54 + rowBytes * height);
  data.write("BM", 0);
  data.writeUInt32LE(data.length, 2);
  data.writeUInt32LE(54, 10);
  data.writeUInt32LE(40, 14);
  data.writeInt32LE(width, 18);
  data.writeInt32LE(height, 22);
  data.writeUInt16LE(1, 26);
  data.writeUInt16LE(24, 28);
  data.writeUInt32LE(rowBytes * height, 34);
  let a = seed >>> 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width * 3; x++) {
      a = (Math.imul(a ^ (a >>> 15), 2246822507) + 0x6d2b79f5) >>> 0;
      data[54 + y * rowBytes + x] = a & 0xff;
    }
  }
  writeFileSync(path, data);
  return path;
}
