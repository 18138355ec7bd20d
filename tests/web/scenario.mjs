// The main end-to-end run of the media library page: sign in, upload three kinds of file, browse, search, filter,
// edit, tag, delete. It is defined once, so that the same steps run without a rate limit and under the default
// limit of one request a second.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { eventually, launchBrowser, openPage } from "./browser.mjs";
import { fixture, makePicture } from "./fixtures.mjs";
import { apiClient, startServer } from "./server.mjs";

const screenshotsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../docs/screenshots");

/** Largest upload the test server accepts, so that one upload fails with the server's 413 message. */
const MAX_UPLOAD_SIZE = 2_000_000;

const PICTURE = makePicture(640, 400, { top: [255, 196, 120], bottom: [40, 90, 160] });
const FILES = {
  picture: { name: "harbour-at-dawn.png", mimeType: "image/png", buffer: PICTURE },
  audio: { name: "interview.wav", mimeType: "audio/wav", buffer: fixture("tone.wav") },
  document: { name: "annual-report.pdf", mimeType: "application/pdf", buffer: fixture("document.pdf") },
};

/**
 * Defines the main run as one `describe` whose steps share a server and a page. `serveArgs` set the rate limit and
 * `timeout` bounds each wait on the page. With `screenshots`, the run ends by saving docs/screenshots/*.png, and
 * `checkRequests(responses)` adds checks of the API responses the page received.
 */
export function defineMainScenario({ title, repository, serveArgs, timeout, screenshots = false, checkRequests }) {
  describe(title, { timeout: 15 * 60_000 }, () => {
    let server;
    let browser;
    let context;
    let page;
    let api;
    let responses;
    let problems;
    const ids = {};

    const wait = (check) => eventually(check, { timeout });
    const countText = () => page.locator("#result-count").textContent();
    const cardNames = () => page.locator("#grid .card-name").allTextContents();
    const card = (filename) => page.locator("#grid li.card").filter({ has: page.locator(".card-name", { hasText: filename }) });
    const panel = () => page.locator("#detail");

    async function expectCards(names) {
      await wait(async () => assert.deepEqual(await cardNames(), names));
    }

    async function expectCount(text) {
      await wait(async () => assert.equal(await countText(), text));
    }

    async function openDetail(filename) {
      await card(filename).locator(".card-open").click();
      await wait(async () => assert.equal(await panel().locator("h2").textContent(), filename));
    }

    before(async () => {
      server = await startServer({ repository, serveArgs: [...serveArgs, "--max-upload-size", String(MAX_UPLOAD_SIZE)] });
      // The page and the test share nothing: the test reads through the read-only token, which has its own limit.
      api = apiClient(server.baseUrl, repository, server.readOnlyToken);
      browser = await launchBrowser();
      context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-US", acceptDownloads: true });
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.baseUrl });
      ({ page, responses, problems } = await openPage(context));
    });

    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    it("signs in with a token", async () => {
      await page.goto(server.baseUrl);
      await page.getByLabel("Repository", { exact: true }).fill(repository);
      await page.getByLabel("Token", { exact: true }).fill(server.writeToken);
      await page.getByRole("button", { name: "Sign in" }).click();

      await wait(async () => assert.equal(await page.locator("#repository-name").textContent(), repository));
      await expectCount("No assets yet.");
      await wait(async () => assert.equal(await page.locator("#access-badge").isHidden(), true));
      assert.equal(await page.getByLabel("Upload files", { exact: true }).isEnabled(), true);
      assert.ok(!page.url().includes(server.writeToken), `the token is not in the URL ${page.url()}`);
      const stored = await page.evaluate(() => sessionStorage.getItem("medialib.session"));
      assert.equal(JSON.parse(stored).token, server.writeToken);
      assert.equal(JSON.parse(stored).readOnly, false);
    });

    it("uploads three kinds with progress", async () => {
      await page.getByLabel("Upload files", { exact: true }).setInputFiles([FILES.picture, FILES.audio, FILES.document]);

      const uploads = page.locator("#upload-list li");
      await wait(async () => assert.equal(await page.locator('#upload-list li[data-state="done"]').count(), 3));
      assert.equal(await uploads.count(), 3);
      for (const file of Object.values(FILES)) {
        const item = uploads.filter({ hasText: file.name });
        assert.equal(await item.locator(".upload-status").textContent(), "Uploaded");
        assert.equal(await item.locator("progress").evaluate((bar) => bar.value), 100);
        assert.equal(await item.locator("progress").getAttribute("aria-label"), `Upload progress of ${file.name}`);
      }
      assert.equal(await page.locator("#uploads-summary").textContent(), "3 of 3 uploaded");

      // Uploads go out in order, so the last file is the newest and comes first.
      await expectCards(["annual-report.pdf", "interview.wav", "harbour-at-dawn.png"]);
      await expectCount("3 assets");

      const stored = await api.listAll();
      assert.deepEqual(stored.map((asset) => asset.filename), ["annual-report.pdf", "interview.wav", "harbour-at-dawn.png"]);
      for (const asset of stored) {
        ids[asset.filename] = asset;
      }
      assert.deepEqual(stored.map((asset) => asset.kind), ["document", "audio", "image"]);
    });

    it("shows server message on failed upload", async () => {
      const tooLarge = { name: "too-large.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(MAX_UPLOAD_SIZE + 1, 7) };
      await page.getByLabel("Upload files", { exact: true }).setInputFiles([tooLarge]);

      const item = page.locator("#upload-list li").filter({ hasText: "too-large.bin" });
      await wait(async () => assert.equal(await item.getAttribute("data-state"), "failed"));
      // The page does not know the limit; the number comes from the server's 413 message.
      assert.match(await item.locator(".upload-status").textContent(), /^Failed: .*2000000 bytes/);
      assert.equal(await page.locator("#uploads-summary").textContent(), "3 of 4 uploaded, 1 failed");
      await expectCards(["annual-report.pdf", "interview.wav", "harbour-at-dawn.png"]);

      await page.getByRole("button", { name: "Clear finished" }).click();
      assert.equal(await page.locator("#uploads").isHidden(), true);
    });

    it("shows thumbnails, icons and sizes", async () => {
      const picture = card("harbour-at-dawn.png");
      const image = picture.locator("img");
      const source = new URL(await image.getAttribute("src"));
      assert.equal(source.searchParams.get("auto"), "format");
      assert.equal(source.searchParams.get("w"), "240");
      assert.equal(await image.getAttribute("loading"), "lazy");
      await wait(async () => assert.ok(await image.evaluate((element) => element.complete && element.naturalWidth > 0)));
      // w=240 with fit=max: the server renders a 240-pixel-wide image.
      assert.equal(await image.evaluate((element) => element.naturalWidth), 240);
      assert.equal(await picture.locator(".card-meta").textContent(), `Image · ${formatSize(PICTURE.length)} · 640 × 400`);

      assert.equal(await card("interview.wav").locator("svg.icon-audio").count(), 1);
      assert.equal(await card("interview.wav").locator(".card-meta").textContent(), `Audio · ${formatSize(FILES.audio.buffer.length)}`);
      assert.equal(await card("annual-report.pdf").locator("svg.icon-document").count(), 1);
      assert.equal(await card("annual-report.pdf").locator(".thumb-extension").textContent(), "PDF");
    });

    it("searches and keeps q in URL", async () => {
      await page.getByLabel("Search", { exact: true }).fill("report");
      await expectCards(["annual-report.pdf"]);
      await expectCount("1 asset");
      assert.equal(new URL(page.url()).searchParams.get("q"), "report");

      await page.getByLabel("Search", { exact: true }).fill("");
      await expectCards(["annual-report.pdf", "interview.wav", "harbour-at-dawn.png"]);
      assert.equal(new URL(page.url()).search, "");
    });

    it("filters by type", async () => {
      await page.getByLabel("Type", { exact: true }).selectOption("image");
      await expectCards(["harbour-at-dawn.png"]);
      await expectCount("1 asset");
      assert.equal(new URL(page.url()).searchParams.get("type"), "image");

      await page.getByLabel("Type", { exact: true }).selectOption("audio");
      await expectCards(["interview.wav"]);

      await page.getByLabel("Type", { exact: true }).selectOption("all");
      await expectCards(["annual-report.pdf", "interview.wav", "harbour-at-dawn.png"]);
    });

    it("saves edited alt text", async () => {
      await openDetail("harbour-at-dawn.png");
      const alt = page.getByLabel("Alt text", { exact: true });
      await alt.fill("Boats in a harbour at dawn");
      assert.equal(await page.locator("#detail-alt-count").textContent(), "26 / 500");

      // The counter counts code points, the unit of the server's limit: "é" is one.
      await page.getByLabel("Notes", { exact: true }).fill("é".repeat(501));
      assert.equal(await page.locator("#detail-notes-count").textContent(), "501 / 500");
      assert.equal(await page.getByRole("button", { name: "Save changes" }).isDisabled(), true);
      assert.match(await page.locator("#detail-form-message").textContent(), /Notes is over the limit: 501 of 500 characters\./);

      await page.getByLabel("Notes", { exact: true }).fill("Shot from the pier");
      await page.getByLabel("Credits", { exact: true }).fill("Photo: Ada");
      await page.getByRole("button", { name: "Save changes" }).click();
      await wait(async () => assert.equal(await page.locator("#detail-form-message").textContent(), "Saved."));

      const { items } = await api.listByIds([ids["harbour-at-dawn.png"].id]);
      assert.equal(items[0].alt, "Boats in a harbour at dawn");
      assert.equal(items[0].notes, "Shot from the pier");
      assert.equal(items[0].credits, "Photo: Ada");
      assert.equal(await page.getByRole("button", { name: "Save changes" }).isDisabled(), true);
      assert.equal(await panel().locator(".preview img").getAttribute("alt"), "Boats in a harbour at dawn");
    });

    it("copies URL and downloads original", async () => {
      const asset = ids["harbour-at-dawn.png"];
      const details = await panel().locator("dl").textContent();
      for (const expected of [asset.id, "Image (.png)", `(${PICTURE.length.toLocaleString("en-US")} bytes)`, "640 × 400", "ghost"]) {
        assert.ok(details.includes(expected), `details show ${expected}: ${details}`);
      }
      assert.equal(await page.getByLabel("URL", { exact: true }).inputValue(), asset.url);

      await page.getByRole("button", { name: "Copy URL" }).click();
      await wait(async () => assert.equal(await page.locator("#detail-status").textContent(), "URL copied."));
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), asset.url);

      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("link", { name: "Download original" }).click(),
      ]);
      assert.equal(download.suggestedFilename(), "harbour-at-dawn.png");
      assert.deepEqual(readFileSync(await download.path()), PICTURE);
    });

    it("renames file and plays audio", async () => {
      await page.keyboard.press("Escape");
      await wait(async () => assert.equal(await panel().isHidden(), true));
      await openDetail("interview.wav");
      assert.equal(await panel().locator(".preview audio").count(), 1);

      await page.getByLabel("Filename", { exact: true }).fill("interview-2024.wav");
      await page.getByRole("button", { name: "Save changes" }).click();
      await wait(async () => assert.equal(await panel().locator("h2").textContent(), "interview-2024.wav"));
      await expectCards(["annual-report.pdf", "interview-2024.wav", "harbour-at-dawn.png"]);
      const { items } = await api.listByIds([ids["interview.wav"].id]);
      assert.equal(items[0].filename, "interview-2024.wav");
    });

    it("adds and removes a new tag", async () => {
      await page.getByLabel("Tag name", { exact: true }).fill("interviews");
      await page.getByRole("button", { name: "Add tag", exact: true }).click();
      await wait(async () => assert.deepEqual(await panel().locator(".chips .chip span").allTextContents(), ["interviews"]));
      let { items } = await api.listByIds([ids["interview.wav"].id]);
      assert.deepEqual(items[0].tags.map((tag) => tag.name), ["interviews"]);
      assert.deepEqual((await api.listTags()).map((tag) => tag.name), ["interviews"]);

      await page.getByRole("button", { name: "Remove tag interviews" }).click();
      await wait(async () => assert.equal(await panel().locator(".chips").count(), 0));
      ({ items } = await api.listByIds([ids["interview.wav"].id]));
      assert.deepEqual(items[0].tags, []);
    });

    it("tags two assets together", async () => {
      await page.keyboard.press("Escape");
      await page.getByLabel("Select harbour-at-dawn.png", { exact: true }).check();
      await page.getByLabel("Select annual-report.pdf", { exact: true }).check();
      assert.equal(await page.locator("#selection-count").textContent(), "2 selected");

      await page.getByLabel("Tag for selected", { exact: true }).fill("featured");
      await page.getByRole("button", { name: "Add tag to selected" }).click();
      await wait(async () =>
        assert.equal(await page.locator("#selection-status").textContent(), 'Tagged 2 assets with "featured".'),
      );

      const { items } = await api.listByIds(Object.values(ids).map((asset) => asset.id));
      const tagged = items.filter((asset) => asset.tags.some((tag) => tag.name === "featured")).map((asset) => asset.filename);
      assert.deepEqual(tagged.sort(), ["annual-report.pdf", "harbour-at-dawn.png"]);

      await page.getByRole("button", { name: "Clear selection" }).click();
      assert.equal(await page.locator("#selection-bar").isHidden(), true);
    });

    it("combines filters and restores URL", async () => {
      await wait(async () => assert.ok((await page.getByLabel("Tag", { exact: true }).locator("option").allTextContents()).includes("featured (2)")));
      await page.getByLabel("Tag", { exact: true }).selectOption("featured");
      await expectCards(["annual-report.pdf", "harbour-at-dawn.png"]);
      await expectCount("2 assets");
      assert.deepEqual(new URL(page.url()).searchParams.getAll("tags"), ["featured"]);

      await page.getByLabel("Type", { exact: true }).selectOption("image");
      await expectCards(["harbour-at-dawn.png"]);
      await page.getByLabel("Search", { exact: true }).fill("harbour");
      // The search applies after a pause in typing; the URL changes when it does.
      await wait(async () => assert.equal(new URL(page.url()).searchParams.get("q"), "harbour"));
      await expectCount("1 asset");
      const url = new URL(page.url());
      assert.equal(url.searchParams.get("q"), "harbour");
      assert.equal(url.searchParams.get("type"), "image");
      assert.deepEqual(url.searchParams.getAll("tags"), ["featured"]);

      // A bookmarked URL opens with the same filters and results.
      await page.reload();
      await expectCards(["harbour-at-dawn.png"]);
      assert.equal(await page.getByLabel("Search", { exact: true }).inputValue(), "harbour");
      assert.equal(await page.getByLabel("Type", { exact: true }).inputValue(), "image");
      assert.deepEqual(await page.locator("#active-tags .chip span").allTextContents(), ["featured"]);

      // Filters that change by choice are history entries: Back returns to the tag filter alone.
      await page.getByLabel("Search", { exact: true }).fill("");
      await wait(async () => assert.equal(new URL(page.url()).searchParams.has("q"), false));
      await expectCount("1 asset");
      await page.goBack();
      await expectCards(["annual-report.pdf", "harbour-at-dawn.png"]);
      assert.equal(await page.getByLabel("Type", { exact: true }).inputValue(), "all");

      await page.getByRole("button", { name: "Remove tag filter featured" }).click();
      await expectCards(["annual-report.pdf", "interview-2024.wav", "harbour-at-dawn.png"]);
      await expectCount("3 assets");
    });

    it("moves between cards by keyboard", async () => {
      await card("annual-report.pdf").locator(".card-open").focus();
      await page.keyboard.press("ArrowRight");
      assert.equal(await page.evaluate(() => document.activeElement.querySelector(".card-name")?.textContent), "interview-2024.wav");
      await page.keyboard.press("Enter");
      await wait(async () => assert.equal(await panel().locator("h2").textContent(), "interview-2024.wav"));
      assert.equal(await page.evaluate(() => document.activeElement.id), "detail-title");
      await page.keyboard.press("Escape");
      await wait(async () => assert.equal(await panel().isHidden(), true));
      assert.equal(await page.evaluate(() => document.activeElement.querySelector(".card-name")?.textContent), "interview-2024.wav");

      await page.keyboard.press("/");
      assert.equal(await page.evaluate(() => document.activeElement.id), "search");
    });

    it("deletes after confirmation", async () => {
      await openDetail("annual-report.pdf");
      assert.equal(await panel().getByRole("link", { name: "Open annual-report.pdf" }).count(), 1);

      await panel().getByRole("button", { name: "Delete", exact: true }).click();
      const dialog = page.locator("#confirm-dialog");
      assert.equal(await dialog.locator("#confirm-message").textContent(), 'Delete "annual-report.pdf"? This cannot be undone.');
      await dialog.getByRole("button", { name: "Cancel" }).click();
      assert.equal(await dialog.isVisible(), false);
      await expectCount("3 assets");

      await panel().getByRole("button", { name: "Delete", exact: true }).click();
      await dialog.getByRole("button", { name: "Delete", exact: true }).click();
      await expectCards(["interview-2024.wav", "harbour-at-dawn.png"]);
      await expectCount("2 assets");
      assert.equal(await panel().isHidden(), true);

      const listing = await api.listByIds([ids["annual-report.pdf"].id]);
      assert.deepEqual(listing.missing_ids, [ids["annual-report.pdf"].id]);
    });

    it("untags and deletes selected assets", async () => {
      await page.getByLabel("Select harbour-at-dawn.png", { exact: true }).check();
      await page.getByLabel("Tag for selected", { exact: true }).fill("featured");
      await page.getByRole("button", { name: "Remove tag from selected" }).click();
      await wait(async () =>
        assert.equal(await page.locator("#selection-status").textContent(), 'Removed "featured" from 1 asset.'),
      );
      let { items } = await api.listByIds([ids["harbour-at-dawn.png"].id]);
      assert.deepEqual(items[0].tags, []);
      await page.getByRole("button", { name: "Clear selection" }).click();

      await page.getByLabel("Select interview-2024.wav", { exact: true }).check();
      await page.getByRole("button", { name: "Delete selected" }).click();
      const dialog = page.locator("#confirm-dialog");
      assert.equal(await dialog.locator("#confirm-message").textContent(), 'Delete "interview-2024.wav"? This cannot be undone.');
      await dialog.getByRole("button", { name: "Delete", exact: true }).click();
      await expectCards(["harbour-at-dawn.png"]);
      await expectCount("1 asset");
      assert.equal(await page.locator("#selection-bar").isHidden(), true);
      const listing = await api.listByIds([ids["interview.wav"].id]);
      assert.deepEqual(listing.missing_ids, [ids["interview.wav"].id]);
    });

    it("gets no unexpected errors", async (t) => {
      assert.deepEqual(problems, [], "no console errors, CSP violations or uncaught exceptions");
      const apiResponses = responses.filter((entry) => !entry.path.startsWith("/web/") && !entry.path.startsWith("/files/") && entry.path !== "/");
      const failures = apiResponses.filter((entry) => entry.status >= 400 && entry.status !== 429);
      // The only expected failures: the write-access check (400 for a write token) and the upload over the limit.
      assert.deepEqual(
        failures.map((entry) => `${entry.method} ${entry.path} ${entry.status}`),
        ["POST /assets/bulk-delete 400", "POST /assets 413"],
      );
      checkRequests?.(apiResponses, t);
    });

    if (screenshots) {
      it("saves the screenshots", async () => {
        const writer = apiClient(server.baseUrl, repository, server.writeToken);
        const scenes = [
          ["alpine-lake.png", [150, 200, 255], [20, 70, 60]],
          ["city-lights.png", [30, 30, 80], [240, 160, 60]],
          ["desert-road.png", [250, 220, 170], [170, 90, 40]],
          ["forest-trail.png", [190, 230, 190], [20, 80, 40]],
          ["northern-sky.png", [20, 40, 90], [80, 220, 170]],
        ];
        for (const [name, top, bottom] of scenes) {
          await writer.upload(name, makePicture(800, 533, { top, bottom }));
        }
        await writer.upload("product-demo.mp4", fixture("clip.mp4"));
        await page.reload();
        await wait(async () => assert.equal((await cardNames()).length, 7));

        await openDetail("product-demo.mp4");
        assert.equal(await panel().locator(".preview video[controls]").count(), 1);
        await page.keyboard.press("Escape");
        await page.evaluate(() => Promise.all([...document.images].map((image) => image.decode().catch(() => {}))));

        mkdirSync(screenshotsDir, { recursive: true });
        await page.screenshot({ path: path.join(screenshotsDir, "grid.png") });

        // A taller window shows the whole panel: preview, edit form, tags and details.
        await page.setViewportSize({ width: 1280, height: 1500 });
        await openDetail("harbour-at-dawn.png");
        await page.getByLabel("Tag name", { exact: true }).fill("harbour");
        await page.getByRole("button", { name: "Add tag", exact: true }).click();
        await wait(async () => assert.deepEqual(await panel().locator(".chips .chip span").allTextContents(), ["harbour"]));
        await page.locator("#detail-title").focus();
        await page.evaluate(() => Promise.all([...document.images].map((image) => image.decode().catch(() => {}))));
        await page.screenshot({ path: path.join(screenshotsDir, "detail.png") });

        await page.keyboard.press("Escape");
        await page.setViewportSize({ width: 390, height: 844 });
        await page.screenshot({ path: path.join(screenshotsDir, "phone.png") });
      });
    }
  });
}

/** Formats a byte count as the page does (SI units). */
function formatSize(bytes) {
  if (bytes < 1000) {
    return `${bytes} B`;
  }
  const units = ["kB", "MB", "GB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
