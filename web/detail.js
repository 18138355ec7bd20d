// The detail panel: preview, every field, editing, tags, copying the URL, downloading and deleting one asset.

import { ApiError } from "./api.js";
import { confirmAction } from "./dialog.js";
import { announce, byId, h } from "./dom.js";
import { codePointLength, formatBytes, formatDate, formatDimensions, formatSize, kindLabel } from "./format.js";
import { cardButton, imageUrl, updateCard } from "./grid.js";
import { kindIcon } from "./icons.js";
import { removeAssets } from "./selection.js";
import { canEdit, library } from "./state.js";
import { adjustTagCount, ensureTag, tagNameProblem } from "./tags.js";

/** Maximum length of a filename, alt text, notes and credits, in code points. */
const MAX_TEXT_LENGTH = 500;
/** CSS width of the preview image. The URL requests this width, and twice it for dense screens. */
const PREVIEW_WIDTH = 800;

/** Editable text fields, in the order of the form. */
const TEXT_FIELDS = [
  { key: "filename", label: "Filename", multiline: false },
  { key: "alt", label: "Alt text", multiline: true },
  { key: "notes", label: "Notes", multiline: true },
  { key: "credits", label: "Credits", multiline: false },
];

let opener = null;

export function initDetail() {
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && library.detailId && !byId("confirm-dialog").open) {
      event.preventDefault();
      closeDetail();
    }
  });
}

/** Opens the panel of an asset and moves focus to its title. */
export function openDetail(id) {
  if (!library.assets.has(id)) {
    return;
  }
  if (!library.detailId) {
    opener = document.activeElement;
  }
  library.detailId = id;
  render();
  const panel = byId("detail");
  panel.hidden = false;
  document.body.classList.add("detail-open");
  byId("detail-title").focus();
}

/** Closes the panel; focus goes back to the card that opened it, when there is one. */
export function closeDetail({ restoreFocus = true } = {}) {
  const id = library.detailId;
  library.detailId = null;
  byId("detail").hidden = true;
  byId("detail").replaceChildren();
  document.body.classList.remove("detail-open");
  if (!restoreFocus) {
    return;
  }
  const target = (id && cardButton(id)) || (opener?.isConnected ? opener : byId("assets-heading"));
  target?.focus();
}

/** Redraws the panel after its asset or the access changed. It keeps the focus, and unsaved edits when `keepUnsaved`. */
export function refreshDetail({ keepUnsaved = true } = {}) {
  if (!library.detailId || !library.assets.has(library.detailId)) {
    return;
  }
  const focusedId = document.activeElement?.id;
  const unsaved = {};
  for (const { key } of TEXT_FIELDS) {
    const input = byId(`detail-${key}`);
    if (keepUnsaved && input && input.dataset.saved !== input.value) {
      unsaved[key] = input.value;
    }
  }
  render(unsaved);
  if (focusedId) {
    byId(focusedId)?.focus({ preventScroll: true });
  }
}

function render(unsaved = {}) {
  const asset = library.assets.get(library.detailId);
  const panel = byId("detail");
  const status = h("p", { class: "detail-status", id: "detail-status", role: "status" });
  panel.replaceChildren(
    h(
      "div",
      { class: "detail-header" },
      h("h2", { id: "detail-title", tabindex: "-1" }, asset.filename),
      h("button", { type: "button", class: "icon-button", "aria-label": "Close details", onclick: () => closeDetail() }, "×"),
    ),
    h("div", { class: "preview" }, preview(asset)),
    actions(asset, status),
    status,
    editForm(asset, unsaved),
    tagSection(asset),
    fieldList(asset),
  );
}

function preview(asset) {
  switch (asset.kind) {
    case "image":
      return h("img", {
        src: imageUrl(asset.url, PREVIEW_WIDTH),
        srcset: `${imageUrl(asset.url, PREVIEW_WIDTH)} 1x, ${imageUrl(asset.url, PREVIEW_WIDTH, 2)} 2x`,
        alt: asset.alt || `Preview of ${asset.filename}`,
        width: asset.width,
        height: asset.height,
      });
    case "audio":
      return h("audio", { controls: true, preload: "metadata", src: asset.url, "aria-label": `Play ${asset.filename}` });
    case "video":
      return h("video", { controls: true, preload: "metadata", playsinline: true, src: asset.url, "aria-label": `Play ${asset.filename}` });
    default:
      return h(
        "div",
        { class: "preview-document" },
        kindIcon(asset.kind),
        h("a", { href: asset.url, target: "_blank", rel: "noopener" }, `Open ${asset.filename}`),
      );
  }
}

/** Returns the URL of the stored bytes: the asset URL without image parameters such as `auto=format,compress`. */
function originalUrl(asset) {
  const url = new URL(asset.url, location.href);
  url.search = "";
  return url.href;
}

function actions(asset, status) {
  const copy = h("button", {
    type: "button",
    onclick: async () => {
      status.textContent = (await copyText(asset.url))
        ? "URL copied."
        : "The browser did not allow copying; select the URL under Details and copy it.";
    },
  }, "Copy URL");
  const download = h("a", { class: "button", href: originalUrl(asset), download: asset.filename }, "Download original");
  const remove = h("button", {
    type: "button",
    class: "danger",
    disabled: !canEdit(),
    onclick: () => deleteAsset(asset, status),
  }, "Delete");
  return h("div", { class: "detail-actions" }, copy, download, remove);
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Fall back to the selection below.
    }
  }
  const area = h("textarea", { class: "visually-hidden", readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } finally {
    area.remove();
  }
  return copied;
}

async function deleteAsset(asset, status) {
  if (!(await confirmAction(`Delete "${asset.filename}"? This cannot be undone.`, "Delete"))) {
    return;
  }
  status.textContent = "Deleting…";
  try {
    await library.client.deleteAsset(asset.id);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) {
      status.textContent = `Failed: ${error.message}`;
      return;
    }
  }
  const next = neighbour(asset.id);
  for (const tag of asset.tags) {
    adjustTagCount(tag.id, -1);
  }
  removeAssets([asset.id]);
  announce(`Deleted "${asset.filename}".`);
  (next ? cardButton(next) : byId("assets-heading"))?.focus();
}

/** Returns the id of the card after an asset, or before it when it is the last one. */
function neighbour(id) {
  const index = library.order.indexOf(id);
  return library.order[index + 1] ?? library.order[index - 1] ?? null;
}

function editForm(asset, unsaved) {
  const editable = canEdit();
  const save = h("button", { type: "submit", disabled: true }, "Save changes");
  const message = h("p", { class: "form-message", id: "detail-form-message", role: "status" });
  const fields = TEXT_FIELDS.map((field) => textField(field, asset, editable, unsaved[field.key]));
  const inputs = fields.map((field) => field.input);

  const validate = () => {
    const problems = [];
    let changed = false;
    for (const input of inputs) {
      const length = codePointLength(input.value);
      if (length > MAX_TEXT_LENGTH) {
        problems.push(`${input.dataset.label} is over the limit: ${length} of ${MAX_TEXT_LENGTH} characters.`);
      }
      if (input.dataset.key === "filename" && input.value.trim() === "") {
        problems.push("Filename cannot be empty.");
      }
      changed ||= input.value !== input.dataset.saved;
    }
    save.disabled = !editable || !changed || problems.length > 0;
    message.textContent = problems.join(" ");
    message.classList.toggle("error", problems.length > 0);
  };
  for (const input of inputs) {
    input.addEventListener("input", validate);
  }
  validate();

  const form = h(
    "form",
    {
      class: "edit-form",
      "aria-label": "Edit asset",
      onsubmit: async (event) => {
        event.preventDefault();
        const changes = {};
        for (const input of inputs) {
          if (input.value !== input.dataset.saved) {
            changes[input.dataset.key] = input.value;
          }
        }
        if (Object.keys(changes).length === 0) {
          return;
        }
        save.disabled = true;
        message.classList.remove("error");
        message.textContent = "Saving…";
        try {
          const updated = await library.client.updateAsset(asset.id, changes);
          applyUpdate(updated, { keepUnsaved: false });
          byId("detail-form-message").textContent = "Saved.";
        } catch (error) {
          message.classList.add("error");
          message.textContent = `Not saved: ${error.message}`;
          save.disabled = false;
        }
      },
    },
    h("h3", {}, "Edit"),
    fields.map((field) => field.element),
    h("div", { class: "form-actions" }, save),
    message,
  );
  return form;
}

function textField({ key, label, multiline }, asset, editable, unsavedValue) {
  const id = `detail-${key}`;
  const saved = asset[key] ?? "";
  const counter = h("span", { class: "counter", id: `${id}-count` });
  const input = multiline
    ? h("textarea", { id, rows: 3, readOnly: !editable, "aria-describedby": counter.id })
    : h("input", { id, type: "text", readOnly: !editable, "aria-describedby": counter.id, spellcheck: key !== "filename" });
  input.value = unsavedValue ?? saved;
  input.dataset.saved = saved;
  input.dataset.key = key;
  input.dataset.label = label;

  const count = () => {
    const length = codePointLength(input.value);
    counter.textContent = `${length} / ${MAX_TEXT_LENGTH}`;
    counter.classList.toggle("over", length > MAX_TEXT_LENGTH);
    input.setAttribute("aria-invalid", String(length > MAX_TEXT_LENGTH));
  };
  input.addEventListener("input", count);
  count();

  const element = h("div", { class: "field" }, h("div", { class: "field-label" }, h("label", { for: id }, label), counter), input);
  return { element, input };
}

function tagSection(asset) {
  const editable = canEdit();
  const chips = asset.tags.map((tag) =>
    h(
      "li",
      { class: "chip" },
      h("span", {}, tag.name),
      h(
        "button",
        {
          type: "button",
          class: "chip-remove",
          "aria-label": `Remove tag ${tag.name}`,
          disabled: !editable,
          onclick: () => changeTags(asset, asset.tags.filter((other) => other.id !== tag.id).map((other) => other.id), message),
        },
        "×",
      ),
    ),
  );
  const input = h("input", { id: "detail-tag-input", type: "text", list: "tag-names", autocomplete: "off", disabled: !editable });
  const message = h("p", { class: "form-message", id: "detail-tag-message", role: "status" });
  const form = h(
    "form",
    {
      class: "inline-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const name = input.value.trim();
        const problem = tagNameProblem(name);
        if (problem) {
          message.textContent = problem;
          input.focus();
          return;
        }
        if (asset.tags.some((tag) => tag.name === name)) {
          message.textContent = `"${name}" is already on this asset.`;
          return;
        }
        try {
          message.textContent = "Adding…";
          const tag = await ensureTag(name);
          await changeTags(asset, [...asset.tags.map((other) => other.id), tag.id], message);
        } catch (error) {
          message.textContent = `Failed: ${error.message}`;
        }
      },
    },
    h("label", { for: input.id }, "Tag name"),
    input,
    h("button", { type: "submit", disabled: !editable }, "Add tag"),
  );
  return h(
    "section",
    { class: "detail-tags", "aria-labelledby": "detail-tags-heading" },
    h("h3", { id: "detail-tags-heading" }, "Tags"),
    chips.length ? h("ul", { class: "chips" }, chips) : h("p", { class: "muted" }, "No tags."),
    form,
    message,
  );
}

/** Replaces the tag set of an asset and shows the result. */
async function changeTags(asset, tagIds, message) {
  message.textContent = "Saving tags…";
  try {
    const updated = await library.client.updateAsset(asset.id, { tags: tagIds });
    const before = new Set(asset.tags.map((tag) => tag.id));
    const after = new Set(updated.tags.map((tag) => tag.id));
    before.forEach((id) => after.has(id) || adjustTagCount(id, -1));
    after.forEach((id) => before.has(id) || adjustTagCount(id, 1));
    applyUpdate(updated);
    byId("detail-tag-message").textContent = "Tags saved.";
    byId("detail-tag-input")?.focus();
  } catch (error) {
    message.textContent = `Failed: ${error.message}`;
  }
}

/**
 * Stores a changed asset and redraws its card and the panel. The card stays in the grid until the next listing, also
 * when the change means it no longer matches the filters.
 */
function applyUpdate(updated, { keepUnsaved = true } = {}) {
  library.assets.set(updated.id, updated);
  updateCard(updated);
  refreshDetail({ keepUnsaved });
}

function fieldList(asset) {
  const rows = [
    ["ID", asset.id],
    ["Type", `${kindLabel(asset.kind)}${asset.extension ? ` (.${asset.extension})` : ""}`],
    ["Size", `${formatSize(asset.size)} (${formatBytes(asset.size)})`],
    ["Dimensions", formatDimensions(asset) || "None"],
    ["Uploaded", formatDate(asset.created_at)],
    ["Last modified", formatDate(asset.last_modified)],
    ["Uploader", asset.uploader_id === "ghost" ? "A permanent token (ghost)" : asset.uploader_id],
  ];
  const url = h("input", { id: "detail-url", type: "text", readOnly: true, value: asset.url, class: "url-field" });
  url.addEventListener("focus", () => url.select());
  return h(
    "section",
    { class: "detail-fields", "aria-labelledby": "detail-fields-heading" },
    h("h3", { id: "detail-fields-heading" }, "Details"),
    h("dl", {}, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    h("label", { for: url.id }, "URL"),
    url,
  );
}
