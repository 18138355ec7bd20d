// Launches Debian's Chromium through playwright-core, and helpers to watch and wait on the page.
import { setTimeout as sleep } from "node:timers/promises";

import { chromium } from "playwright-core";

/** Path of the Chromium binary: `TEST_CHROMIUM`, else Debian's `chromium` package. */
export const chromiumPath = process.env.TEST_CHROMIUM ?? "/usr/bin/chromium";

/** Starts a headless Chromium; as root it needs `--no-sandbox`, because Chromium's sandbox refuses to run as root. */
export function launchBrowser() {
  const args = process.getuid?.() === 0 ? ["--no-sandbox"] : [];
  return chromium.launch({ executablePath: chromiumPath, headless: true, args });
}

/**
 * Opens a page that records every response as `{method, path, status}` in `responses`, and every console error,
 * Content-Security-Policy violation and uncaught exception in `problems`.
 */
export async function openPage(context, { responses = [], problems = [] } = {}) {
  const page = await context.newPage();
  page.on("response", (response) => {
    const url = new URL(response.url());
    responses.push({ method: response.request().method(), path: url.pathname, query: url.search, status: response.status() });
  });
  page.on("console", (message) => {
    // Chromium logs every 4xx response as "Failed to load resource"; the tests check statuses through `responses`.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
  return { page, responses, problems };
}

/** Calls `check` until it stops throwing, and rethrows its last error after `timeout` milliseconds. */
export async function eventually(check, { timeout = 30_000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) {
        throw error;
      }
    }
    await sleep(interval);
  }
}
