/* The inbox (#/inbox): every conversation, open ones first, with badges. */

import { API, call, rerender, startPolling, state } from "./api.js";
import { clock, emptyPanel, errorPanel, h, heading, loading, phone, show, when } from "./dom.js";

export function seenKey(id) { return `nm_seen_${id}`; }

function isUnread(c) {
  const seen = localStorage.getItem(seenKey(c.id));
  return !seen || new Date(c.last_activity_at) > new Date(seen);
}

export function leadName(c) {
  const lead = c.lead || {};
  return lead.name || lead.customer_name || "";
}

export function badges(c, withUnread) {
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

export async function inboxView() {
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
    show(heading("Inbox"), errorPanel("Couldn't load your conversations", failure, rerender));
    return;
  }
  startPolling(refresh);
}
