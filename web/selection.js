// Selecting several assets to tag, untag or delete them together.

import { ApiError } from "./api.js";
import { closeDetail, refreshDetail } from "./detail.js";
import { confirmAction } from "./dialog.js";
import { announce, byId } from "./dom.js";
import { updateCount } from "./filters.js";
import { refreshCardControls, renderGrid, updateCard } from "./grid.js";
import { canEdit, library, tagByName } from "./state.js";
import { ensureTag, refreshTags, tagNameProblem } from "./tags.js";

/** Most ids the server takes in one bulk delete, and in one listing by ids. */
const MAX_IDS_PER_REQUEST = 100;
/** Most ids the server takes in one tag assignment. */
const MAX_ASSIGN_IDS = 1000;

export function initSelection() {
  byId("select-all").addEventListener("click", () => {
    for (const id of library.order) {
      library.selected.add(id);
    }
    showSelection();
  });
  byId("selection-clear").addEventListener("click", () => {
    clearSelection();
    byId("select-all").focus();
  });
  byId("selection-form").addEventListener("submit", (event) => {
    event.preventDefault();
    tagSelected();
  });
  byId("selection-add-tag").addEventListener("click", () => tagSelected());
  byId("selection-remove-tag").addEventListener("click", () => untagSelected());
  byId("selection-delete").addEventListener("click", () => deleteSelected());
}

export function toggleSelected(id, selected) {
  if (selected) {
    library.selected.add(id);
  } else {
    library.selected.delete(id);
  }
  showSelection();
}

export function clearSelection() {
  library.selected.clear();
  showSelection();
}

/** Shows the selection bar while assets are selected, and enables its buttons for write tokens only. */
export function showSelection() {
  const count = library.selected.size;
  byId("selection-bar").hidden = count === 0;
  byId("selection-count").textContent = `${count} selected`;
  for (const id of ["selection-tag", "selection-add-tag", "selection-remove-tag", "selection-delete"]) {
    byId(id).disabled = !canEdit();
  }
  byId("select-all").disabled = !canEdit() || library.order.length === 0;
  refreshCardControls();
}

function report(message) {
  byId("selection-status").textContent = message;
}

function selectedIds() {
  return [...library.selected].filter((id) => library.assets.has(id));
}

function chunks(items, size) {
  const result = [];
  for (let start = 0; start < items.length; start += size) {
    result.push(items.slice(start, start + size));
  }
  return result;
}

async function tagSelected() {
  const name = byId("selection-tag").value.trim();
  const problem = tagNameProblem(name);
  if (problem) {
    report(problem);
    byId("selection-tag").focus();
    return;
  }
  const ids = selectedIds();
  await runBulk(`Adding the tag "${name}"…`, async () => {
    const tag = await ensureTag(name);
    for (const part of chunks(ids, MAX_ASSIGN_IDS)) {
      await library.client.assignTag(tag.id, part);
    }
    await reloadAssets(ids);
    return `Tagged ${ids.length === 1 ? "1 asset" : `${ids.length} assets`} with "${name}".`;
  });
}

async function untagSelected() {
  const name = byId("selection-tag").value.trim();
  const problem = tagNameProblem(name);
  if (problem) {
    report(problem);
    byId("selection-tag").focus();
    return;
  }
  const tag = tagByName(name);
  if (!tag) {
    report(`No tag named "${name}" exists in this repository.`);
    return;
  }
  const ids = selectedIds();
  await runBulk(`Removing the tag "${name}"…`, async () => {
    for (const part of chunks(ids, MAX_ASSIGN_IDS)) {
      await library.client.unassignTag(tag.id, part);
    }
    await reloadAssets(ids);
    return `Removed "${name}" from ${ids.length === 1 ? "1 asset" : `${ids.length} assets`}.`;
  });
}

async function deleteSelected() {
  const ids = selectedIds();
  const what = ids.length === 1 ? `"${library.assets.get(ids[0]).filename}"` : `${ids.length} assets`;
  if (!(await confirmAction(`Delete ${what}? This cannot be undone.`, "Delete"))) {
    return;
  }
  await runBulk(`Deleting ${what}…`, async () => {
    for (const part of chunks(ids, MAX_IDS_PER_REQUEST)) {
      try {
        await library.client.bulkDelete(part);
      } catch (error) {
        // 404 means none of these ids exists any more, which is the aim.
        if (!(error instanceof ApiError && error.status === 404)) {
          throw error;
        }
      }
    }
    removeAssets(ids);
    clearSelection();
    byId("select-all").focus();
    // Clearing the selection hides the selection bar, so the result goes to the status line as well.
    announce(`Deleted ${what}.`);
    return `Deleted ${what}.`;
  });
  refreshTags().catch(() => {});
}

/** Runs a bulk action with the buttons disabled, and reports its result or the server's message. */
async function runBulk(progressMessage, action) {
  const bar = byId("selection-bar");
  const buttons = [...bar.querySelectorAll("button")];
  buttons.forEach((button) => (button.disabled = true));
  report(progressMessage);
  try {
    report(await action());
  } catch (error) {
    report(`Failed: ${error.message}`);
  } finally {
    buttons.forEach((button) => (button.disabled = false));
    showSelection();
  }
}

/** Fetches assets again by id after a change and redraws them; assets deleted meanwhile leave the grid. */
export async function reloadAssets(ids) {
  const missing = [];
  for (const part of chunks(ids, MAX_IDS_PER_REQUEST)) {
    const page = await library.client.listAssets({ ids: part, limit: MAX_IDS_PER_REQUEST });
    for (const asset of page.items) {
      library.assets.set(asset.id, asset);
      updateCard(asset);
    }
    missing.push(...(page.missing_ids ?? []));
  }
  removeAssets(missing);
  if (ids.includes(library.detailId)) {
    refreshDetail();
  }
  await refreshTags();
}

/** Removes assets from the grid and the total. */
export function removeAssets(ids) {
  const removed = ids.filter((id) => library.assets.has(id));
  if (removed.length === 0) {
    return;
  }
  for (const id of removed) {
    library.assets.delete(id);
    library.selected.delete(id);
  }
  library.order = library.order.filter((id) => library.assets.has(id));
  library.total = Math.max(0, library.total - removed.length);
  if (removed.includes(library.detailId)) {
    closeDetail({ restoreFocus: false });
  }
  renderGrid();
  updateCount();
  showSelection();
}
