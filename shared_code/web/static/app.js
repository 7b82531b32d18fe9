/* NeverMiss owner inbox: one page, plain JS, talks to /api/v1 with the session cookie.
 *
 * Views (hash routes): #/inbox, #/c/<conversation id>, #/account, #/settings; signed out, the
 * login view. Every request that changes something sends the session's CSRF token in
 * X-CSRF-Token. The open view polls every POLL_MS while the tab is visible, so new texts
 * appear without a reload. Nothing here writes untrusted text as HTML: only textContent.
 */
"use strict";

const API = "/api/v1";
const WEB = "/api/web";
const POLL_MS = 4000;
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_NAMES = {
  mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday", fri: "Friday",
  sat: "Saturday", sun: "Sunday",
};
const AUTHORS = { customer: "Customer", assistant: "Assistant", owner: "You", system: "NeverMiss" };
const TEMPLATE_TITLES = {
  text_back: "Text-back after a missed call",
  missed_call_greeting: "Greeting for a missed call",
  quiet_hours_greeting: "Greeting in quiet hours",
  no_text_greeting: "Greeting when no text will follow",
  after_hours_greeting: "Greeting after hours",
  owner_missed_call_alert: "Your missed-call alert",
  owner_voicemail_alert: "Your voicemail alert",
};
const SAMPLE = {
  business_name: "", owner_name: "", caller: "+1 (415) 555-0100", time: "2:15 PM",
  text_back_note: "We texted them back.", text_note: "We'll text you shortly.",
  duration: "0:42", transcript: "\"Hi, my kitchen sink is leaking.\"",
  link: "https://example.com/listen", booking_link: "https://example.com/book",
};

const state = { session: null, csrf: "", poll: null, seq: 0, out: false };

/* ---------- small helpers ---------- */

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = value;
    else if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") el.textContent = value;
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) el.append(child);
  return el;
}

const main = () => document.getElementById("main");

function show(...nodes) {
  main().replaceChildren(...nodes);
}

function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 3500);
}

function money(micro) {
  const value = Number(micro || 0) / 1e6;
  return value.toLocaleString("en-US", { style: "currency", currency: "USD" });
}

function when(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const seconds = Math.round((Date.now() - at.getTime()) / 1000);
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return at.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

function clock(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
  }) : "";
}

function phone(value) {
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(value || "");
  return m ? `(${m[1]}) ${m[2]}-${m[3]}` : (value || "unknown");
}

class Failure extends Error {
  constructor(status, error) {
    super((error && error.message) || `request failed (${status})`);
    this.status = status;
    this.code = (error && error.code) || "";
    this.details = (error && error.details) || [];
  }
}

async function call(method, path, body) {
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
    if (response.status === 401 && path.startsWith(API)) signedOut();
    throw failure;
  }
  return data;
}

function busy(button, label) {
  const before = button.textContent;
  button.disabled = true;
  button.textContent = label;
  return () => { button.disabled = false; button.textContent = before; };
}

function errorPanel(title, failure, retry) {
  return h("section", { class: "panel state error", role: "alert" },
    h("h2", { text: title }),
    h("p", { class: "error-text", text: failure.message }),
    retry ? h("button", { type: "button", onclick: retry, text: "Try again" }) : null);
}

function emptyPanel(title, text) {
  return h("section", { class: "panel state" }, h("h2", { text: title }), h("p", { class: "muted", text }));
}

function loading(text) {
  return h("p", { class: "loading", role: "status", text });
}

function heading(text) {
  return h("h1", { id: "view-title", tabindex: "-1", text });
}

/* ---------- session ---------- */

async function loadSession() {
  try {
    const data = await call("GET", `${WEB}/session`);
    useSession(data);
    return true;
  } catch (failure) {
    if (failure.status === 401) return false;
    throw failure;
  }
}

function useSession(data) {
  state.out = false;
  state.session = data.session;
  state.csrf = data.csrf_token;
  document.getElementById("business-name").textContent = data.session.business_name || "";
  document.getElementById("nav").hidden = false;
}

function signedOut() {
  state.out = true;
  state.session = null;
  state.csrf = "";
  stopPolling();
  document.getElementById("business-name").textContent = "";
  document.getElementById("nav").hidden = true;
  if (location.hash === "#/login") {
    route();
    return;
  }
  if (location.hash) sessionStorage.setItem("nm_after", location.hash);
  location.hash = "#/login";
}

async function logOut(everywhere) {
  try {
    await call("POST", `${WEB}/${everywhere ? "logout-everywhere" : "logout"}`);
  } catch (failure) {
    toast(failure.message);
    return;
  }
  signedOut();
  toast(everywhere ? "Logged out on every device." : "Logged out.");
}

/* ---------- login ---------- */

function loginView() {
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

/* ---------- polling ---------- */

function startPolling(refresh) {
  stopPolling();
  state.poll = setInterval(() => {
    if (document.visibilityState === "visible") refresh().catch(() => {});
  }, POLL_MS);
}

function stopPolling() {
  if (state.poll) clearInterval(state.poll);
  state.poll = null;
}

/* ---------- inbox ---------- */

function seenKey(id) { return `nm_seen_${id}`; }

function isUnread(c) {
  const seen = localStorage.getItem(seenKey(c.id));
  return !seen || new Date(c.last_activity_at) > new Date(seen);
}

function leadName(c) {
  const lead = c.lead || {};
  return lead.name || lead.customer_name || "";
}

function badges(c, withUnread) {
  const list = [];
  if (c.status === "closed") list.push(h("span", { class: "badge closed", text: "Closed" }));
  if (c.escalated_at) list.push(h("span", { class: "badge escalated", text: "Escalated" }));
  if (c.lead_qualified_at) list.push(h("span", { class: "badge lead", text: "Lead qualified" }));
  if (c.mode === "owner") list.push(h("span", { class: "badge owner", text: "You're handling it" }));
  if (c.outcome) {
    const good = c.outcome === "won" || c.outcome === "booked";
    list.push(h("span", { class: `badge ${good ? "lead" : "closed"}`, text: c.outcome[0].toUpperCase() + c.outcome.slice(1) }));
  }
  if (withUnread && c.status === "open" && isUnread(c)) list.push(h("span", { class: "badge unread", text: "Unread" }));
  return h("span", { class: "badges" }, list);
}

function inboxItem(c) {
  const name = leadName(c);
  return h("li", {},
    h("a", { class: `convo ${c.status}`, href: `#/c/${c.id}`, "data-id": c.id },
      h("span", { class: "convo-top" },
        h("span", { class: "convo-who", text: name ? `${name} · ${phone(c.customer_phone)}` : phone(c.customer_phone) }),
        h("span", { class: "convo-when", title: clock(c.last_activity_at), text: when(c.last_activity_at) })),
      h("span", { class: "convo-last", text: c.escalation_reason || (c.lead && c.lead.need) || `Conversation #${c.ref}` }),
      badges(c, true)));
}

async function inboxView() {
  const seq = state.seq;
  const list = h("ul", { class: "list", id: "inbox-list", "aria-live": "polite" });
  show(heading("Inbox"), loading("Loading conversations…"));
  const refresh = async () => {
    const data = await call("GET", `${API}/conversations?status=all&limit=100`);
    if (seq !== state.seq) return;
    const rows = data.conversations.slice().sort((a, b) =>
      (a.status === b.status ? 0 : a.status === "open" ? -1 : 1)
      || new Date(b.last_activity_at) - new Date(a.last_activity_at));
    if (!rows.length) {
      show(heading("Inbox"), emptyPanel("No conversations yet",
        "When you miss a call, NeverMiss texts the caller back and the conversation shows up here."));
      return;
    }
    list.replaceChildren(...rows.map(inboxItem));
    if (!list.isConnected) {
      const open = rows.filter((c) => c.status === "open").length;
      show(heading("Inbox"), h("p", { class: "muted", id: "inbox-count", text: `${open} open` }), list);
    } else {
      const count = document.getElementById("inbox-count");
      if (count) count.textContent = `${rows.filter((c) => c.status === "open").length} open`;
    }
  };
  try {
    await refresh();
  } catch (failure) {
    if (failure.status === 401) return;
    show(heading("Inbox"), errorPanel("Couldn't load your conversations", failure, route));
    return;
  }
  startPolling(refresh);
}

/* ---------- conversation ---------- */

function audioFor(m) {
  const src = m.audio_url || (m.recording_sid ? `${API}/voicemails/${encodeURIComponent(m.recording_sid)}/audio` : "");
  if (!src) return null;
  return h("audio", { controls: true, preload: "none", src, "aria-label": "Play the voicemail" });
}

function messageItem(m) {
  const direction = m.author === "system" ? "system" : m.direction;
  const voicemail = m.kind === "voicemail";
  const key = `${m.id}:${m.status}:${m.body}:${m.audio_url || ""}`;
  return h("li", { class: `msg ${direction}${voicemail ? " voicemail" : ""}${m.status === "failed" ? " failed" : ""}`, "data-id": m.id, "data-key": key },
    h("div", { class: "msg-meta" },
      h("span", { class: "msg-author", text: voicemail ? "Voicemail" : (AUTHORS[m.author] || m.author) }),
      h("time", { datetime: m.at, text: clock(m.at) }),
      m.status === "failed" ? h("span", { class: "error-text", text: "not delivered" }) : null,
      m.status === "pending" ? h("span", { text: "sending…" }) : null),
    h("p", { class: "msg-body", text: m.body || (voicemail ? "(no transcript)" : "") }),
    voicemail ? audioFor(m) : null);
}

function leadCard(c) {
  const lead = c.lead || {};
  const entries = Object.entries(lead).filter(([k, v]) =>
    v !== null && v !== "" && typeof v !== "object" && !k.endsWith("_basis"));
  const shown = (v) => (/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(String(v)) ? clock(v) : String(v));
  return h("section", { class: "card lead", "aria-labelledby": "lead-title" },
    h("h2", { id: "lead-title", text: "Lead" }),
    entries.length
      ? h("dl", {}, entries.flatMap(([k, v]) => [h("dt", { text: k.replace(/_/g, " ") }), h("dd", { text: shown(v) })]))
      : h("p", { class: "muted", text: "Nothing gathered yet. The assistant asks what they need, their name and address." }),
    c.lead_qualified_at ? h("p", { class: "muted", text: `Qualified ${clock(c.lead_qualified_at)}` }) : null);
}

async function conversationView(id) {
  const seq = state.seq;
  show(h("p", {}, h("a", { href: "#/inbox", text: "← Inbox" })), loading("Loading the conversation…"));
  const title = heading("Conversation");
  const summary = h("div", { class: "muted", id: "convo-summary" });
  const badgeSlot = h("div", { id: "convo-badges" });
  const thread = h("ol", { class: "thread", id: "thread", "aria-live": "polite", "aria-label": "Messages" });
  const actions = h("div", { class: "actions", id: "convo-actions" });
  const leadSlot = h("div", { id: "lead-slot" });
  const text = h("textarea", { id: "reply-text", name: "body", maxlength: "1600", required: true });
  const replyStatus = h("p", { class: "error-text", role: "alert" });
  const form = h("form", { class: "reply card", id: "reply-form" },
    h("label", { for: "reply-text", text: "Reply to the customer" }), text,
    h("p", { class: "hint", text: "Sending a reply takes the conversation over: the assistant stops until you release it." }),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Send" })), replyStatus);

  const render = (data) => {
    const c = data.conversation;
    title.textContent = leadName(c) ? `${leadName(c)} · ${phone(c.customer_phone)}` : phone(c.customer_phone);
    summary.textContent = `#${c.ref} · ${c.status === "open" ? "open" : "closed"} · ${c.mode === "owner" ? "you're handling it" : "the assistant is answering"}`;
    badgeSlot.replaceChildren(badges(c, false));
    const known = [...thread.children].map((li) => li.dataset.key).join("|");
    const items = data.messages.map(messageItem);
    if (items.map((li) => li.dataset.key).join("|") !== known) thread.replaceChildren(...items);
    const buttons = [];
    if (c.status === "open") {
      buttons.push(c.mode === "owner"
        ? h("button", { type: "button", class: "secondary", id: "release", text: "Hand back to the assistant", onclick: (e) => act(e.target, "release") })
        : h("button", { type: "button", class: "secondary", id: "takeover", text: "Take over", onclick: (e) => act(e.target, "takeover") }));
      buttons.push(h("button", { type: "button", class: "danger", id: "close", text: "Close conversation", onclick: (e) => act(e.target, "close") }));
    } else {
      buttons.push(h("p", { class: "muted", text: `Closed ${clock(c.closed_at)}.` }));
    }
    actions.replaceChildren(...buttons);
    form.hidden = c.status !== "open";
    leadSlot.replaceChildren(leadCard(c));
    localStorage.setItem(seenKey(c.id), c.last_activity_at);
  };

  // Voicemails are messages (kind "voicemail", the transcript as body); their audio is found
  // in the voicemails list by conversation and time, asked for while one has none yet.
  let audio = new Map();
  const load = async () => {
    const data = await call("GET", `${API}/conversations/${encodeURIComponent(id)}`);
    const voicemails = data.messages.filter((m) => m.kind === "voicemail");
    if (voicemails.some((m) => !audio.has(m.at))) {
      try {
        const list = await call("GET", `${API}/voicemails?limit=100`);
        audio = new Map(list.voicemails
          .filter((v) => v.conversation_id === id && v.audio_url)
          .map((v) => [v.received_at, v.audio_url]));
      } catch (failure) { /* the transcript still shows */ }
    }
    for (const m of voicemails) m.audio_url = m.audio_url || audio.get(m.at) || "";
    return data;
  };

  const refresh = async () => {
    const data = await load();
    if (seq === state.seq) render(data);
  };

  const act = async (button, action) => {
    const labels = { takeover: "Taking over…", release: "Handing back…", close: "Closing…" };
    const done = busy(button, labels[action]);
    try {
      await call("POST", `${API}/conversations/${encodeURIComponent(id)}/${action}`);
      await refresh();
      toast({ takeover: "You're handling this conversation.", release: "The assistant is answering again.", close: "Conversation closed." }[action]);
    } catch (failure) {
      done();
      toast(failure.message);
    }
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replyStatus.textContent = "";
    if (!text.value.trim()) { replyStatus.textContent = "Write a message first."; text.focus(); return; }
    const done = busy(form.querySelector("button[type=submit]"), "Sending…");
    try {
      await call("POST", `${API}/conversations/${encodeURIComponent(id)}/messages`, { body: text.value });
      text.value = "";
      await refresh();
      toast("Sent.");
    } catch (failure) {
      replyStatus.textContent = failure.message;
    } finally { done(); }
  });

  try {
    const data = await load();
    if (seq !== state.seq) return;
    show(h("p", {}, h("a", { href: "#/inbox", text: "← Inbox" })), title, summary, badgeSlot, actions,
      leadSlot, h("h2", { class: "visually-hidden", text: "Messages" }), thread, form);
    render(data);
  } catch (failure) {
    if (failure.status === 401) return;
    if (failure.status === 404) {
      show(h("p", {}, h("a", { href: "#/inbox", text: "← Inbox" })), heading("Not found"),
        emptyPanel("No such conversation", "This conversation doesn't exist, or it belongs to another business."));
      return;
    }
    show(heading("Conversation"), errorPanel("Couldn't load the conversation", failure, route));
    return;
  }
  startPolling(refresh);
}

/* ---------- account ---------- */

function stat(label, value, id) {
  return h("div", { class: "stat" }, h("div", { class: "stat-label", text: label }), h("div", { class: "stat-value", id, text: value }));
}

function everyDay(from, to, byDay) {
  const days = [];
  for (let at = new Date(`${from}T00:00:00Z`); at <= new Date(`${to}T00:00:00Z`); at.setUTCDate(at.getUTCDate() + 1)) {
    const day = at.toISOString().slice(0, 10);
    days.push({ day, cost: byDay.get(day) || 0 });
  }
  return days;
}

function usageChart(days) {
  const width = 640, height = 160, left = 4, bottom = 24, top = 6;
  const max = Math.max(1, ...days.map((d) => d.cost));
  const step = (width - left) / Math.max(1, days.length);
  const bars = days.map((d, i) => {
    const barHeight = Math.round((d.cost / max) * (height - bottom - top));
    return svg("rect", { class: "bar", x: left + i * step + 1, y: height - bottom - barHeight, width: Math.max(1, step - 2), height: barHeight },
      svg("title", { text: `${d.day}: ${money(d.cost)}` }));
  });
  const first = days[0] ? days[0].day.slice(5) : "";
  const last = days.length ? days[days.length - 1].day.slice(5) : "";
  return svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "chart-title" },
    svg("title", { id: "chart-title", text: `Usage by day, highest ${money(max)}` }),
    svg("line", { class: "axis", x1: left, y1: height - bottom, x2: width, y2: height - bottom }),
    ...bars,
    svg("text", { x: left, y: height - 5, text: first }),
    svg("text", { x: width - 2, y: height - 5, "text-anchor": "end", text: last }));
}

async function accountView() {
  show(heading("Account"), loading("Loading your account…"));
  let account, usage;
  try {
    [account, usage] = await Promise.all([call("GET", `${API}/account`), call("GET", `${API}/usage`)]);
  } catch (failure) {
    if (failure.status === 401) return;
    show(heading("Account"), errorPanel("Couldn't load your account", failure, route));
    return;
  }
  const a = account.account;
  const streak = a.streak || {};
  const byDay = new Map();
  for (const line of usage.usage) byDay.set(line.day, (byDay.get(line.day) || 0) + Number(line.cost_micro || 0));
  const days = everyDay(usage.from, usage.to, byDay);
  const used = days.some((d) => d.cost > 0);
  const next = streak.next_milestone;
  show(heading("Account"),
    h("div", { class: "stats" },
      stat("Balance", money(a.balance_micro), "balance"),
      stat("Reserved", money(a.reserved_micro), "reserved"),
      stat("Available", money(a.available_micro), "available"),
      stat("Streak", `${streak.current || 0} day${streak.current === 1 ? "" : "s"}`, "streak")),
    h("p", { class: "muted", text: next
      ? `Next reward: ${money(next.reward_micro)} at a ${next.days}-day streak (${next.days_to_go} to go). Longest streak: ${streak.longest || 0} days.`
      : `Longest streak: ${streak.longest || 0} days.` }),
    h("section", { class: "card", "aria-labelledby": "usage-title" },
      h("h2", { id: "usage-title", text: `Usage by day (${usage.from} to ${usage.to}, ${usage.time_zone})` }),
      used ? usageChart(days) : h("p", { class: "muted", text: "No usage in this period yet." }),
      h("p", { class: "muted", text: `Total: ${money(usage.total_cost_micro)}` })),
    h("section", { class: "card", "aria-labelledby": "ledger-title" },
      h("h2", { id: "ledger-title", text: "Recent credit entries" }),
      a.recent_entries && a.recent_entries.length
        ? h("table", {},
          h("thead", {}, h("tr", {}, h("th", { text: "When" }), h("th", { text: "What" }), h("th", { class: "num", text: "Amount" }))),
          h("tbody", {}, a.recent_entries.map((e) => h("tr", {},
            h("td", { text: clock(e.created_at) }), h("td", { text: e.note || e.kind }), h("td", { class: "num", text: money(e.amount_micro) })))))
        : h("p", { class: "muted", text: "No entries yet." })));
}

/* ---------- settings ---------- */

function stable(value) {  // JSON with object keys sorted: the database keeps its own key order
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stable(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function preview(template, business) {
  const values = { ...SAMPLE, business_name: business.name, owner_name: business.owner_name || "" };
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? values[name] : whole));
}

function hoursFieldset(business) {
  const rows = DAYS.map((day) => {
    const ranges = (business.weekly_hours || {})[day] || [];
    const open = h("input", { type: "time", id: `open-${day}`, value: ranges[0] ? ranges[0][0] : "08:00", "aria-label": `${DAY_NAMES[day]} opens` });
    const close = h("input", { type: "time", id: `close-${day}`, value: ranges[0] ? ranges[0][1] : "17:00", "aria-label": `${DAY_NAMES[day]} closes` });
    const on = h("input", { type: "checkbox", id: `on-${day}`, checked: ranges.length > 0 });
    const sync = () => { open.disabled = close.disabled = !on.checked; };
    on.addEventListener("change", sync);
    sync();
    return { day, on, open, close, extra: ranges.slice(1), row: h("div", { class: "hours-row" }, h("label", { class: "check" }, on, DAY_NAMES[day].slice(0, 3)), open, close) };
  });
  const always = !Object.keys(business.weekly_hours || {}).length;
  return {
    node: h("fieldset", {}, h("legend", { text: "Business hours" }),
      h("p", { class: "hint", text: always
        ? "No hours set: calls ring you at any time. Tick the days you're open."
        : `Times are in ${business.time_zone}. Outside these hours callers hear the after-hours greeting.` }),
      rows.map((r) => r.row)),
    // No day ticked means no hours: open at any time (as an empty weekly_hours says).
    value: () => (rows.some((r) => r.on.checked)
      ? Object.fromEntries(rows.map((r) => [r.day, r.on.checked ? [[r.open.value, r.close.value], ...r.extra] : []]))
      : {}),
  };
}

function templatesFieldset(business) {
  const fields = Object.entries(business.templates || {}).map(([name, text]) => {
    const id = `tpl-${name}`;
    const area = h("textarea", { id, name, value: text, maxlength: "640" });
    const out = h("div", { class: "preview", id: `${id}-preview`, "aria-live": "polite" });
    const update = () => { out.textContent = preview(area.value, business); };
    area.addEventListener("input", update);
    update();
    return { name, area, initial: text, node: h("div", {}, h("label", { for: id, text: TEMPLATE_TITLES[name] || name.replace(/_/g, " ").replace(/^followup/, "Follow-up text") }), area, h("p", { class: "hint", text: "Preview:" }), out) };
  });
  return {
    node: h("fieldset", {}, h("legend", { text: "Texts and greetings" }),
      h("p", { class: "hint", text: "Words in {braces} are filled in for each call." }), fields.map((f) => f.node)),
    value: () => Object.fromEntries(fields.filter((f) => f.area.value !== f.initial).map((f) => [f.name, f.area.value])),
    saved: () => fields.forEach((f) => { f.initial = f.area.value; }),
  };
}

function listEditor(legend, items, makeRow, blank, addLabel) {
  const box = h("div", {});
  const rows = [];
  const add = (item) => {
    const row = makeRow(item, rows.length);
    const wrapper = h("div", { class: "row" }, row.node,
      h("button", { type: "button", class: "danger", text: "Remove", onclick: () => { rows.splice(rows.indexOf(row), 1); wrapper.remove(); } }));
    rows.push(row);
    box.append(wrapper);
  };
  items.forEach(add);
  return {
    node: h("fieldset", {}, h("legend", { text: legend }), box,
      h("button", { type: "button", class: "secondary", text: addLabel, onclick: () => add(blank()) })),
    value: () => rows.map((r) => r.value()),
  };
}

let uid = 0;
function field(label, input) {
  const id = `f${++uid}`;
  input.id = id;
  return h("div", {}, h("label", { for: id, text: label }), input);
}

async function settingsView() {
  show(heading("Settings"), loading("Loading your settings…"));
  let business;
  try {
    business = (await call("GET", `${API}/businesses/${state.session.business_id}`)).business;
  } catch (failure) {
    if (failure.status === 401) return;
    show(heading("Settings"), errorPanel("Couldn't load your settings", failure, route));
    return;
  }
  const hours = hoursFieldset(business);
  const templates = templatesFieldset(business);
  const services = h("textarea", { value: business.services || "", maxlength: "2000" });
  const area = h("input", { type: "text", value: business.service_area || "", maxlength: "500" });
  const faq = listEditor("Questions customers ask", business.faq || [], (item) => {
    const q = h("input", { type: "text", value: item.q, maxlength: "300" });
    const a = h("textarea", { value: item.a, maxlength: "600" });
    return { node: h("div", {}, field("Question", q), field("Answer", a)), value: () => ({ q: q.value, a: a.value }) };
  }, () => ({ q: "", a: "" }), "Add a question");
  const team = listEditor("Team phones", business.team_phones || [], (item) => {
    const name = h("input", { type: "text", value: item.name, maxlength: "60" });
    const tel = h("input", { type: "tel", value: item.phone, autocomplete: "off" });
    const alerts = h("input", { type: "checkbox", checked: item.alerts });
    return {
      node: h("div", {}, field("Name", name), field("Phone", tel), h("label", { class: "check" }, alerts, "Gets alerts by text")),
      value: () => ({ name: name.value, phone: tel.value, alerts: alerts.checked }),
    };
  }, () => ({ name: "", phone: "", alerts: false }), "Add a team phone");
  const check = h("select", {},
    h("option", { value: "press_key", text: "Ask the person who answers to press 1 (recommended)" }),
    h("option", { value: "amd", text: "Detect an answering machine automatically" }),
    h("option", { value: "none", text: "No check: any answer counts" }));
  check.value = business.answer_check || "press_key";
  const status = h("div", { role: "status", "aria-live": "polite", id: "settings-status" });
  const save = h("button", { type: "submit", text: "Save settings" });
  const form = h("form", { id: "settings-form", novalidate: true },
    hours.node, templates.node,
    h("fieldset", {}, h("legend", { text: "What you do" }),
      field("Services", services), field("Service area", area)),
    faq.node, team.node,
    h("fieldset", {}, h("legend", { text: "Answer check" }),
      field("How we tell you from your voicemail", check),
      h("p", { class: "hint", text: "A call your voicemail picks up still counts as missed, so the caller gets a text." })),
    h("div", { class: "actions" }, save), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    const wanted = {
      weekly_hours: hours.value(), services: services.value, service_area: area.value,
      faq: faq.value(), team_phones: team.value(), answer_check: check.value,
    };
    // Only what changed is sent: a save never rewrites a field the owner didn't touch.
    const patch = Object.fromEntries(Object.entries(wanted)
      .filter(([name, value]) => stable(value) !== stable(business[name] ?? "")));
    const changed = templates.value();
    if (Object.keys(changed).length) patch.templates = { ...business.templates, ...changed };
    if (!Object.keys(patch).length) {
      status.replaceChildren(h("p", { class: "muted", text: "Nothing changed." }));
      return;
    }
    const done = busy(save, "Saving…");
    try {
      business = (await call("PATCH", `${API}/businesses/${state.session.business_id}`, patch)).business;
      templates.saved();
      status.replaceChildren(h("p", { class: "ok", text: "Saved." }));
      toast("Settings saved.");
    } catch (failure) {
      status.replaceChildren(h("div", { class: "errors", role: "alert" },
        h("p", { text: failure.message }),
        failure.details && failure.details.length
          ? h("ul", {}, failure.details.map((d) => h("li", { text: d.field ? `${d.field}: ${d.message}` : String(d.message || d) })))
          : null));
    } finally { done(); }
  });
  show(heading("Settings"), form,
    h("section", { class: "card", "aria-labelledby": "sessions-title" },
      h("h2", { id: "sessions-title", text: "Signed-in devices" }),
      h("p", { class: "muted", text: "Lost a phone? End every session of your number, on every device." }),
      h("button", { type: "button", class: "danger", id: "logout-everywhere", text: "Log out everywhere", onclick: () => logOut(true) })));
}

/* ---------- router ---------- */

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
  document.title = `${{ c: "Conversation", account: "Account", settings: "Settings" }[view] || "Inbox"} · NeverMiss`;
  if (view === "c" && id) await conversationView(decodeURIComponent(id));
  else if (view === "account") await accountView();
  else if (view === "settings") await settingsView();
  else await inboxView();
  const title = document.getElementById("view-title");
  if (title && document.activeElement === document.body) title.focus({ preventScroll: true });
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("logout").addEventListener("click", () => logOut(false));
  window.addEventListener("hashchange", route);
  route();
});
