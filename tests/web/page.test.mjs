// The main run of the media library page with the rate limit off; it also saves the screenshots of the README.
import { defineMainScenario } from "./scenario.mjs";

defineMainScenario({
  title: "media library page without a rate limit",
  repository: "web-test",
  serveArgs: ["--rate-limit", "0"],
  timeout: 30_000,
  screenshots: true,
});
