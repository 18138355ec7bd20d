// Uploads from the file picker or by drag and drop: one list entry per file with its progress and result.

import { byId, h } from "./dom.js";
import { updateCount } from "./filters.js";
import { formatSize } from "./format.js";
import { renderGrid } from "./grid.js";
import { canEdit, library, matchesFilters } from "./state.js";

let dragDepth = 0;

export function initUploads() {
  const input = byId("upload-input");
  input.addEventListener("change", () => {
    uploadFiles([...input.files]);
    input.value = "";
  });
  byId("uploads-clear").addEventListener("click", () => {
    for (const item of byId("upload-list").querySelectorAll('li[data-state="done"], li[data-state="failed"]')) {
      item.remove();
    }
    showUploadSummary();
    byId("upload-input").focus();
  });

  document.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) {
      return;
    }
    event.preventDefault();
    dragDepth += 1;
    byId("drop-overlay").hidden = false;
  });
  document.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) {
      return;
    }
    event.preventDefault();
    event.dataTransfer.dropEffect = canEdit() ? "copy" : "none";
  });
  document.addEventListener("dragleave", (event) => {
    if (!carriesFiles(event)) {
      return;
    }
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) {
      byId("drop-overlay").hidden = true;
    }
  });
  document.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) {
      return;
    }
    event.preventDefault();
    dragDepth = 0;
    byId("drop-overlay").hidden = true;
    uploadFiles([...event.dataTransfer.files]);
  });
}

/** Tells whether a drag carries files, while the library (not the sign-in form) is shown. */
function carriesFiles(event) {
  return !byId("library-view").hidden && [...(event.dataTransfer?.types ?? [])].includes("Files");
}

/** Queues each file for upload, in order. */
export function uploadFiles(files) {
  if (files.length === 0) {
    return;
  }
  if (!canEdit()) {
    byId("activity").textContent =
      library.readOnly === null
        ? "Uploads start once the access check has finished; try again in a moment."
        : "This token is read-only, so it cannot upload.";
    return;
  }
  byId("uploads").hidden = false;
  for (const file of files) {
    uploadOne(file);
  }
  showUploadSummary();
}

function uploadOne(file) {
  const progress = h("progress", { max: 100, value: 0, "aria-label": `Upload progress of ${file.name}` });
  const status = h("span", { class: "upload-status" }, "Queued");
  const item = h(
    "li",
    { class: "upload", "data-state": "queued" },
    h("span", { class: "upload-name", title: file.name }, file.name),
    h("span", { class: "upload-size" }, formatSize(file.size)),
    progress,
    status,
  );
  byId("upload-list").append(item);

  const setState = (state, text) => {
    item.dataset.state = state;
    status.textContent = text;
  };
  library.client
    .uploadAsset(file, {
      onStart: () => {
        progress.value = 0;
        setState("uploading", "Uploading");
      },
      onProgress: (loaded, total) => {
        const percent = total > 0 ? Math.round((loaded / total) * 100) : 100;
        progress.value = percent;
        setState("uploading", percent < 100 ? `Uploading, ${percent}%` : "Processing");
      },
      onWait: (seconds) => {
        progress.value = 0;
        setState("waiting", `Waiting ${seconds} s for the rate limit`);
      },
    })
    .then((asset) => {
      progress.value = 100;
      setState("done", "Uploaded");
      showUploaded(asset);
    })
    .catch((error) => {
      setState("failed", `Failed: ${error.message}`);
      item.classList.add("error");
    })
    .finally(showUploadSummary);
}

/** Puts a new asset first in the grid when it matches the filters; with a search keyword only the server can tell. */
function showUploaded(asset) {
  if (library.filters.q.trim() !== "" || !matchesFilters(asset) || library.assets.has(asset.id)) {
    return;
  }
  library.assets.set(asset.id, asset);
  library.order.unshift(asset.id);
  library.total += 1;
  renderGrid();
  updateCount();
}

function showUploadSummary() {
  const items = [...byId("upload-list").children];
  const done = items.filter((item) => item.dataset.state === "done").length;
  const failed = items.filter((item) => item.dataset.state === "failed").length;
  const pending = items.length - done - failed;
  const parts = [`${done} of ${items.length} uploaded`];
  if (failed > 0) {
    parts.push(`${failed} failed`);
  }
  if (pending > 0) {
    parts.push(`${pending} in progress`);
  }
  byId("uploads-summary").textContent = parts.join(", ");
  byId("uploads-clear").disabled = done + failed === 0;
  byId("uploads").hidden = items.length === 0;
}
