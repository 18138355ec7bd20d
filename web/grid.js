// The grid of asset cards: thumbnails, keyboard movement between cards, and loading more as it scrolls.

import { openDetail } from "./detail.js";
import { byId, h } from "./dom.js";
import { loadMore } from "./filters.js";
import { formatDimensions, formatSize, kindLabel } from "./format.js";
import { kindIcon } from "./icons.js";
import { showSelection, toggleSelected } from "./selection.js";
import { canEdit, library } from "./state.js";

/** CSS width of a thumbnail, in pixels. The image URL requests this width, and twice it for dense screens. */
const THUMBNAIL_WIDTH = 240;

let loadMoreObserver = null;

/** Returns an image URL of the asset resized to `width` CSS pixels at `dpr`, in the best format the browser takes. */
export function imageUrl(url, width, dpr = 1) {
  const variant = new URL(url, location.href);
  variant.searchParams.set("auto", "format");
  variant.searchParams.set("fit", "max");
  variant.searchParams.set("w", String(width));
  if (dpr > 1) {
    variant.searchParams.set("dpr", String(dpr));
  }
  return variant.href;
}

/** Wires keyboard movement, the "Load more" button and infinite scrolling. */
export function initGrid() {
  const grid = byId("grid");
  grid.addEventListener("keydown", moveFocus);

  const button = byId("load-more");
  button.addEventListener("click", () => loadMore());
  loadMoreObserver = new IntersectionObserver(
    (entries) => {
      if (entries.some((entry) => entry.isIntersecting)) {
        loadMore();
      }
    },
    { rootMargin: "800px 0px" },
  );
  loadMoreObserver.observe(button);
}

/** Shows or hides "Load more" and re-arms the observer, which reports again if the button is still in view. */
export function watchLoadMore() {
  const button = byId("load-more");
  button.hidden = !library.hasMore;
  if (loadMoreObserver && library.hasMore) {
    loadMoreObserver.unobserve(button);
    loadMoreObserver.observe(button);
  }
}

/** Renders the cards of `library.order`, reusing the cards already shown so that focus and images stay. */
export function renderGrid() {
  const grid = byId("grid");
  const focused = document.activeElement;
  const existing = new Map([...grid.children].map((card) => [card.dataset.id, card]));
  const cards = library.order.map((id) => existing.get(id) ?? createCard(library.assets.get(id)));
  grid.replaceChildren(...cards);
  if (focused instanceof HTMLElement && focused.isConnected && document.activeElement !== focused) {
    focused.focus({ preventScroll: true });
  }
  byId("load-more").hidden = !library.hasMore;
  showSelection();
}

/** Redraws the card of an asset that changed. */
export function updateCard(asset) {
  const card = byId("grid").querySelector(`li[data-id="${CSS.escape(asset.id)}"]`);
  if (!card) {
    return;
  }
  const focusedClass = card.contains(document.activeElement) ? document.activeElement.className : null;
  const replacement = createCard(asset);
  card.replaceWith(replacement);
  if (focusedClass) {
    replacement.querySelector(`.${focusedClass.split(" ")[0]}`)?.focus({ preventScroll: true });
  }
}

/** Updates the checkboxes of every card after the selection or the access changed. */
export function refreshCardControls() {
  for (const card of byId("grid").children) {
    const checkbox = card.querySelector(".card-select");
    const selected = library.selected.has(card.dataset.id);
    checkbox.checked = selected;
    checkbox.disabled = !canEdit();
    card.classList.toggle("selected", selected);
  }
}

/** Returns the "Open" button of an asset's card, to move focus back to it. */
export function cardButton(id) {
  return byId("grid").querySelector(`li[data-id="${CSS.escape(id)}"] .card-open`);
}

function createCard(asset) {
  const selected = library.selected.has(asset.id);
  const checkbox = h("input", {
    type: "checkbox",
    class: "card-select",
    "aria-label": `Select ${asset.filename}`,
    checked: selected,
    disabled: !canEdit(),
    onchange: (event) => toggleSelected(asset.id, event.target.checked),
  });
  const open = h(
    "button",
    {
      type: "button",
      class: "card-open",
      "aria-controls": "detail",
      onclick: () => openDetail(asset.id),
    },
    thumbnail(asset),
    h("span", { class: "card-name", title: asset.filename }, asset.filename),
    h("span", { class: "card-meta" }, metaParts(asset)),
  );
  return h("li", { class: selected ? "card selected" : "card", "data-id": asset.id, "data-kind": asset.kind }, checkbox, open);
}

/** Type, size and dimensions, each kept on one line. */
function metaParts(asset) {
  const parts = [kindLabel(asset.kind), formatSize(asset.size), formatDimensions(asset)].filter(Boolean);
  return parts.flatMap((part, index) => [index > 0 ? " · " : null, h("span", { class: "nowrap" }, part)]);
}

function thumbnail(asset) {
  const box = h("span", { class: "thumb" });
  if (asset.kind === "image") {
    const image = h("img", {
      src: imageUrl(asset.url, THUMBNAIL_WIDTH),
      srcset: `${imageUrl(asset.url, THUMBNAIL_WIDTH)} 1x, ${imageUrl(asset.url, THUMBNAIL_WIDTH, 2)} 2x`,
      alt: "",
      loading: "lazy",
      decoding: "async",
      width: asset.width,
      height: asset.height,
    });
    // A file the renderer cannot read (such as one over --max-source-pixels) shows the image icon instead.
    image.addEventListener("error", () => box.replaceChildren(kindIcon("image")), { once: true });
    box.append(image);
  } else {
    box.append(kindIcon(asset.kind), h("span", { class: "thumb-extension" }, asset.extension.toUpperCase()));
  }
  return box;
}

/** Moves focus between cards with the arrow keys, Home and End. */
function moveFocus(event) {
  if (!(event.target instanceof HTMLElement) || !event.target.classList.contains("card-open")) {
    return;
  }
  const buttons = [...byId("grid").querySelectorAll(".card-open")];
  const index = buttons.indexOf(event.target);
  const top = buttons[0]?.getBoundingClientRect().top;
  const columns = Math.max(1, buttons.filter((button) => button.getBoundingClientRect().top === top).length);
  const targets = {
    ArrowRight: index + 1,
    ArrowLeft: index - 1,
    ArrowDown: index + columns,
    ArrowUp: index - columns,
    Home: 0,
    End: buttons.length - 1,
  };
  if (!(event.key in targets)) {
    return;
  }
  event.preventDefault();
  const target = buttons[Math.min(buttons.length - 1, Math.max(0, targets[event.key]))];
  target?.focus();
}
