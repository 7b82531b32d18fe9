/* Talking to NeverMiss: the JSON API with the session cookie, its CSRF token, polling.
 *
 * Every request that changes something sends the session's CSRF token in X-CSRF-Token. A 401
 * from the API means the session ended: the page goes back to the login view (hooks.signedOut,
 * set by app.js, as is hooks.route: views retry through `rerender` without importing the
 * router).
 */

export const API = "/api/v1";
export const WEB = "/api/web";
export const POLL_MS = 4000;

export const state = { session: null, csrf: "", poll: null, seq: 0, out: false };
export const hooks = { signedOut: () => {}, route: () => {} };

export function rerender() {
  return hooks.route();
}

export class Failure extends Error {
  constructor(status, error) {
    super((error && error.message) || `request failed (${status})`);
    this.status = status;
    this.code = (error && error.code) || "";
    this.details = (error && error.details) || [];
  }
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (state.csrf) headers["X-CSRF-Token"] = state.csrf;
  }
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Failure(0, { code: "offline", message: "Can't reach NeverMiss. Check your connection." });
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (!response.ok) {
    const failure = new Failure(response.status, data && data.error);
    if (response.status === 401 && path.startsWith(API)) hooks.signedOut();
    throw failure;
  }
  return data;
}


export function startPolling(refresh) {
  stopPolling();
  state.poll = setInterval(() => {
    if (document.visibilityState === "visible") refresh().catch(() => {});
  }, POLL_MS);
}

export function stopPolling() {
  if (state.poll) clearInterval(state.poll);
  state.poll = null;
}
