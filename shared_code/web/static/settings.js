/* Settings (#/settings): hours, templates with a live preview, services, FAQ, team phones,
 * answer check; log out everywhere. A save sends only what changed. */

import { API, call, rerender, state } from "./api.js";
import { busy, errorPanel, h, heading, loading, show, toast } from "./dom.js";
import { logOut } from "./session.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_NAMES = {
  mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday", fri: "Friday",
  sat: "Saturday", sun: "Sunday",
};
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

export async function settingsView() {
  show(heading("Settings"), loading("Loading your settings…"));
  let business;
  try {
    business = (await call("GET", `${API}/businesses/${state.session.business_id}`)).business;
  } catch (failure) {
    if (failure.status === 401) return;
    show(heading("Settings"), errorPanel("Couldn't load your settings", failure, rerender));
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
