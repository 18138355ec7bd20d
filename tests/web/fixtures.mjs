// Files the tests upload: PNG pictures built in memory, and the small audio, video and PDF fixtures of the API tests.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";

import { chunk } from "../compat/png.mjs";

const fixturesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures");

/** Returns the bytes of a file in tests/fixtures. */
export function fixture(name) {
  return readFileSync(path.join(fixturesDir, name));
}

/**
 * Returns an 8-bit RGB PNG of `width` x `height`: a vertical gradient from the `top` to the `bottom` colour
 * (`[r, g, b]`) under a darker band of "hills", so that screenshots show recognisable pictures.
 */
export function makePicture(width, height, { top, bottom }) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const rowLength = 1 + width * 3;
  const pixels = Buffer.alloc(rowLength * height);
  for (let y = 0; y < height; y++) {
    const t = y / Math.max(1, height - 1);
    for (let x = 0; x < width; x++) {
      const ridge = height * (0.62 + 0.08 * Math.sin((x / width) * Math.PI * 3));
      const shade = y > ridge ? 0.55 : 1;
      const offset = y * rowLength + 1 + x * 3;
      for (let channel = 0; channel < 3; channel++) {
        pixels[offset + channel] = Math.round((top[channel] * (1 - t) + bottom[channel] * t) * shade);
      }
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(pixels)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
