// The sharp side of bench/images.sh: an HTTP server that renders one source file per request with sharp, the way
// a Node.js CMS (Directus, Strapi) resizes an upload on demand. Nothing is cached: every request decodes, resizes
// and encodes.
//
// GET /render?w=WIDTH&fm=jpg|webp&q=QUALITY returns the source resized to WIDTH pixels wide (height by the aspect
// ratio), auto-oriented from EXIF and without metadata, as JPEG or lossy WebP at quality QUALITY, with the encoder
// settings medialib uses. JPEG: baseline, 4:2:0, the standard (Annex K) quantisation tables, optimised Huffman
// tables, trellis quantisation and overshoot deringing (sharp's prebuilt libvips encodes with mozjpeg, as medialib
// does). WebP: libwebp's defaults at effort (method) 4.
//
// Usage: node sharp-server.js SOURCE.jpg
// Prints "listening on 127.0.0.1:PORT" on stderr once it accepts connections, on a free loopback port.
'use strict';

const http = require('node:http');
const sharp = require('sharp');

const source = process.argv[2];
if (!source) {
    console.error('sharp-server.js: missing SOURCE.jpg; usage: node sharp-server.js SOURCE.jpg');
    process.exit(1);
}
// The file cache of libvips would keep decoded pixels between requests; medialib keeps none either.
sharp.cache(false);

function badRequest(response, message) {
    response.writeHead(400, { 'content-type': 'text/plain' });
    response.end(`${message}\n`);
}

async function render(request, response) {
    const url = new URL(request.url, 'http://127.0.0.1');
    if (url.pathname !== '/render') {
        response.writeHead(404, { 'content-type': 'text/plain' });
        response.end('not found; use /render?w=WIDTH&fm=jpg|webp&q=QUALITY\n');
        return;
    }
    const width = Number.parseInt(url.searchParams.get('w') ?? '', 10);
    const quality = Number.parseInt(url.searchParams.get('q') ?? '75', 10);
    const format = url.searchParams.get('fm') ?? 'jpg';
    if (!(width > 0 && width <= 8192)) {
        return badRequest(response, `invalid w ${url.searchParams.get('w')}; expected 1 to 8192`);
    }
    if (!(quality >= 1 && quality <= 100)) {
        return badRequest(response, `invalid q ${url.searchParams.get('q')}; expected 1 to 100`);
    }

    let pipeline = sharp(source).rotate().resize({ width, kernel: 'lanczos3' });
    let contentType;
    if (format === 'jpg') {
        pipeline = pipeline.jpeg({
            quality,
            chromaSubsampling: '4:2:0',
            progressive: false,
            optimiseCoding: true,
            quantisationTable: 0,
            trellisQuantisation: true,
            overshootDeringing: true,
        });
        contentType = 'image/jpeg';
    } else if (format === 'webp') {
        pipeline = pipeline.webp({ quality, effort: 4 });
        contentType = 'image/webp';
    } else {
        return badRequest(response, `invalid fm ${format}; expected jpg or webp`);
    }
    const bytes = await pipeline.toBuffer();
    response.writeHead(200, { 'content-type': contentType, 'content-length': bytes.length });
    response.end(bytes);
}

const server = http.createServer((request, response) => {
    render(request, response).catch((error) => {
        console.error(`sharp-server.js: ${request.url} failed: ${error.message}`);
        response.writeHead(500, { 'content-type': 'text/plain' });
        response.end(`render failed: ${error.message}\n`);
    });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
    const { address, port } = server.address();
    console.error(`listening on ${address}:${port} (sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, ` +
        `libvips threads per image ${sharp.concurrency()})`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
