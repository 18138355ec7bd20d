// State of the signed-in page, shared by the modules.

export const ASSET_TYPES = ["all", "image", "audio", "video", "document"];

export const library = {
  /** Client of the signed-in repository (api.js). */
  client: null,
  repository: "",
  /** null while the access check runs, then true for a read-only token and false for a write token. */
  readOnly: null,
  /** Filters as they appear in the page URL: `q`, `type` and tag names. */
  filters: { q: "", type: "all", tags: [] },
  /** Tags of the repository: `{id, name, count}`, ordered by name. */
  tags: [],
  /** Loaded assets by id, and the ids in grid order. */
  assets: new Map(),
  order: [],
  total: 0,
  cursor: null,
  hasMore: false,
  loading: false,
  /** Bumped by each new listing, so that responses to an older listing are dropped. */
  generation: 0,
  selected: new Set(),
  /** Id of the asset in the detail panel, or null. */
  detailId: null,
};

/** True once the access check found a write token. */
export function canEdit() {
  return library.readOnly === false;
}

export function tagByName(name) {
  return library.tags.find((tag) => tag.name === name);
}

/** Tells whether an asset matches the type and tag filters. The keyword is matched by the server only. */
export function matchesFilters(asset) {
  const { type, tags } = library.filters;
  if (type !== "all" && asset.kind !== type) {
    return false;
  }
  return tags.every((name) => asset.tags.some((tag) => tag.name === name));
}
