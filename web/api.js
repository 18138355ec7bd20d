// Client of medialib's public API: the Asset API routes (through the request queue) and the Authentication API.

import { RequestQueue } from "./queue.js";

const NETWORK_ERROR_MESSAGE = "The server did not respond; check that medialib is running, then try again.";

/** An error response of the server, with its status, stable `error` code and `message`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** Client of one repository with one token. Every call goes through `queue`, one request at a time. */
export class Client {
  /** `onUnauthorized(error)` runs when the server returns 401, which means the token is no longer valid. */
  constructor({ repository, token, onUnauthorized }) {
    this.repository = repository;
    this.token = token;
    this.onUnauthorized = onUnauthorized;
    this.queue = new RequestQueue();
  }

  /** Lists assets; `tagIds` and `ids` become repeated query keys. Resolves to `{items, total, cursor?, missing_ids?}`. */
  listAssets({ keyword, assetType, tagIds = [], ids = [], cursor, limit } = {}, { isStale } = {}) {
    const query = new URLSearchParams();
    if (limit) {
      query.set("limit", String(limit));
    }
    if (cursor) {
      query.set("cursor", cursor);
    }
    if (assetType && assetType !== "all") {
      query.set("assetType", assetType);
    }
    if (keyword) {
      query.set("keyword", keyword);
    }
    for (const id of tagIds) {
      query.append("tags", id);
    }
    for (const id of ids) {
      query.append("ids", id);
    }
    return this.#request("GET", `/assets?${query}`, { isStale });
  }

  /** Uploads one file with XMLHttpRequest, which reports upload progress; resolves to the asset. */
  uploadAsset(file, { onStart, onProgress, onWait } = {}) {
    const send = () => sendUpload(file, this.#headers(), onProgress);
    return this.queue.enqueue(send, { onStart, onWait }).then((response) => this.#parse(response));
  }

  /** Changes the given fields (`alt`, `notes`, `credits`, `filename`, `tags` as ids); resolves to the asset. */
  updateAsset(id, fields) {
    return this.#request("PATCH", `/assets/${encodeURIComponent(id)}`, { json: fields });
  }

  deleteAsset(id) {
    return this.#request("DELETE", `/assets/${encodeURIComponent(id)}`);
  }

  /** Deletes up to 100 assets at once. */
  bulkDelete(ids) {
    return this.#request("POST", "/assets/bulk-delete", { json: { ids } });
  }

  /** Resolves to the repository's tags with their asset counts, ordered by name. */
  async listTags() {
    const body = await this.#request("GET", "/tags");
    return body.items;
  }

  /** Creates a tag; resolves to it. */
  createTag(name) {
    return this.#request("POST", "/tags", { json: { name } });
  }

  /** Adds a tag to up to 1000 assets. */
  assignTag(tagId, assetIds) {
    return this.#request("POST", `/tags/${encodeURIComponent(tagId)}/assets`, { json: { assetIds } });
  }

  /** Removes a tag from up to 1000 assets. */
  unassignTag(tagId, assetIds) {
    return this.#request("DELETE", `/tags/${encodeURIComponent(tagId)}/assets`, { json: { assetIds } });
  }

  /**
   * Finds out whether the token may write, with a write that cannot change anything: a bulk delete of no ids. The
   * server checks access before it reads the body, so a read-only token gets 403, while a write token gets 400
   * `empty_ids`. Call it only after a read succeeded, because a token without access to the repository gets 403 too.
   */
  async canWrite() {
    try {
      await this.#request("POST", "/assets/bulk-delete", { json: { ids: [] } });
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        return false;
      }
      if (error instanceof ApiError && error.status === 400) {
        return true;
      }
      throw error;
    }
  }

  #headers() {
    return { repository: this.repository, authorization: `Bearer ${this.token}` };
  }

  async #request(method, path, { json, isStale } = {}) {
    const headers = this.#headers();
    const init = { method, headers };
    if (json !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    const response = await this.queue.enqueue(() => sendFetch(path, init), { isStale });
    return this.#parse(response);
  }

  #parse({ status, text }) {
    if (status >= 200 && status < 300) {
      return text ? JSON.parse(text) : null;
    }
    const error = errorFromResponse(status, text);
    if (status === 401) {
      this.onUnauthorized?.(error);
    }
    throw error;
  }
}

/**
 * Signs in through the Authentication API (`POST /login`) and resolves to the session token, which the server
 * returns as plain text. Sign-ins are not counted by the per-token rate limit, so this call bypasses the queue.
 */
export async function login(email, password) {
  let response;
  try {
    response = await fetch("/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
  } catch {
    throw new ApiError(0, "network_error", NETWORK_ERROR_MESSAGE);
  }
  const text = await response.text();
  if (response.status !== 200) {
    throw errorFromResponse(response.status, text);
  }
  return text.trim();
}

async function sendFetch(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network_error", NETWORK_ERROR_MESSAGE);
  }
  return { status: response.status, retryAfter: response.headers.get("retry-after"), text: await response.text() };
}

function sendUpload(file, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/assets");
    for (const [name, value] of Object.entries(headers)) {
      request.setRequestHeader(name, value);
    }
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        onProgress?.(event.loaded, event.total);
      }
    });
    request.addEventListener("load", () => {
      resolve({
        status: request.status,
        retryAfter: request.getResponseHeader("retry-after"),
        text: request.responseText,
      });
    });
    request.addEventListener("error", () => reject(new ApiError(0, "network_error", NETWORK_ERROR_MESSAGE)));
    request.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was cancelled.")));

    const form = new FormData();
    form.append("file", file, file.name);
    request.send(form);
  });
}

/** Builds an ApiError from medialib's `{"error", "message"}` body, or from the status when the body is not JSON. */
function errorFromResponse(status, text) {
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  const message =
    typeof body?.message === "string" && body.message
      ? body.message
      : `The server returned status ${status}${text ? `: ${text.slice(0, 200)}` : "."}`;
  const code = typeof body?.error === "string" ? body.error : "http_error";
  return new ApiError(status, code, message);
}
