// Small DOM helpers. Text always goes in through text nodes or properties, never through innerHTML, so filenames,
// tags and server messages cannot inject markup.

const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "readOnly", "selected", "textContent"]);

/**
 * Creates an element. `props` sets attributes, the properties listed in PROPERTIES, `class`, and listeners for keys
 * starting with `on` (such as `onclick`). Values that are `null`, `undefined` or `false` are skipped.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (key === "class") {
      element.className = value;
    } else if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (PROPERTIES.has(key)) {
      element[key] = value;
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  element.append(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

/** Returns the element with this id. */
export function byId(id) {
  return document.getElementById(id);
}

/** Resolves after `milliseconds` (at once for zero or less). */
export function sleep(milliseconds) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, milliseconds)));
}

/** Milliseconds a result message stays in the status line. */
const ANNOUNCEMENT_MS = 8000;

/** Shows a short message in the page's status line, which screen readers announce, and clears it later. */
export function announce(message) {
  const status = byId("activity");
  status.textContent = message;
  setTimeout(() => {
    if (status.textContent === message) {
      status.textContent = "";
    }
  }, ANNOUNCEMENT_MS);
}

/** Tells whether a key press happened while the user was typing in a field. */
export function isTyping(event) {
  const target = event.target;
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}
