/* A conversation (#/c/<id>): the transcript with authors, voicemails inline, the lead card,
 * reply, take over / hand back / close. */

import { API, call, rerender, startPolling, state } from "./api.js";
import { busy, clock, emptyPanel, errorPanel, h, heading, loading, phone, show, toast } from "./dom.js";
import { badges, leadName, seenKey } from "./inbox.js";

const AUTHORS = { customer: "Customer", assistant: "Assistant", owner: "You", system: "NeverMiss" };

export function audioFor(m) {
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

export async function conversationView(id) {
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
    show(heading("Conversation"), errorPanel("Couldn't load the conversation", failure, rerender));
    return;
  }
  startPolling(refresh);
}
