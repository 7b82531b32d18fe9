/* DOM and formatting helpers the views share. Untrusted text only ever goes in through
 * textContent (`h(tag, { text })` or a child string): never as HTML. */

export function h(tag, attrs, ...children) {
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

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") el.textContent = value;
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) el.append(child);
  return el;
}

export const main = () => document.getElementById("main");

export function show(...nodes) {
  main().replaceChildren(...nodes);
}

export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 3500);
}

export function money(micro) {
  const value = Number(micro || 0) / 1e6;
  return value.toLocaleString("en-US", { style: "currency", currency: "USD" });
}

export function when(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const seconds = Math.round((Date.now() - at.getTime()) / 1000);
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return at.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

export function clock(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
  }) : "";
}

export function phone(value) {
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(value || "");
  return m ? `(${m[1]}) ${m[2]}-${m[3]}` : (value || "unknown");
}


export function busy(button, label) {
  const before = button.textContent;
  button.disabled = true;
  button.textContent = label;
  return () => { button.disabled = false; button.textContent = before; };
}

export function errorPanel(title, failure, retry) {
  return h("section", { class: "panel state error", role: "alert" },
    h("h2", { text: title }),
    h("p", { class: "error-text", text: failure.message }),
    retry ? h("button", { type: "button", onclick: retry, text: "Try again" }) : null);
}

export function emptyPanel(title, text) {
  return h("section", { class: "panel state" }, h("h2", { text: title }), h("p", { class: "muted", text }));
}

export function loading(text) {
  return h("p", { class: "loading", role: "status", text });
}

export function heading(text) {
  return h("h1", { id: "view-title", tabindex: "-1", text });
}
