/* Signing in with a texted code, the session, and logging out. */

import { WEB, call, hooks, state, stopPolling } from "./api.js";
import { busy, h, heading, show, toast } from "./dom.js";

export async function loadSession() {
  try {
    const data = await call("GET", `${WEB}/session`);
    useSession(data);
    return true;
  } catch (failure) {
    if (failure.status === 401) return false;
    throw failure;
  }
}

export function useSession(data) {
  state.out = false;
  state.session = data.session;
  state.csrf = data.csrf_token;
  document.getElementById("business-name").textContent = data.session.business_name || "";
  document.getElementById("nav").hidden = false;
}

export function signedOut() {
  state.out = true;
  state.session = null;
  state.csrf = "";
  stopPolling();
  document.getElementById("business-name").textContent = "";
  document.getElementById("nav").hidden = true;
  if (location.hash === "#/login") {
    hooks.route();
    return;
  }
  if (location.hash) sessionStorage.setItem("nm_after", location.hash);
  location.hash = "#/login";
}

export async function logOut(everywhere) {
  try {
    await call("POST", `${WEB}/${everywhere ? "logout-everywhere" : "logout"}`);
  } catch (failure) {
    toast(failure.message);
    return;
  }
  signedOut();
  toast(everywhere ? "Logged out on every device." : "Logged out.");
}

export function loginView() {
  stopPolling();
  const status = h("p", { class: "error-text", role: "alert" });
  const phoneInput = h("input", {
    id: "login-phone", name: "phone", type: "tel", autocomplete: "tel", required: true,
    inputmode: "tel", placeholder: "(415) 555-0100",
  });
  const codeInput = h("input", {
    id: "login-code", name: "code", type: "text", inputmode: "numeric", required: true,
    autocomplete: "one-time-code", pattern: "[0-9 ]{6,7}", maxlength: "7",
  });
  const codeForm = h("form", { class: "code-form", hidden: true, novalidate: true },
    h("p", { class: "muted", id: "code-sent" }),
    h("label", { for: "login-code", text: "6-digit code" }), codeInput,
    h("div", { class: "actions" },
      h("button", { type: "submit", text: "Sign in" }),
      h("button", {
        type: "button", class: "secondary", text: "Use another number",
        onclick: () => { codeForm.hidden = true; phoneForm.hidden = false; status.textContent = ""; phoneInput.focus(); },
      })));
  const phoneForm = h("form", { class: "phone-form", novalidate: true },
    h("label", { for: "login-phone", text: "Your mobile number" }), phoneInput,
    h("p", { class: "hint", text: "The business owner's number, or a team phone. We'll text you a code." }),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Text me a code" })));

  phoneForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    const done = busy(phoneForm.querySelector("button[type=submit]"), "Sending…");
    try {
      const data = await call("POST", `${WEB}/login/code`, { phone: phoneInput.value });
      codeForm.querySelector("#code-sent").textContent = data.message;
      phoneForm.hidden = true;
      codeForm.hidden = false;
      codeInput.value = "";
      codeInput.focus();
    } catch (failure) {
      status.textContent = failure.code === "validation_failed"
        ? "That doesn't look like a phone number." : failure.message;
    } finally { done(); }
  });
  codeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    const done = busy(codeForm.querySelector("button[type=submit]"), "Checking…");
    try {
      const data = await call("POST", `${WEB}/login/verify`, { phone: phoneInput.value, code: codeInput.value });
      useSession(data);
      const after = sessionStorage.getItem("nm_after");
      sessionStorage.removeItem("nm_after");
      location.hash = after && after !== "#/login" ? after : "#/inbox";
    } catch (failure) {
      status.textContent = failure.code === "validation_failed" ? "The code is 6 digits." : failure.message;
      codeInput.select();
    } finally { done(); }
  });

  show(h("section", { class: "panel login" },
    heading("Sign in to your inbox"),
    h("p", { class: "muted", text: "No password: we text a one-time code to your phone." }),
    phoneForm, codeForm, status));
}
