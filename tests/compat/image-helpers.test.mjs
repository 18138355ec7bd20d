// Builds image URLs with the real @prismicio/client helpers (asImageSrc, asImageWidthSrcSet,
// asImagePixelDensitySrcSet) from an asset that medialib returned, and fetches every URL they produce.
//
// The helpers use imgix-url-builder, which keeps the URL's own query (`auto=format,compress`, an editor crop's
// `rect`, `w` and `h`). It sets `width` for width srcsets, removing `w` and `h`, and `dpr` for density srcsets.
// A query it changes is serialised with URLSearchParams, so commas arrive as `%2C`.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import * as prismic from "@prismicio/client";

import { makePng } from "./png.mjs";
import { startServer } from "./server.mjs";

const REPOSITORY = "compat-images";
const SOURCE_WIDTH = 1600;
const SOURCE_HEIGHT = 900;
/** An editor crop of the source, as Prismic writes it into the image URL. */
const CROP = { rect: "100,50,800,450", w: 400, h: 225 };

/** `Accept` of a browser that takes AVIF; used on small outputs only, since AVIF encoding is the slowest. */
const AVIF_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
/** `Accept` of a browser that takes WebP but not AVIF. */
const WEBP_ACCEPT = "image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5";
const PNG_ACCEPT = "image/png";
/** Seconds a render may take: the debug build that the suite runs renders a 3840-pixel PNG slowly. */
const RENDER_TIMEOUT_SECONDS = 300;

describe("@prismicio/client image helpers against medialib", () => {
  let server;
  let field;
  let croppedField;

  before(async () => {
    server = await startServer({
      repository: REPOSITORY,
      serveArgs: ["--rate-limit", "0", "--render-timeout", String(RENDER_TIMEOUT_SECONDS)],
    });
    const client = prismic.createWriteClient(REPOSITORY, {
      writeToken: server.writeToken,
      assetAPIEndpoint: `${server.baseUrl}/`,
    });
    const asset = await client.createAsset(makePng(SOURCE_WIDTH, SOURCE_HEIGHT), "landscape.png", {
      alt: "A gradient",
      credits: "Ada",
    });
    assert.match(asset.url, /\?auto=format,compress$/, "image URLs carry auto=format,compress as Prismic's do");
    field = imageField(asset, asset.url);
    const cropQuery = new URLSearchParams({ rect: CROP.rect, w: String(CROP.w), h: String(CROP.h) });
    croppedField = imageField(asset, `${asset.url}&${cropQuery}`);
  });

  after(async () => {
    await server?.stop();
  });

  it("asImageSrc keeps the URL and adds parameters", async () => {
    const plain = prismic.asImageSrc(field);
    assert.equal(plain, field.url, "without parameters the URL is unchanged");
    await expectImage(plain, { width: SOURCE_WIDTH, height: SOURCE_HEIGHT }, [WEBP_ACCEPT, PNG_ACCEPT]);

    const resized = prismic.asImageSrc(field, { w: 400 });
    assert.match(resized, /auto=format%2Ccompress/, "a rebuilt query encodes commas");
    await expectImage(resized, { width: 400, height: 225 }, [AVIF_ACCEPT, WEBP_ACCEPT, PNG_ACCEPT]);

    const squared = prismic.asImageSrc(field, { w: 300, h: 300, fit: "crop", sat: -100 });
    await expectImage(squared, { width: 300, height: 300 }, [AVIF_ACCEPT, PNG_ACCEPT]);

    const cropped = prismic.asImageSrc(croppedField);
    // The crop query was built with URLSearchParams, so raw and encoded commas meet in one URL.
    assert.match(cropped, /auto=format,compress&rect=100%2C50%2C800%2C450/);
    await expectImage(cropped, { width: CROP.w, height: CROP.h }, [AVIF_ACCEPT, PNG_ACCEPT]);
  });

  it("asImageWidthSrcSet URLs render each width", async () => {
    const { src, srcset } = prismic.asImageWidthSrcSet(field);
    await expectImage(src, { width: SOURCE_WIDTH });
    const candidates = parseSrcSet(srcset);
    assert.deepEqual(
      candidates.map((candidate) => candidate.descriptor),
      ["640w", "828w", "1200w", "2048w", "3840w"],
    );
    for (const { url, descriptor } of candidates) {
      const width = Number.parseInt(descriptor, 10);
      assert.match(url, new RegExp(`[?&]width=${width}(&|$)`));
      await expectImage(url, { width, height: Math.round((width * SOURCE_HEIGHT) / SOURCE_WIDTH) });
    }

    // On a cropped field, `width` replaces the crop's `w` and `h`, and the crop's aspect ratio stays.
    const cropped = parseSrcSet(prismic.asImageWidthSrcSet(croppedField, { widths: [320, 640] }).srcset);
    for (const { url, descriptor } of cropped) {
      const width = Number.parseInt(descriptor, 10);
      assert.doesNotMatch(url, /[?&](w|h)=/);
      await expectImage(url, { width, height: Math.round((width * 450) / 800) });
    }
  });

  it("asImagePixelDensitySrcSet URLs render each density", async () => {
    const { srcset } = prismic.asImagePixelDensitySrcSet(field, { w: 300 });
    const candidates = parseSrcSet(srcset);
    assert.deepEqual(
      candidates.map((candidate) => candidate.descriptor),
      ["1x", "2x", "3x"],
    );
    for (const { url, descriptor } of candidates) {
      const dpr = Number.parseInt(descriptor, 10);
      assert.match(url, new RegExp(`[?&]dpr=${dpr}(&|$)`));
      await expectImage(url, { width: 300 * dpr, height: Math.round((300 * dpr * SOURCE_HEIGHT) / SOURCE_WIDTH) });
    }

    const cropped = parseSrcSet(prismic.asImagePixelDensitySrcSet(croppedField).srcset);
    for (const { url, descriptor } of cropped) {
      const dpr = Number.parseInt(descriptor, 10);
      await expectImage(url, { width: CROP.w * dpr, height: CROP.h * dpr });
    }
  });
});

/** Builds a Prismic image field from an asset, as the Document API returns one. */
function imageField(asset, url) {
  return {
    id: asset.id,
    url,
    dimensions: { width: asset.width, height: asset.height },
    alt: asset.alt,
    copyright: asset.credits ?? null,
    edit: { x: 0, y: 0, zoom: 1, background: "transparent" },
  };
}

/** Splits a srcset value into its URLs and descriptors. */
function parseSrcSet(srcset) {
  return srcset.split(", ").map((candidate) => {
    const [url, descriptor] = candidate.split(" ");
    return { url, descriptor };
  });
}

/**
 * Fetches `url` with each `Accept` of `accepts`, by default a browser that takes WebP and a client that takes only
 * PNG. Checks status 200, an image content type matching the bytes, `Vary: Accept`, and the size in the header.
 */
async function expectImage(url, expected, accepts = [WEBP_ACCEPT, PNG_ACCEPT]) {
  for (const accept of accepts) {
    const context = `${url} with Accept: ${accept}`;
    const response = await fetch(url, { headers: { accept } });
    assert.equal(response.status, 200, context);
    const contentType = response.headers.get("content-type");
    assert.match(contentType, /^image\//, context);
    assert.match(response.headers.get("vary") ?? "", /accept/i, `${context}: auto=format responses vary by Accept`);

    const bytes = new Uint8Array(await response.arrayBuffer());
    const size = imageSize(bytes);
    assert.equal(`image/${size.format}`, contentType, `${context}: the content type names the bytes' format`);
    assert.equal(size.width, expected.width, `${context}: width`);
    if (expected.height !== undefined) {
      assert.equal(size.height, expected.height, `${context}: height`);
    }
    if (accept === PNG_ACCEPT) {
      assert.equal(size.format, "png", `${context}: without AVIF or WebP, a PNG source stays PNG`);
    }
  }
}

/** Reads the format, width and height from the header of a PNG, JPEG, WebP or AVIF file. */
function imageSize(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ascii = (offset, length) => String.fromCharCode(...bytes.subarray(offset, offset + length));

  if (ascii(1, 3) === "PNG") {
    return { format: "png", width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    // Walk the JPEG segments to the first start-of-frame marker (SOF0 to SOF15, except DHT, JPG and DAC).
    let offset = 2;
    while (offset + 9 < bytes.length) {
      const marker = bytes[offset + 1];
      const length = view.getUint16(offset + 2);
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { format: "jpeg", width: view.getUint16(offset + 7), height: view.getUint16(offset + 5) };
      }
      offset += 2 + length;
    }
    throw new Error("a JPEG without a start-of-frame marker");
  }
  if (ascii(0, 4) === "RIFF" && ascii(8, 4) === "WEBP") {
    const chunk = ascii(12, 4);
    if (chunk === "VP8X") {
      const read24 = (offset) => bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16);
      return { format: "webp", width: read24(24) + 1, height: read24(27) + 1 };
    }
    if (chunk === "VP8L") {
      const bits = view.getUint32(21, true);
      return { format: "webp", width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
    }
    if (chunk === "VP8 ") {
      return { format: "webp", width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
    }
    throw new Error(`a WebP file with an unknown first chunk ${chunk}`);
  }
  if (ascii(4, 4) === "ftyp") {
    // The `ispe` property: box type, then version and flags, then width and height.
    const at = Buffer.from(bytes).indexOf("ispe");
    assert.ok(at > 0, "an AVIF file has an ispe property");
    return { format: "avif", width: view.getUint32(at + 8), height: view.getUint32(at + 12) };
  }
  throw new Error(`unknown image signature ${Buffer.from(bytes.subarray(0, 12)).toString("hex")}`);
}
