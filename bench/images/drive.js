// Load driver of bench/images.sh. It sends a fixed list of GET requests over CONCURRENCY keep-alive connections to
// loopback, and each connection takes the next URL when its previous response has ended. It prints one JSON line:
// requests, seconds, requests per second, mean and minimum body bytes, and the latency percentiles.
// Any status other than 200 stops the run with an error, so a result never mixes failures into its rate.
//
// Usage: node drive.js URLS_FILE CONCURRENCY [HEADER: VALUE ...]
'use strict';

const fs = require('node:fs');
const http = require('node:http');

async function main() {
    const [urlsFile, concurrencyText, ...headerArguments] = process.argv.slice(2);
    const concurrency = Number.parseInt(concurrencyText, 10);
    if (!urlsFile || !(concurrency > 0)) {
        throw new Error('usage: node drive.js URLS_FILE CONCURRENCY [HEADER: VALUE ...]');
    }
    const urls = fs.readFileSync(urlsFile, 'utf8').split('\n').filter((line) => line.length > 0);
    for (const url of urls) {
        const host = new URL(url).hostname;
        if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') {
            throw new Error(`${url} is not a loopback address; the benchmark only sends traffic to this machine`);
        }
    }
    const headers = {};
    for (const argument of headerArguments) {
        const separator = argument.indexOf(':');
        headers[argument.slice(0, separator).trim()] = argument.slice(separator + 1).trim();
    }

    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const latencies = [];
    let totalBytes = 0;
    let minimumBytes = Infinity;
    let next = 0;

    const fetchOne = (url) => new Promise((resolve, reject) => {
        const started = process.hrtime.bigint();
        http.get(url, { agent, headers }, (response) => {
            let bytes = 0;
            response.on('data', (chunk) => { bytes += chunk.length; });
            response.on('end', () => {
                if (response.statusCode !== 200) {
                    reject(new Error(`${url} returned ${response.statusCode}`));
                    return;
                }
                latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
                totalBytes += bytes;
                minimumBytes = Math.min(minimumBytes, bytes);
                resolve();
            });
            response.on('error', reject);
        }).on('error', reject);
    });
    const worker = async () => {
        while (next < urls.length) {
            await fetchOne(urls[next++]);
        }
    };

    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    agent.destroy();

    latencies.sort((a, b) => a - b);
    const percentile = (p) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)];
    console.log(JSON.stringify({
        requests: urls.length,
        concurrency,
        seconds: Number(seconds.toFixed(3)),
        per_second: Number((urls.length / seconds).toFixed(2)),
        mean_bytes: Math.round(totalBytes / urls.length),
        min_bytes: minimumBytes,
        p50_ms: Number(percentile(50).toFixed(2)),
        p99_ms: Number(percentile(99).toFixed(2)),
    }));
}

main().catch((error) => {
    console.error(`drive.js: ${error.message}`);
    process.exit(1);
});
