// A read-only token browses the library with every editing control disabled, and the page sends no write except
// the one request that finds out the access.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { eventually, launchBrowser, openPage } from "./browser.mjs";
import { makePicture } from "./fixtures.mjs";
import { apiClient, startServer } from "./server.mjs";

const REPOSITORY = "web-read-only";

describe("media library page with a read-only token", { timeout: 5 * 60_000 }, () => {
  let server;
  let browser;
  let page;
  let responses;
  let problems;

  before(async () => {
    server = await startServer({ repository: REPOSITORY, serveArgs: ["--rate-limit", "0"] });
    const writer = apiClient(server.baseUrl, REPOSITORY, server.writeToken);
    const tag = await (await fetch(`${server.baseUrl}/tags`, {
      method: "POST",
      headers: { repository: REPOSITORY, authorization: `Bearer ${server.writeToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "landscape" }),
    })).json();
    const asset = await writer.upload("valley.png", makePicture(320, 200, { top: [200, 220, 255], bottom: [60, 120, 60] }));
    const tagged = await fetch(`${server.baseUrl}/tags/${tag.id}/assets`, {
      method: "POST",
      headers: { repository: REPOSITORY, authorization: `Bearer ${server.writeToken}`, "content-type": "application/json" },
      body: JSON.stringify({ assetIds: [asset.id] }),
    });
    assert.equal(tagged.status, 204);

    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-US" });
    ({ page, responses, problems } = await openPage(context));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("signs in and marks the access read-only", async () => {
    await page.goto(server.baseUrl);
    await page.getByLabel("Repository", { exact: true }).fill(REPOSITORY);
    await page.getByLabel("Token", { exact: true }).fill(server.readOnlyToken);
    await page.getByRole("button", { name: "Sign in" }).click();

    await eventually(async () => assert.equal(await page.locator("#access-badge").textContent(), "Read-only"));
    assert.deepEqual(await page.locator("#grid .card-name").allTextContents(), ["valley.png"]);
    assert.equal(await page.locator("#result-count").textContent(), "1 asset");
  });

  it("disables uploading and selecting", async () => {
    assert.equal(await page.getByLabel("Upload files", { exact: true }).isDisabled(), true);
    assert.match(await page.locator("#upload-hint").textContent(), /read-only/);
    assert.equal(await page.getByLabel("Select valley.png", { exact: true }).isDisabled(), true);
    assert.equal(await page.getByRole("button", { name: "Select all shown" }).isDisabled(), true);
  });

  it("shows the detail panel with editing disabled", async () => {
    await page.locator("#grid .card-open").first().click();
    const panel = page.locator("#detail");
    await eventually(async () => assert.equal(await panel.locator("h2").textContent(), "valley.png"));

    for (const label of ["Filename", "Alt text", "Notes", "Credits"]) {
      assert.equal(await page.getByLabel(label, { exact: true }).isEditable(), false, `${label} is read-only`);
    }
    assert.equal(await page.getByRole("button", { name: "Save changes" }).isDisabled(), true);
    assert.equal(await panel.getByRole("button", { name: "Delete", exact: true }).isDisabled(), true);
    assert.equal(await page.getByRole("button", { name: "Remove tag landscape" }).isDisabled(), true);
    assert.equal(await page.getByLabel("Tag name", { exact: true }).isDisabled(), true);
    assert.equal(await page.getByRole("button", { name: "Add tag", exact: true }).isDisabled(), true);

    // Reading stays possible.
    assert.equal(await page.getByRole("button", { name: "Copy URL" }).isEnabled(), true);
    assert.equal(await page.getByRole("link", { name: "Download original" }).isVisible(), true);
  });

  it("refuses dropped files without sending them", async () => {
    await page.evaluate(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(["hello"], "dropped.txt", { type: "text/plain" }));
      document.body.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    });
    assert.match(await page.locator("#activity").textContent(), /read-only/);
    assert.equal(await page.locator("#uploads").isHidden(), true);
  });

  it("sends no write but the access check", async () => {
    const writes = responses.filter((entry) => entry.method !== "GET");
    assert.deepEqual(
      writes.map((entry) => `${entry.method} ${entry.path} ${entry.status}`),
      ["POST /assets/bulk-delete 403"],
    );
    assert.deepEqual(problems, []);
  });
});
