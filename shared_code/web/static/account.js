/* The account (#/account): balance, reserved, usage by local day, streak. */

import { API, call, rerender } from "./api.js";
import { clock, errorPanel, h, heading, loading, money, show, svg } from "./dom.js";

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

export async function accountView() {
  show(heading("Account"), loading("Loading your account…"));
  let account, usage;
  try {
    [account, usage] = await Promise.all([call("GET", `${API}/account`), call("GET", `${API}/usage`)]);
  } catch (failure) {
    if (failure.status === 401) return;
    show(heading("Account"), errorPanel("Couldn't load your account", failure, rerender));
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
