/* Calls (#/calls, #/calls/missed): every call, newest first, from GET /api/v1/calls.
 *
 * A missed call says why in plain words and what became of its text-back; a call that belongs
 * to a conversation links to it; a voicemail plays inline with its transcript. The first page
 * is polled like the inbox; "Show older calls" pages back with the API's cursor. Rows that did
 * not change keep their elements, so a voicemail playing is not interrupted by a poll.
 */

import { API, call, rerender, startPolling, state } from "./api.js";
import { clock, emptyPanel, errorPanel, h, heading, loading, phone, show, toast, when } from "./dom.js";

const PAGE = 50;

// calls.miss_reason (shared_code/calls/classification.py) in the owner's words.
export const MISS_REASONS = {
  "no-answer": "No answer",
  busy: "Your line was busy",
  failed: "Your phone couldn't be reached",
  canceled: "The caller hung up before you answered",
  "after-hours": "After hours",
  "no-owner": "No phone set up to ring",
  not_accepted: "Voicemail picked up — nobody pressed 1",
  machine: "Answering machine",
  "too-short": "Hung up as soon as it was answered",
};

// calls.text_back_status (shared_code/calls/decision.py) in the owner's words.
export const TEXT_BACK = {
  pending: "Texting them back…",
  sent: "Texted back",
  suppressed_own_number: "Not texted: it's one of your own phones",
  suppressed_blocked: "Not texted: you blocked this number",
  suppressed_opted_out: "Not texted: they opted out of texts",
  suppressed_landline: "Not texted: their number is a landline",
  suppressed_undeliverable: "Not texted: their number can't receive texts",
  suppressed_sending_paused: "Not texted: your automated texts are paused",
  suppressed_open_conversation: "Not texted: they're already in a conversation with you",
  suppressed_cooldown: "Not texted: we texted them back recently",
  suppressed_invalid_number: "Not texted: no caller ID",
};

const TRANSCRIPTS = {
  pending: "Transcribing…",
  failed: "The transcript isn't available.",
  none: "No transcript.",
};

export function reasonWords(c) {
  if (!c.missed) {
    if ((c.miss_reason || "").startsWith("unknown-status")) return "Ringing, or the outcome isn't known yet";
    return c.accepted ? "Answered (pressed 1 to take it)" : "Answered";
  }
  return MISS_REASONS[c.miss_reason] || "Missed";
}

export function textBackWords(c) {
  const status = c.text_back_status;
  if (status === "not_missed") return "";
  if (status === "held") {
    return c.text_back_at ? `Quiet hours: we'll text them at ${clock(c.text_back_at)}` : "Quiet hours: we'll text them in the morning";
  }
  return TEXT_BACK[status] || `Text-back: ${String(status).replace(/_/g, " ")}`;
}

function duration(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function voicemailBlock(c) {
  const v = c.voicemail;
  if (!v) return null;
  const transcript = v.transcript || TRANSCRIPTS[v.transcription_status] || "No transcript.";
  return h("div", { class: "call-voicemail" },
    h("p", { class: "call-voicemail-title", text: `Voicemail · ${duration(v.duration_seconds)}` }),
    h("p", { class: `msg-body${v.transcript ? "" : " muted"}`, text: transcript }),
    v.audio_url
      ? h("audio", { controls: true, preload: "none", src: v.audio_url, "aria-label": `Play the voicemail from ${phone(c.from)}` })
      : h("p", { class: "hint", text: v.purged_at ? "The recording was deleted after the retention period." : "The recording is on its way." }));
}

function callKey(c) {
  const v = c.voicemail || {};
  return [c.id, c.missed, c.miss_reason, c.text_back_status, c.text_back_at, c.conversation_id,
    v.recording_sid, v.transcript, v.transcription_status, v.audio_url].join("|");
}

function callItem(c) {
  const textBack = textBackWords(c);
  return h("li", { class: `call ${c.missed ? "missed" : "answered"}`, "data-id": c.id, "data-key": callKey(c) },
    h("div", { class: "call-top" },
      h("span", { class: "call-who", text: phone(c.from) }),
      h("time", { class: "call-when", datetime: c.received_at, title: clock(c.received_at), text: when(c.received_at) })),
    h("div", { class: "badges" },
      h("span", { class: `badge ${c.missed ? "missed" : "answered"}`, text: c.missed ? "Missed" : "Answered" }),
      c.voicemail ? h("span", { class: "badge voicemail", text: "Voicemail" }) : null),
    h("p", { class: "call-reason", text: reasonWords(c) }),
    textBack ? h("p", { class: `call-textback${c.text_back_status === "sent" ? " ok-text" : ""}`, text: textBack }) : null,
    c.conversation_id
      ? h("p", { class: "call-link" }, h("a", {
        href: `#/c/${encodeURIComponent(c.conversation_id)}`, "data-conversation": c.conversation_id,
        text: c.conversation_ref ? `Open conversation #${c.conversation_ref}` : "Open the conversation",
      }))
      : null,
    voicemailBlock(c));
}

function byNewest(a, b) {
  return new Date(b.received_at) - new Date(a.received_at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

function filterLinks(filter) {
  const link = (name, href, text) => h("a", { href, class: "filter", "aria-current": filter === name ? "page" : null, text });
  return h("nav", { class: "filters", "aria-label": "Which calls" },
    link("all", "#/calls", "All calls"), link("missed", "#/calls/missed", "Missed"));
}

export async function callsView(filter) {
  const seq = state.seq;
  const query = filter === "missed" ? "&missed=true" : "";
  const rows = new Map();
  let cursor = null; // the API's next_before for the oldest page loaded
  let pagedBack = false;
  const list = h("ul", { class: "list calls", id: "calls-list", "aria-label": "Calls" });
  const count = h("p", { class: "muted", id: "calls-count", "aria-live": "polite" });
  const more = h("button", { type: "button", class: "secondary", id: "calls-more", text: "Show older calls" });
  const top = () => [heading("Calls"), filterLinks(filter)];
  show(...top(), loading("Loading calls…"));

  const render = () => {
    const calls = [...rows.values()].sort(byNewest);
    if (!calls.length) {
      const [title, text] = filter === "missed"
        ? ["No missed calls", "Missed calls show up here with why they were missed and whether the caller was texted back."]
        : ["No calls yet", "When someone calls your NeverMiss number, the call shows up here. Missed ones say why, and what we did about it."];
      if (!document.getElementById("calls-empty")) {
        const panel = emptyPanel(title, text);
        panel.id = "calls-empty";
        show(...top(), panel);
      }
      return;
    }
    const known = new Map([...list.children].map((li) => [li.dataset.id, li]));
    const items = calls.map((c) => {
      const old = known.get(c.id);
      return old && old.dataset.key === callKey(c) ? old : callItem(c);
    });
    const changed = items.length !== list.children.length || items.some((li, i) => li !== list.children[i]);
    if (changed) list.replaceChildren(...items);
    const missed = calls.filter((c) => c.missed).length;
    count.textContent = filter === "missed"
      ? `${calls.length} missed call${calls.length === 1 ? "" : "s"}`
      : `${calls.length} call${calls.length === 1 ? "" : "s"}, ${missed} missed`;
    more.hidden = !cursor;
    if (!list.isConnected) show(...top(), count, list, h("div", { class: "actions" }, more));
  };

  const fetchPage = (before) => call("GET", `${API}/calls?limit=${PAGE}${query}${before ? `&before=${encodeURIComponent(before)}` : ""}`);

  const refresh = async () => {
    const page = await fetchPage(null);
    if (seq !== state.seq) return;
    for (const c of page.calls) rows.set(c.id, c);
    if (!pagedBack) cursor = page.next_before;
    render();
  };

  more.addEventListener("click", async () => {
    if (!cursor) return;
    more.disabled = true;
    try {
      const page = await fetchPage(cursor);
      if (seq !== state.seq) return;
      pagedBack = true;
      for (const c of page.calls) rows.set(c.id, c);
      cursor = page.next_before;
      render();
    } catch (failure) {
      toast(failure.message);
    } finally { more.disabled = false; }
  });

  try {
    await refresh();
  } catch (failure) {
    if (failure.status === 401) return;
    show(...top(), errorPanel("Couldn't load your calls", failure, rerender));
    return;
  }
  startPolling(refresh);
}
