// The sign-in form: a repository with a token, or with the email and password of an account.

import { Client, login } from "./api.js";
import { byId } from "./dom.js";

/** Repository names: lower-case letters, digits and hyphens, 4 to 63 characters, no hyphen at either end. */
const REPOSITORY_PATTERN = /^[a-z0-9][a-z0-9-]{2,61}[a-z0-9]$/;
/** Key of the last repository name in localStorage; it is not a secret, unlike the token. */
const LAST_REPOSITORY_KEY = "medialib.repository";

/**
 * Shows the sign-in form with an optional notice. On success, calls `onSignedIn({repository, token, tags})`, where
 * `tags` comes from the `GET /tags` that checked the token and the repository.
 */
export function showSignIn({ notice = "", onSignedIn }) {
  byId("library-view").hidden = true;
  byId("signin-view").hidden = false;
  const form = byId("signin-form");
  const repository = byId("signin-repository");
  const error = byId("signin-error");
  error.textContent = notice;
  repository.value ||= localStorage.getItem(LAST_REPOSITORY_KEY) ?? "";
  (repository.value ? byId("signin-token") : repository).focus();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = {
      repository: repository.value.trim(),
      token: byId("signin-token").value.trim(),
      email: byId("signin-email").value.trim(),
      password: byId("signin-password").value,
    };
    const problem = checkForm(values);
    if (problem) {
      error.textContent = problem.message;
      byId(problem.field).focus();
      return;
    }

    const button = byId("signin-submit");
    button.disabled = true;
    error.textContent = "";
    byId("signin-progress").textContent = "Signing in…";
    try {
      const token = values.token || (await login(values.email, values.password));
      // Any read checks the token and the repository; the tag list is needed next anyway.
      const tags = await new Client({ repository: values.repository, token }).listTags();
      localStorage.setItem(LAST_REPOSITORY_KEY, values.repository);
      byId("signin-token").value = "";
      byId("signin-password").value = "";
      byId("signin-progress").textContent = "";
      onSignedIn({ repository: values.repository, token, tags });
    } catch (failure) {
      byId("signin-progress").textContent = "";
      error.textContent = failure.message;
      byId(values.token ? "signin-token" : "signin-password").focus();
    } finally {
      button.disabled = false;
    }
  });
}

/** Returns the first problem of the form as `{field, message}`, or null. */
function checkForm({ repository, token, email, password }) {
  if (!repository) {
    return { field: "signin-repository", message: "Enter the name of the repository." };
  }
  if (!REPOSITORY_PATTERN.test(repository)) {
    return {
      field: "signin-repository",
      message: "Repository names have 4 to 63 lower-case letters, digits and hyphens, and start and end with a letter or digit.",
    };
  }
  if (token && (email || password)) {
    return { field: "signin-token", message: "Enter a token, or an email and a password, but not both." };
  }
  if (!token && !email && !password) {
    return { field: "signin-token", message: "Enter a token, or the email and password of an account." };
  }
  if (!token && !email) {
    return { field: "signin-email", message: "Enter the email address of the account." };
  }
  if (!token && !password) {
    return { field: "signin-password", message: "Enter the password of the account." };
  }
  return null;
}
