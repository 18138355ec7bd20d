// The main run of the media library page under the default rate limit of one request a second per token (burst 1).
// Every step must pass as without a limit: the page's queue waits for `retry-after` on 429 instead of failing.
import assert from "node:assert/strict";

import { defineMainScenario } from "./scenario.mjs";

defineMainScenario({
  title: "media library page under the default rate limit",
  repository: "web-limited",
  serveArgs: ["--rate-limit", "1", "--rate-limit-burst", "1"],
  // Each request waits its turn in the queue, so a step can take several seconds.
  timeout: 90_000,
  checkRequests: (responses, t) => {
    const limited = responses.filter((entry) => entry.status === 429);
    t.diagnostic(`${responses.length} API responses, ${limited.length} of them 429`);
    // Sign-in sends GET /tags and then GET /assets at once, so the server returns 429 at least once.
    assert.ok(limited.length >= 1, `expected at least one 429, got ${JSON.stringify(responses)}`);
    // Each 429 was followed by the same request succeeding.
    for (const entry of limited) {
      const retried = responses.find(
        (later) => later !== entry && later.method === entry.method && later.path === entry.path && later.status !== 429 && responses.indexOf(later) > responses.indexOf(entry),
      );
      assert.ok(retried, `${entry.method} ${entry.path} got 429 and was not sent again`);
    }
  },
});
