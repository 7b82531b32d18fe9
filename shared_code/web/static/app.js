/* NeverMiss owner inbox: one page, plain JS modules (no build step), talks to /api/v1 with
 * the session cookie.
 *
 * Views (hash routes): #/inbox, #/c/<conversation id>, #/calls (#/calls/missed),
 * #/account, #/settings; signed out, the login view. The open view polls every POLL_MS while
 * the tab is visible, so new texts and calls appear without a reload. Nothing here writes
 * untrusted text as HTML: only textContent.
 *
 * Modules: api.js (requests, session state, polling), dom.js (elements and formatting),
 * session.js (sign-in and out), one module per view, and this router.
 */

import { hooks, state, stopPolling } from "./api.js";
import { errorPanel, show } from "./dom.js";
import { accountView } from "./account.js";
import { callsView } from "./calls.js";
import { conversationView } from "./conversation.js";
import { inboxView } from "./inbox.js";
import { loadSession, logOut, loginView, signedOut } from "./session.js";
import { settingsView } from "./settings.js";

function markNav(view) {
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function route() {
  state.seq += 1;
  stopPolling();
  const hash = location.hash || "#/inbox";
  if (!state.session) {
    let ok = false;
    // Signed out just now: no need to ask again before showing the login form.
    if (!(state.out && hash === "#/login")) {
      try {
        ok = await loadSession();
      } catch (failure) {
        show(errorPanel("Can't reach NeverMiss", failure, route));
        return;
      }
    }
    if (!ok) {
      state.out = true;
      if (hash !== "#/login") {
        sessionStorage.setItem("nm_after", hash);
        location.hash = "#/login";
        return;
      }
      markNav("");
      document.title = "Sign in · NeverMiss";
      loginView();
      return;
    }
  }
  if (hash === "#/login") {
    location.hash = "#/inbox";
    return;
  }
  const [, view, id] = /^#\/([a-z]+)\/?(.*)$/.exec(hash) || [null, "inbox", ""];
  markNav(view === "c" ? "inbox" : view);
  const titles = { c: "Conversation", calls: "Calls", account: "Account", settings: "Settings" };
  document.title = `${titles[view] || "Inbox"} · NeverMiss`;
  if (view === "c" && id) await conversationView(decodeURIComponent(id));
  else if (view === "calls") await callsView(id === "missed" ? "missed" : "all");
  else if (view === "account") await accountView();
  else if (view === "settings") await settingsView();
  else await inboxView();
  const title = document.getElementById("view-title");
  if (title && document.activeElement === document.body) title.focus({ preventScroll: true });
}

hooks.route = route;
hooks.signedOut = signedOut;

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("logout").addEventListener("click", () => logOut(false));
  window.addEventListener("hashchange", route);
  route();
});
