// Entry point of the media library page: restores the session or shows the sign-in form, then runs the library.
//
// The token lives in sessionStorage only: it ends with the browser tab and never appears in a URL.

import { Client } from "./api.js";
import { initDetail, refreshDetail } from "./detail.js";
import { byId, isTyping } from "./dom.js";
import { initFilters, readFiltersFromUrl, reload, showFilters } from "./filters.js";
import { initGrid, refreshCardControls } from "./grid.js";
import { initSelection, showSelection } from "./selection.js";
import { showSignIn } from "./signin.js";
import { canEdit, library } from "./state.js";
import { refreshTags, setTags } from "./tags.js";
import { initUploads } from "./upload.js";

const SESSION_KEY = "medialib.session";
/** A message for the sign-in form after the page reloads, such as why the session ended. */
const NOTICE_KEY = "medialib.notice";

function readSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null");
    return session?.repository && session?.token ? session : null;
  } catch {
    return null;
  }
}

function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

/** Forgets the token and reloads the page at the same filters, showing `notice` on the sign-in form. */
function signOut(notice = "") {
  sessionStorage.removeItem(SESSION_KEY);
  if (notice) {
    sessionStorage.setItem(NOTICE_KEY, notice);
  }
  location.reload();
}

async function startLibrary(session, tags) {
  let signingOut = false;
  library.client = new Client({
    repository: session.repository,
    token: session.token,
    onUnauthorized: (error) => {
      if (!signingOut) {
        signingOut = true;
        signOut(`Signed out: ${error.message}`);
      }
    },
  });
  library.repository = session.repository;
  library.readOnly = typeof session.readOnly === "boolean" ? session.readOnly : null;
  library.filters = readFiltersFromUrl();

  byId("signin-view").hidden = true;
  byId("library-view").hidden = false;
  byId("repository-name").textContent = session.repository;
  showAccess();
  initFilters();
  initGrid();
  initSelection();
  initUploads();
  initDetail();
  watchQueue();
  showFilters();
  byId("sign-out").addEventListener("click", () => signOut());

  try {
    // Tag names in the URL need the tag ids before the first listing; otherwise the grid comes first.
    if (tags) {
      setTags(tags);
    } else if (library.filters.tags.length > 0) {
      await refreshTags();
    }
    await reload();
    if (!tags && library.filters.tags.length === 0) {
      await refreshTags();
    }
    if (library.readOnly === null) {
      library.readOnly = !(await library.client.canWrite());
      saveSession({ ...session, readOnly: library.readOnly });
      showAccess();
    }
  } catch (error) {
    byId("activity").textContent = `The library could not be loaded: ${error.message}`;
  }
}

/** Enables or disables every editing control for the access of the token. */
function showAccess() {
  const badge = byId("access-badge");
  if (library.readOnly === null) {
    badge.textContent = "Checking access…";
  } else {
    badge.textContent = library.readOnly ? "Read-only" : "";
  }
  badge.hidden = badge.textContent === "";
  document.body.classList.toggle("read-only", library.readOnly === true);
  byId("upload-input").disabled = !canEdit();
  byId("upload-hint").textContent = library.readOnly
    ? "This token is read-only: uploading, editing, tagging and deleting are disabled."
    : "Or drop files anywhere on the page.";
  refreshCardControls();
  showSelection();
  refreshDetail();
}

/** Shows when the request queue waits for the server's rate limit. */
function watchQueue() {
  const activity = byId("activity");
  const queue = library.client.queue;
  queue.addEventListener("wait", (event) => {
    const { seconds, status } = event.detail;
    activity.textContent =
      status === 429
        ? `Waiting ${seconds} s for the server's rate limit; ${queue.pending} ${queue.pending === 1 ? "request" : "requests"} queued.`
        : `The server is busy; retrying in ${seconds} s.`;
  });
  queue.addEventListener("send", () => {
    if (activity.textContent.startsWith("Waiting") || activity.textContent.startsWith("The server is busy")) {
      activity.textContent = "";
    }
  });
}

/** "/" moves to the search field from anywhere outside a text field. */
document.addEventListener("keydown", (event) => {
  if (event.key === "/" && !isTyping(event) && !byId("library-view").hidden) {
    event.preventDefault();
    byId("search").focus();
  }
});

const session = readSession();
if (session) {
  startLibrary(session);
} else {
  const notice = sessionStorage.getItem(NOTICE_KEY) ?? "";
  sessionStorage.removeItem(NOTICE_KEY);
  showSignIn({
    notice,
    onSignedIn: ({ repository, token, tags }) => {
      const fresh = { repository, token };
      saveSession(fresh);
      startLibrary(fresh, tags);
    },
  });
}
