// Runs the real @prismicio/client write client against `medialib serve` with the rate limit off.
//
// The asset methods of the write client (createAsset, updateAsset, getAssetTags, createAssetTag,
// fetchForeignAsset, migrateCreateAssets) are private in its TypeScript types but are plain methods in
// JavaScript, so the tests call them directly. `migrate()` itself also calls Prismic's Content API, which
// medialib does not implement, so only its asset step runs here.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import * as prismic from "@prismicio/client";

import { makePng } from "./png.mjs";
import { recordingFetch, routeOf, startServer } from "./server.mjs";

const REPOSITORY = "compat-test";
const MAX_UPLOAD_SIZE = 65_536;

describe("@prismicio/client write client against medialib", () => {
  let server;
  let client;
  let requests;
  const png = makePng(3, 2);
  const state = {};

  before(async () => {
    server = await startServer({
      repository: REPOSITORY,
      serveArgs: ["--rate-limit", "0", "--max-upload-size", String(MAX_UPLOAD_SIZE)],
    });
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

  it("createAssetTag creates a tag", async () => {
    const before = Date.now();
    const tag = await client.createAssetTag("existing");

    assert.equal(tag.name, "existing");
    assert.match(tag.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(typeof tag.created_at, "number");
    assert.ok(tag.created_at >= before - 60_000, "created_at is epoch ms, not before the request");
    assert.ok(tag.created_at <= Date.now() + 60_000, "created_at is epoch ms, not in the future");
    assert.equal(typeof tag.last_modified, "number");
    state.existingTag = tag;
  });

  it("createAsset uploads a PNG with metadata and tag names", async () => {
    requests.length = 0;
    const before = Date.now();
    const asset = await client.createAsset(png, "pixel.png", {
      notes: "Notes about the pixel",
      credits: "Photo: Ada",
      alt: "A tiny gradient",
      tags: ["existing", "fresh-tag"],
    });

    assert.equal(typeof asset.id, "string");
    assert.ok(asset.id.length > 0);
    assert.equal(asset.filename, "pixel.png");
    assert.equal(asset.extension, "png");
    assert.equal(asset.kind, "image");
    assert.equal(asset.size, png.length);
    assert.equal(asset.width, 3);
    assert.equal(asset.height, 2);
    assert.equal(asset.notes, "Notes about the pixel");
    assert.equal(asset.credits, "Photo: Ada");
    assert.equal(asset.alt, "A tiny gradient");
    assert.equal(asset.uploader_id, "ghost");
    assert.ok(asset.created_at >= before - 60_000, "created_at is epoch ms, not before the request");
    assert.ok(asset.created_at <= Date.now() + 60_000, "created_at is epoch ms, not in the future");
    assert.ok(asset.last_modified >= asset.created_at);
    assert.ok(
      asset.url.startsWith(`${server.baseUrl}/files/${REPOSITORY}/${asset.id}_pixel.png`),
      `unexpected url ${asset.url}`,
    );

    assert.deepEqual(
      asset.tags.map((tag) => tag.name),
      ["existing", "fresh-tag"],
    );
    assert.equal(asset.tags[0].id, state.existingTag.id);
    for (const tag of asset.tags) {
      assert.equal(typeof tag.created_at, "number");
      assert.equal(typeof tag.last_modified, "number");
    }

    assert.deepEqual(
      requests.map((entry) => `${routeOf(entry)} ${entry.status}`),
      ["POST /assets 200", "GET /tags 200", "POST /tags 201", `PATCH /assets/${asset.id} 200`],
    );
    state.asset = asset;
  });

  it("getAssetTags lists tags by name with counts", async () => {
    const tags = await client.getAssetTags();
    const names = tags.map((tag) => tag.name);

    assert.deepEqual(names, ["existing", "fresh-tag"]);
    for (const tag of tags) {
      assert.equal(tag.count, 1, `count of ${tag.name}`);
    }
  });

  it("updateAsset changes alt, filename and tags", async () => {
    const original = state.asset;
    const asset = await client.updateAsset(original.id, {
      alt: "A renamed gradient",
      filename: "renamed.png",
      tags: ["fresh-tag", "third-tag"],
    });

    assert.equal(asset.id, original.id);
    assert.equal(asset.alt, "A renamed gradient");
    assert.equal(asset.filename, "renamed.png");
    assert.equal(asset.extension, "png");
    assert.equal(asset.notes, original.notes);
    assert.equal(asset.credits, original.credits);
    assert.equal(asset.url, original.url, "a rename keeps the URL");
    assert.equal(asset.created_at, original.created_at);
    assert.ok(asset.last_modified >= original.last_modified);
    assert.deepEqual(
      asset.tags.map((tag) => tag.name),
      ["fresh-tag", "third-tag"],
    );

    const counts = Object.fromEntries((await client.getAssetTags()).map((tag) => [tag.name, tag.count]));
    assert.deepEqual(counts, { existing: 0, "fresh-tag": 1, "third-tag": 1 });
    state.asset = asset;
  });

  it("updateAsset with a new extension keeps the kind", async () => {
    const asset = await client.updateAsset(state.asset.id, { filename: "renamed.JPEG" });

    assert.equal(asset.filename, "renamed.JPEG");
    assert.equal(asset.extension, "jpeg");
    assert.equal(asset.kind, "image");
    assert.equal(asset.alt, "A renamed gradient");
  });

  it("updateAsset clears alt and tags", async () => {
    const asset = await client.updateAsset(state.asset.id, { alt: "", tags: [] });

    assert.equal(asset.alt, "");
    assert.deepEqual(asset.tags, []);
    assert.equal(asset.notes, "Notes about the pixel");
    state.asset = asset;
  });

  it("fetchForeignAsset downloads the stored bytes", async () => {
    const plainUrl = state.asset.url.split("?")[0];
    const blob = await client.fetchForeignAsset(plainUrl);

    assert.equal(blob.type, "image/png");
    assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), png);

    const asImage = await client.fetchForeignAsset(state.asset.url);
    assert.match(asImage.type, /^image\//);
    assert.ok(asImage.size > 0);
  });

  it("migration asset step copies an asset from its URL", async () => {
    await client.updateAsset(state.asset.id, { tags: ["existing"] });
    const [source] = await listAssets(server, [state.asset.id]);

    const migration = prismic.createMigration();
    const migrationAsset = migration.createAsset(source);
    await client.migrateCreateAssets(migration);
    const copy = migrationAsset.asset;

    assert.ok(copy, "the migration stores the created asset");
    assert.notEqual(copy.id, source.id);
    assert.equal(copy.filename, source.filename);
    assert.equal(copy.kind, "image");
    assert.equal(copy.notes, source.notes);
    assert.equal(copy.credits, source.credits);
    assert.deepEqual(
      copy.tags.map((tag) => tag.name),
      ["existing"],
    );
  });

  it("unknown asset raises NotFoundError", async () => {
    await assert.rejects(client.updateAsset("doesnotexist0000", { alt: "x" }), (error) => {
      assert.ok(error instanceof prismic.NotFoundError, `got ${error?.constructor?.name}: ${error?.message}`);
      assertErrorBody(error);
      return true;
    });
  });

  it("duplicate tag name raises InvalidDataError", async () => {
    await assert.rejects(client.createAssetTag("existing"), (error) => {
      assert.ok(error instanceof prismic.InvalidDataError, `got ${error?.constructor?.name}: ${error?.message}`);
      assertErrorBody(error);
      return true;
    });
  });

  it("notes over 500 characters raise InvalidDataError", async () => {
    await assert.rejects(client.createAsset(png, "long.png", { notes: "n".repeat(501) }), (error) => {
      assert.ok(error instanceof prismic.InvalidDataError, `got ${error?.constructor?.name}: ${error?.message}`);
      assertErrorBody(error);
      return true;
    });
  });

  it("file over the upload limit raises PrismicError", async () => {
    const large = makePng(2, 2, { extraBytes: MAX_UPLOAD_SIZE + 1024 });
    await assert.rejects(client.createAsset(large, "large.png"), (error) => {
      assert.ok(error instanceof prismic.PrismicError, `got ${error?.constructor?.name}: ${error?.message}`);
      assert.equal(error.message, "file_too_large");
      assertErrorBody(error);
      return true;
    });
  });

  it("unknown token raises ForbiddenError", async () => {
    const stranger = prismic.createWriteClient(REPOSITORY, {
      writeToken: "not-a-real-token",
      assetAPIEndpoint: `${server.baseUrl}/`,
    });
    await assert.rejects(stranger.getAssetTags(), (error) => {
      assert.ok(error instanceof prismic.ForbiddenError, `got ${error?.constructor?.name}: ${error?.message}`);
      assertErrorBody(error);
      return true;
    });
  });

  it("read-only token reads but cannot write", async () => {
    // No trailing slash here, so this client sends `/tags` instead of `//tags`.
    const reader = prismic.createWriteClient(REPOSITORY, {
      writeToken: server.readOnlyToken,
      assetAPIEndpoint: server.baseUrl,
    });

    const tags = await reader.getAssetTags();
    assert.ok(tags.some((tag) => tag.name === "existing"));

    await assert.rejects(reader.createAssetTag("reader-tag"), (error) => {
      assert.ok(error instanceof prismic.ForbiddenError, `got ${error?.constructor?.name}: ${error?.message}`);
      assertErrorBody(error);
      return true;
    });
  });

  it("token of another repository raises ForbiddenError", async () => {
    const elsewhere = prismic.createWriteClient("other-repository", {
      writeToken: server.writeToken,
      assetAPIEndpoint: `${server.baseUrl}/`,
    });
    await assert.rejects(elsewhere.getAssetTags(), (error) => {
      assert.ok(error instanceof prismic.ForbiddenError, `got ${error?.constructor?.name}: ${error?.message}`);
      assertErrorBody(error);
      return true;
    });
  });
});

// The write client has no listing method, so the test reads assets with a plain request as other clients do.
async function listAssets(server, ids) {
  const query = ids.map((id) => `ids=${encodeURIComponent(id)}`).join("&");
  const response = await fetch(`${server.baseUrl}/assets?${query}`, {
    headers: { repository: server.repository, authorization: `Bearer ${server.writeToken}` },
  });
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.items.length, ids.length);
  return body.items;
}

// The client uses the `error` field as the message; other clients read `message`.
function assertErrorBody(error) {
  assert.equal(typeof error.response?.error, "string", "error body has an `error` code");
  assert.match(error.response.error, /^[a-z][a-z0-9_]*$/);
  assert.equal(error.message, error.response.error);
  assert.equal(typeof error.response.message, "string", "error body has a `message`");
  assert.ok(error.response.message.length > 0);
}
