// Starts a real `medialib serve` on a free loopback port with a fresh data directory, for the compatibility tests.
import { File as BufferFile } from "node:buffer";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The client calls the global File, which Node.js has from version 20 on; Debian 12's Node.js 18 has it only
// in node:buffer.
globalThis.File ??= BufferFile;

const compatDir = path.dirname(fileURLToPath(import.meta.url));

/** Path of the medialib binary under test: `TEST_MEDIALIB_BINARY`, else the debug build of this checkout. */
export const medialibBinary =
  process.env.TEST_MEDIALIB_BINARY ?? path.resolve(compatDir, "../../target/debug/medialib");

const STARTUP_TIMEOUT_MS = 30_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;

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

function runCli(args) {
  return execFileSync(medialibBinary, args, {
    env: cleanEnvironment(),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

/**
 * Creates a repository and a write token in a new data directory, then starts `medialib serve` on it.
 * `serveArgs` are appended to the `serve` command line. Resolves once `GET /health` returns 200.
 */
export async function startServer({ repository, serveArgs = [] }) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "medialib-compat-"));
  const common = ["--data-dir", dataDir];

  runCli(["repository", "create", repository, ...common]);
  const writeToken = runCli(["token", "create", "--repository", repository, ...common]);
  const readOnlyToken = runCli(["token", "create", "--repository", repository, "--read-only", ...common]);

  const child = spawn(
    medialibBinary,
    ["serve", "--listen", "127.0.0.1:0", ...common, ...serveArgs],
    { env: cleanEnvironment(), stdio: ["ignore", "ignore", "pipe"] },
  );
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

  return { baseUrl, repository, writeToken, readOnlyToken, stop, stderr: () => stderr };
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
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`GET ${baseUrl}/health did not return 200 within ${STARTUP_TIMEOUT_MS} ms (last: ${lastStatus})`);
}

/**
 * Returns a `fetch` that records method, path, status and `retry-after` of every request the client sends,
 * plus the body of error responses, into `log`.
 */
export function recordingFetch(log) {
  return async (url, init) => {
    const method = init?.method ?? "GET";
    const requestPath = new URL(url).pathname;
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      // fetch reports a connection the server closed early only as "fetch failed", with the reason in `cause`.
      const reason = error.cause?.code ?? error.cause?.message ?? error.message;
      throw new Error(`${method} ${requestPath} failed before a response arrived: ${reason}`, { cause: error });
    }
    const entry = {
      method,
      path: requestPath,
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
    };
    if (response.status >= 400) {
      entry.body = await response.clone().text();
    }
    log.push(entry);
    return response;
  };
}

/** Collapses the repeated leading slashes that the client sends (`//assets`) for comparisons. */
export function routeOf(entry) {
  return `${entry.method} ${entry.path.replace(/^\/+/, "/")}`;
}
