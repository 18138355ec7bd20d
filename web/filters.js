// Search, type and tag filters, their place in the page URL, and loading the listing page by page.

import { Cancelled } from "./queue.js";
import { ApiError } from "./api.js";
import { byId, h } from "./dom.js";
import { countAssets } from "./format.js";
import { renderGrid, watchLoadMore } from "./grid.js";
import { clearSelection } from "./selection.js";
import { ASSET_TYPES, library, tagByName } from "./state.js";
import { renderTagOptions } from "./tags.js";

/** Assets per listing request. */
const PAGE_SIZE = 60;
/** Pause after the last key press in the search field before the listing reloads. */
const SEARCH_DELAY_MS = 400;

let searchTimer = 0;

/** Reads `?q=…&type=…&tags=…` (tag names, repeated key) from the page URL. */
export function readFiltersFromUrl() {
  const params = new URLSearchParams(location.search);
  const type = params.get("type");
  return {
    q: params.get("q") ?? "",
    type: ASSET_TYPES.includes(type) ? type : "all",
    tags: [...new Set(params.getAll("tags").filter((name) => name !== ""))],
  };
}

/** Wires the filter controls; `reload` runs for every change. */
export function initFilters() {
  const search = byId("search");
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => applySearch(), SEARCH_DELAY_MS);
  });
  byId("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    applySearch();
  });

  byId("type-filter").addEventListener("change", (event) => {
    library.filters.type = event.target.value;
    changeFilters("push");
  });

  byId("tag-filter").addEventListener("change", (event) => {
    const name = event.target.value;
    if (name && !library.filters.tags.includes(name)) {
      library.filters.tags = [...library.filters.tags, name];
      changeFilters("push");
    }
  });

  window.addEventListener("popstate", () => {
    library.filters = readFiltersFromUrl();
    showFilters();
    reload();
  });
}

/** Shows the current filters in the controls. */
export function showFilters() {
  byId("search").value = library.filters.q;
  byId("type-filter").value = library.filters.type;
  const chips = library.filters.tags.map((name) =>
    h(
      "li",
      { class: "chip" },
      h("span", {}, name),
      h(
        "button",
        {
          type: "button",
          class: "chip-remove",
          "aria-label": `Remove tag filter ${name}`,
          onclick: () => {
            library.filters.tags = library.filters.tags.filter((other) => other !== name);
            changeFilters("push");
            byId("tag-filter").focus();
          },
        },
        "×",
      ),
    ),
  );
  byId("active-tags").replaceChildren(...chips);
  renderTagOptions();
}

function applySearch() {
  const q = byId("search").value;
  if (q === library.filters.q) {
    return;
  }
  library.filters.q = q;
  // Typing replaces the history entry, so that Back does not step through every keystroke.
  changeFilters("replace");
}

function changeFilters(mode) {
  writeFiltersToUrl(mode);
  showFilters();
  reload();
}

function writeFiltersToUrl(mode) {
  const params = new URLSearchParams();
  const { q, type, tags } = library.filters;
  if (q) {
    params.set("q", q);
  }
  if (type !== "all") {
    params.set("type", type);
  }
  for (const name of tags) {
    params.append("tags", name);
  }
  const query = params.toString();
  const url = query ? `?${query}` : location.pathname;
  if (url === location.search || (!query && !location.search)) {
    return;
  }
  if (mode === "push") {
    history.pushState(null, "", url);
  } else {
    history.replaceState(null, "", url);
  }
}

/** Loads the first page for the current filters, replacing the grid when it arrives. */
export async function reload() {
  library.generation += 1;
  const generation = library.generation;
  const isStale = () => generation !== library.generation;
  library.loading = true;
  library.hasMore = false;
  clearSelection();
  showCount("Loading…");

  const tagIds = [];
  const unknown = [];
  for (const name of library.filters.tags) {
    const tag = tagByName(name);
    if (tag) {
      tagIds.push(tag.id);
    } else {
      unknown.push(name);
    }
  }
  if (unknown.length > 0) {
    // An unknown tag matches nothing, as an unknown tag id does in the API.
    replaceResults({ items: [], total: 0 });
    library.loading = false;
    showCount(`No tag named ${unknown.map((name) => `"${name}"`).join(", ")} exists in this repository.`);
    return;
  }

  try {
    const page = await library.client.listAssets(
      { keyword: library.filters.q.trim(), assetType: library.filters.type, tagIds, limit: PAGE_SIZE },
      { isStale },
    );
    if (isStale()) {
      return;
    }
    replaceResults(page);
  } catch (error) {
    if (!(error instanceof Cancelled) && !isStale()) {
      showCount(`The assets could not be loaded: ${error.message}`);
    }
  } finally {
    if (!isStale()) {
      library.loading = false;
      watchLoadMore();
    }
  }
}

/** Loads the next page through the cursor and appends it. */
export async function loadMore() {
  if (library.loading || !library.hasMore || !library.cursor) {
    return;
  }
  const generation = library.generation;
  const isStale = () => generation !== library.generation;
  library.loading = true;
  try {
    const page = await library.client.listAssets({ cursor: library.cursor, limit: PAGE_SIZE, ...currentQuery() }, { isStale });
    if (!isStale()) {
      appendResults(page);
    }
  } catch (error) {
    if (error instanceof ApiError && error.code === "invalid_cursor") {
      // The cursor belongs to other filters; start over.
      library.loading = false;
      reload();
      return;
    }
    if (!(error instanceof Cancelled) && !isStale()) {
      showCount(`More assets could not be loaded: ${error.message}`);
    }
  } finally {
    if (!isStale()) {
      library.loading = false;
      watchLoadMore();
    }
  }
}

/** The listing filters as the API takes them; a cursor must be sent with the filters that produced it. */
function currentQuery() {
  return {
    keyword: library.filters.q.trim(),
    assetType: library.filters.type,
    tagIds: library.filters.tags.map((name) => tagByName(name)?.id).filter(Boolean),
  };
}

function replaceResults(page) {
  library.assets.clear();
  library.order = [];
  appendResults(page);
}

function appendResults(page) {
  for (const asset of page.items) {
    if (!library.assets.has(asset.id)) {
      library.order.push(asset.id);
    }
    library.assets.set(asset.id, asset);
  }
  library.total = page.total;
  library.cursor = page.cursor ?? null;
  // The page after the last one is empty and has no cursor; stop before requesting it when everything is shown.
  library.hasMore = page.items.length > 0 && Boolean(page.cursor) && library.order.length < page.total;
  renderGrid();
  updateCount();
}

/** Shows the total count of the current listing, or what the grid shows when it is empty. */
export function updateCount() {
  const { total, order } = library;
  const filtered = library.filters.q.trim() !== "" || library.filters.type !== "all" || library.filters.tags.length > 0;
  let text = countAssets(total);
  if (total === 0) {
    text = filtered ? "No assets match these filters." : "No assets yet.";
  } else if (order.length < total) {
    text = `${countAssets(total)}, ${order.length} shown`;
  }
  showCount(text);
}

function showCount(text) {
  byId("result-count").textContent = text;
}
