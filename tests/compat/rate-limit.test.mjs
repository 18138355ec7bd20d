// Runs the write client against `medialib serve` with its default rate limit (1 request per second per token,
// burst 1) to show that the client's 429 handling, which waits for `retry-after` seconds and repeats the request,
// completes every call.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import * as prismic from "@prismicio/client";

import { makePng } from "./png.mjs";
import { recordingFetch, routeOf, startServer } from "./server.mjs";

const REPOSITORY = "compat-limited";

// The client retries a 429 without any limit, so a server that never lets a request through would hang the test.
const TEST_TIMEOUT_MS = 60_000;

describe("@prismicio/client under the default rate limit", () => {
  let server;
  let client;
  let requests;

  before(async () => {
    server = await startServer({ repository: REPOSITORY });
    requests = [];
    client = prismic.createWriteClient(REPOSITORY, {
      writeToken: server.writeToken,
      assetAPIEndpoint: `${server.baseUrl}/`,
      fetch: recordingFetch(requests),
    });
  });

  after(async () => {
    await server?.stop();
  });

  it("back-to-back reads are retried after 429", { timeout: TEST_TIMEOUT_MS }, async () => {
    requests.length = 0;
    const started = Date.now();
    const first = await client.getAssetTags();
    const second = await client.getAssetTags();
    const elapsed = Date.now() - started;

    assert.deepEqual(first, []);
    assert.deepEqual(second, []);

    const limited = requests.filter((entry) => entry.status === 429);
    assert.ok(limited.length >= 1, `expected a 429, got ${JSON.stringify(requests)}`);
    assert.ok(elapsed >= 900, `the retry waited only ${elapsed} ms`);
    for (const entry of limited) {
      assertRetryAfter(entry);
    }
    assert.equal(requests.at(-1).status, 200);
  });

  it("createAsset with tags completes under the limit", { timeout: TEST_TIMEOUT_MS }, async () => {
    requests.length = 0;
    const png = makePng(4, 4);
    const asset = await client.createAsset(png, "limited.png", {
      alt: "Rate limited upload",
      tags: ["first-tag", "second-tag"],
    });

    assert.equal(asset.filename, "limited.png");
    assert.equal(asset.alt, "Rate limited upload");
    assert.equal(asset.size, png.length);
    assert.deepEqual(
      asset.tags.map((tag) => tag.name),
      ["first-tag", "second-tag"],
    );

    const succeeded = requests.filter((entry) => entry.status !== 429).map((entry) => `${routeOf(entry)} ${entry.status}`);
    assert.deepEqual(succeeded, [
      "POST /assets 200",
      "GET /tags 200",
      "POST /tags 201",
      "POST /tags 201",
      `PATCH /assets/${asset.id} 200`,
    ]);
    for (const entry of requests.filter((entry) => entry.status === 429)) {
      assertRetryAfter(entry);
    }
  });

  it("updateAsset completes under the limit", { timeout: TEST_TIMEOUT_MS }, async () => {
    const asset = await client.createAsset(makePng(2, 2), "update-me.png", { alt: "Before the update" });
    requests.length = 0;
    const updated = await client.updateAsset(asset.id, {
      notes: "Updated under the limit",
      tags: ["first-tag"],
    });

    assert.equal(updated.id, asset.id);
    assert.equal(updated.notes, "Updated under the limit");
    assert.equal(updated.alt, "Before the update");
    assert.deepEqual(
      updated.tags.map((tag) => tag.name),
      ["first-tag"],
    );
    assert.equal(requests.at(-1).status, 200);
  });
});

// A missing or zero `retry-after` makes the client retry at once in a tight loop, so it must be a whole number >= 1.
function assertRetryAfter(entry) {
  assert.match(entry.retryAfter ?? "", /^[0-9]+$/, `429 on ${routeOf(entry)} has retry-after ${entry.retryAfter}`);
  assert.ok(Number(entry.retryAfter) >= 1, `retry-after ${entry.retryAfter} is below 1`);
  const body = JSON.parse(entry.body);
  assert.equal(typeof body.error, "string");
  assert.equal(typeof body.message, "string");
}
