// The confirmation dialog of destructive actions.

import { byId } from "./dom.js";

/**
 * Asks the user to confirm `message` in a modal dialog whose confirm button reads `confirmLabel`. Resolves to true
 * only when that button was pressed; Escape and "Cancel" resolve to false. Focus returns where it was.
 */
export function confirmAction(message, confirmLabel) {
  const dialog = byId("confirm-dialog");
  const opener = document.activeElement;
  byId("confirm-message").textContent = message;
  byId("confirm-accept").textContent = confirmLabel;
  dialog.returnValue = "";
  dialog.showModal();
  byId("confirm-cancel").focus();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        if (opener instanceof HTMLElement && opener.isConnected) {
          opener.focus();
        }
        resolve(dialog.returnValue === "confirm");
      },
      { once: true },
    );
  });
}
