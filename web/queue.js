// The request queue of the page: API requests go out one at a time, in the order they were made.
//
// medialib limits each token to a whole number of requests per second (`--rate-limit`, 1 by default, or none). The
// queue sends freely until the server first returns 429. From then on it starts at most one request every 1.1 s, a
// pace that every setting of the limit allows. A 429 is never an error here: the queue waits for `retry-after` and
// sends the same request again.

import { sleep } from "./dom.js";

/**
 * Interval between request starts once the server has returned 429, in milliseconds: one second, plus a margin
 * because requests take varying time to reach the server, and one that arrives a millisecond early gets 429.
 */
const PACED_INTERVAL_MS = 1100;
/** Attempts of one request that keeps getting 429 before the 429 goes to the caller. */
const MAX_RATE_LIMITED_ATTEMPTS = 30;
/** Attempts of one request that keeps getting 503 with `retry-after` (a busy or unavailable backend). */
const MAX_UNAVAILABLE_ATTEMPTS = 3;

/** Rejection of a queued request that was dropped because its result is no longer wanted. */
export class Cancelled extends Error {
  constructor() {
    super("The request was dropped because a newer one replaced it.");
    this.name = "Cancelled";
  }
}

/**
 * A FIFO of requests. Each job's `send()` performs one attempt and resolves to `{status, retryAfter, text}`.
 * Events: `wait` (detail: `{seconds}`) when a request waits for `retry-after`, `send` before each attempt, and
 * `idle` when the queue empties.
 */
export class RequestQueue extends EventTarget {
  #jobs = [];
  #running = false;
  #intervalMs = 0;
  #lastStart = -Infinity;

  /**
   * Queues a request. `isStale()` is checked before each attempt, and a stale job rejects with Cancelled without
   * being sent. `onStart(attempt)` runs before each attempt and `onWait(seconds)` before each wait.
   */
  enqueue(send, { isStale, onStart, onWait } = {}) {
    return new Promise((resolve, reject) => {
      this.#jobs.push({ send, isStale, onStart, onWait, resolve, reject });
      if (!this.#running) {
        this.#drain();
      }
    });
  }

  /** Number of requests queued or in flight. */
  get pending() {
    return this.#jobs.length + (this.#running ? 1 : 0);
  }

  /** True once the server has returned 429 and the queue paces its requests. */
  get paced() {
    return this.#intervalMs > 0;
  }

  async #drain() {
    this.#running = true;
    while (this.#jobs.length > 0) {
      const job = this.#jobs.shift();
      try {
        job.resolve(await this.#run(job));
      } catch (error) {
        job.reject(error);
      }
    }
    this.#running = false;
    this.dispatchEvent(new Event("idle"));
  }

  async #run(job) {
    for (let attempt = 1; ; attempt += 1) {
      if (job.isStale?.()) {
        throw new Cancelled();
      }
      const waitForPace = this.#lastStart + this.#intervalMs - performance.now();
      if (waitForPace > 0) {
        await sleep(waitForPace);
        if (job.isStale?.()) {
          throw new Cancelled();
        }
      }

      this.#lastStart = performance.now();
      job.onStart?.(attempt);
      this.dispatchEvent(new Event("send"));
      const response = await job.send();

      const seconds = retryDelay(response, attempt);
      if (seconds === null) {
        return response;
      }
      if (response.status === 429) {
        this.#intervalMs = PACED_INTERVAL_MS;
      }
      job.onWait?.(seconds);
      this.dispatchEvent(new CustomEvent("wait", { detail: { seconds, status: response.status } }));
      await sleep(seconds * 1000);
    }
  }
}

/** Returns the seconds to wait before sending a request again, or null when its response is final. */
function retryDelay(response, attempt) {
  const retryable =
    (response.status === 429 && attempt < MAX_RATE_LIMITED_ATTEMPTS) ||
    (response.status === 503 && response.retryAfter !== null && attempt < MAX_UNAVAILABLE_ATTEMPTS);
  if (!retryable) {
    return null;
  }
  // medialib always sends a whole number of seconds, at least 1; anything else falls back to 1 s.
  const seconds = Number.parseInt(response.retryAfter ?? "", 10);
  return Number.isFinite(seconds) && seconds >= 1 ? Math.min(seconds, 60) : 1;
}
