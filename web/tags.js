// The repository's tags: loading, creating on first use, and the lists that offer them.

import { ApiError } from "./api.js";
import { byId, h } from "./dom.js";
import { codePointLength } from "./format.js";
import { library, tagByName } from "./state.js";

/** Maximum length of a tag name, in code points. */
const MAX_TAG_LENGTH = 20;

/** Loads the tags with their counts and refreshes every list that offers them. */
export async function refreshTags() {
  library.tags = await library.client.listTags();
  renderTagOptions();
}

/** Replaces the tag list (from a request made elsewhere) and refreshes the lists that offer tags. */
export function setTags(tags) {
  library.tags = tags;
  renderTagOptions();
}

/** Returns why a tag name is invalid, or null when the server will accept it. */
export function tagNameProblem(name) {
  const length = codePointLength(name);
  if (length === 0) {
    return "Enter a tag name.";
  }
  if (length > MAX_TAG_LENGTH) {
    return `Tag names have at most ${MAX_TAG_LENGTH} characters; this one has ${length}.`;
  }
  return null;
}

/** Returns the tag of this name, creating it first when the repository has none. */
export async function ensureTag(name) {
  const existing = tagByName(name);
  if (existing) {
    return existing;
  }
  try {
    const created = await library.client.createTag(name);
    library.tags = [...library.tags, { ...created, count: 0 }].sort(byName);
    renderTagOptions();
    return created;
  } catch (error) {
    // Another client may have created the same name meanwhile, and then the server returns 400.
    if (error instanceof ApiError && error.status === 400) {
      await refreshTags();
      const found = tagByName(name);
      if (found) {
        return found;
      }
    }
    throw error;
  }
}

/** Adds `delta` to the count shown for a tag. */
export function adjustTagCount(tagId, delta) {
  const tag = library.tags.find((candidate) => candidate.id === tagId);
  if (tag) {
    tag.count = Math.max(0, (tag.count ?? 0) + delta);
    renderTagOptions();
  }
}

/** Fills the tag filter (tags not yet in the filter, with counts) and the suggestions of every tag name field. */
export function renderTagOptions() {
  const filter = byId("tag-filter");
  const active = new Set(library.filters.tags);
  const options = library.tags
    .filter((tag) => !active.has(tag.name))
    .map((tag) => h("option", { value: tag.name }, `${tag.name} (${tag.count ?? 0})`));
  let placeholder = "Any tag";
  if (library.tags.length === 0) {
    placeholder = "No tags yet";
  } else if (active.size > 0) {
    placeholder = "Add another tag";
  }
  filter.replaceChildren(h("option", { value: "" }, placeholder), ...options);
  filter.value = "";

  byId("tag-names").replaceChildren(...library.tags.map((tag) => h("option", { value: tag.name })));
}

function byName(left, right) {
  if (left.name === right.name) {
    return 0;
  }
  return left.name < right.name ? -1 : 1;
}
