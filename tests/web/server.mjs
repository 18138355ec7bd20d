// Starts a real `medialib serve` on a free loopback port with a fresh data directory, and offers the API calls the
// tests use to check what the page did.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const webTestsDir = path.dirname(fileURLToPath(import.meta.url));

/** Path of the medialib binary under test: `TEST_MEDIALIB_BINARY`, else the release build of this checkout. */
export const medialibBinary =
  process.env.TEST_MEDIALIB_BINARY ?? path.resolve(webTestsDir, "../../target/release/medialib");

const STARTUP_TIMEOUT_MS = 30_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;
/** Attempts of an API call from the tests that keeps getting 429. */
const MAX_RATE_LIMITED_ATTEMPTS = 30;

// The server reads every option from a `MEDIALIB_*` variable too, so a developer's own settings must not leak in.
function cleanEnvironment() {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("MEDIALIB_")) {
      env[name] = value;
    }
  }
  env.NO_COLOR = "1";
  return env;
}

function runCli(args, input) {
  return execFileSync(medialibBinary, args, {
    env: cleanEnvironment(),
    encoding: "utf8",
    input,
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  }).trim();
}

/**
 * Creates a repository, a write token and a read-only token in a new data directory, then starts `medialib serve`
 * on it with `serveArgs` appended. Resolves once `GET /health` returns 200.
 */
export async function startServer({ repository, serveArgs = [] }) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "medialib-web-"));
  const common = ["--data-dir", dataDir];

  runCli(["repository", "create", repository, ...common]);
  const writeToken = runCli(["token", "create", "--repository", repository, ...common]);
  const readOnlyToken = runCli(["token", "create", "--repository", repository, "--read-only", ...common]);

  const child = spawn(medialibBinary, ["serve", "--listen", "127.0.0.1:0", ...common, ...serveArgs], {
    env: cleanEnvironment(),
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  let stderr = "";
  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`medialib serve printed no "listening on" line within ${STARTUP_TIMEOUT_MS} ms; stderr:\n${stderr}`)),
      STARTUP_TIMEOUT_MS,
    );
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
      const match = /listening on\D*(127\.0\.0\.1:\d+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`medialib serve exited early (code ${code}, signal ${signal}); stderr:\n${stderr}`));
    });
  });

  const baseUrl = `http://${address}`;
  await waitForHealth(baseUrl);

  async function stop() {
    process.removeListener("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), SHUTDOWN_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  }

  /** Creates a user of the repository with a password; resolves to the user's id. */
  function createUser(email, password) {
    const id = runCli(["user", "create", "--email", email, "--repository", repository, ...common]);
    runCli(["user", "set-password", "--email", email, ...common], `${password}\n`);
    return id;
  }

  return { baseUrl, repository, writeToken, readOnlyToken, createUser, stop, stderr: () => stderr };
}

async function waitForHealth(baseUrl) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let lastStatus = "no answer";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${baseUrl}/health`);
      if (response.status === 200) {
        return;
      }
      lastStatus = `status ${response.status}`;
    } catch (error) {
      lastStatus = String(error);
    }
    await sleep(100);
  }
  throw new Error(`GET ${baseUrl}/health did not return 200 within ${STARTUP_TIMEOUT_MS} ms (last: ${lastStatus})`);
}

/**
 * Returns API calls made with one token, for checking what the page stored. Each call waits for `retry-after` and
 * repeats on 429, so the tests work under the default rate limit too.
 */
export function apiClient(baseUrl, repository, token) {
  async function request(method, requestPath, body) {
    for (let attempt = 1; ; attempt += 1) {
      const response = await fetch(`${baseUrl}${requestPath}`, {
        method,
        headers: { repository, authorization: `Bearer ${token}` },
        body,
      });
      if (response.status !== 429 || attempt >= MAX_RATE_LIMITED_ATTEMPTS) {
        return response;
      }
      await response.arrayBuffer();
      await sleep(Number(response.headers.get("retry-after") ?? "1") * 1000);
    }
  }

  async function json(method, requestPath, body, expectedStatus) {
    const response = await request(method, requestPath, body);
    const text = await response.text();
    if (response.status !== expectedStatus) {
      throw new Error(`${method} ${requestPath} returned ${response.status}, expected ${expectedStatus}: ${text}`);
    }
    return JSON.parse(text);
  }

  return {
    /** `GET /assets?ids=…`: resolves to the whole listing body. */
    listByIds(ids) {
      const query = new URLSearchParams(ids.map((id) => ["ids", id]));
      return json("GET", `/assets?${query}`, undefined, 200);
    },
    /** `GET /assets` of the first 1000 assets, newest first: resolves to the items. */
    async listAll() {
      return (await json("GET", "/assets?limit=1000", undefined, 200)).items;
    },
    /** `GET /tags`: resolves to the items. */
    async listTags() {
      return (await json("GET", "/tags", undefined, 200)).items;
    },
    /** `POST /assets` of one file: resolves to the asset. */
    upload(filename, bytes) {
      const form = new FormData();
      form.append("file", new Blob([bytes]), filename);
      return json("POST", "/assets", form, 200);
    },
  };
}
