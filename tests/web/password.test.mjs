// Sign-in with an email and a password through the Authentication API, an upload by drag and drop as that user,
// and signing out.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { eventually, launchBrowser, openPage } from "./browser.mjs";
import { makePicture } from "./fixtures.mjs";
import { apiClient, startServer } from "./server.mjs";

const REPOSITORY = "web-accounts";
const EMAIL = "ada@example.com";
const PASSWORD = "correct horse battery staple";

describe("media library page with an account", { timeout: 5 * 60_000 }, () => {
  let server;
  let browser;
  let page;
  let problems;
  let userId;

  before(async () => {
    server = await startServer({ repository: REPOSITORY, serveArgs: ["--rate-limit", "0"] });
    userId = server.createUser(EMAIL, PASSWORD);
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-US" });
    ({ page, problems } = await openPage(context));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("checks the form before sending it", async () => {
    await page.goto(server.baseUrl);
    await page.getByLabel("Repository", { exact: true }).fill("No Such Name");
    await page.getByRole("button", { name: "Sign in" }).click();
    assert.match(await page.locator("#signin-error").textContent(), /lower-case letters, digits and hyphens/);

    await page.getByLabel("Repository", { exact: true }).fill(REPOSITORY);
    await page.getByRole("button", { name: "Sign in" }).click();
    assert.equal(await page.locator("#signin-error").textContent(), "Enter a token, or the email and password of an account.");
  });

  it("shows the server's message for a wrong password", async () => {
    await page.getByLabel("Email", { exact: true }).fill(EMAIL);
    await page.getByLabel("Password", { exact: true }).fill("wrong password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await eventually(async () => assert.equal(await page.locator("#signin-error").textContent(), "Wrong email or password."));
    assert.equal(await page.locator("#signin-view").isVisible(), true);
  });

  it("signs in with an email and a password", async () => {
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await eventually(async () => assert.equal(await page.locator("#result-count").textContent(), "No assets yet."));
    await eventually(async () => assert.equal(await page.locator("#access-badge").isHidden(), true));

    const session = JSON.parse(await page.evaluate(() => sessionStorage.getItem("medialib.session")));
    assert.equal(session.repository, REPOSITORY);
    assert.match(session.token, /^mls/, "a session token from POST /login");
    assert.ok(!page.url().includes(session.token), "the token is not in the URL");
    assert.ok(!page.url().includes(encodeURIComponent(PASSWORD)), "the password is not in the URL");
    const validate = await fetch(`${server.baseUrl}/validate?token=${encodeURIComponent(session.token)}`);
    assert.equal(validate.status, 200);
  });

  it("uploads a dropped file as the user", async () => {
    const png = makePicture(300, 200, { top: [250, 240, 200], bottom: [120, 60, 30] });
    await page.evaluate((bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], "dropped-dunes.png", { type: "image/png" }));
      const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
      document.body.dispatchEvent(new DragEvent("dragenter", init));
      document.body.dispatchEvent(new DragEvent("dragover", init));
      document.body.dispatchEvent(new DragEvent("drop", init));
    }, [...png]);

    await eventually(async () => assert.equal(await page.locator('#upload-list li[data-state="done"]').count(), 1));
    assert.equal(await page.locator("#drop-overlay").isHidden(), true);
    await eventually(async () => assert.deepEqual(await page.locator("#grid .card-name").allTextContents(), ["dropped-dunes.png"]));

    await page.locator("#grid .card-open").first().click();
    await eventually(async () => assert.ok((await page.locator("#detail dl").textContent()).includes(userId)));

    const session = JSON.parse(await page.evaluate(() => sessionStorage.getItem("medialib.session")));
    const [asset] = await apiClient(server.baseUrl, REPOSITORY, session.token).listAll();
    assert.equal(asset.filename, "dropped-dunes.png");
    assert.equal(asset.uploader_id, userId);
    assert.equal(asset.size, png.length);
  });

  it("signs out and forgets the token", async () => {
    await page.keyboard.press("Escape");
    await page.getByRole("button", { name: "Sign out" }).click();
    await eventually(async () => assert.equal(await page.locator("#signin-view").isVisible(), true));
    assert.equal(await page.evaluate(() => sessionStorage.getItem("medialib.session")), null);
    assert.equal(await page.getByLabel("Repository", { exact: true }).inputValue(), REPOSITORY);
    assert.deepEqual(problems, []);
  });
});
