// kestrad web UI: actions sent to the API, live logs over SSE, the flow editor.
// No framework: htmx (vendored) refreshes the live fragments, this file does the rest.
"use strict";

const API = "/api/v1/main";

function flash(message, ok) {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = message;
  box.className = ok ? "ok" : "";
  box.hidden = false;
}

async function apiMessage(response) {
  // The API answers every error as {"message": ...}; show it as the API wrote it.
  try {
    const body = await response.json();
    if (body && body.message) return body;
  } catch (e) { /* not JSON */ }
  return { message: `${response.status} ${response.statusText}` };
}

// Buttons with data-url: confirm, send, report. The page's live fragments refresh after.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-url]");
  if (!button) return;
  event.preventDefault();
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  let body = null;
  const headers = {};
  if (button.dataset.labels) {
    // "key:value" lines → Kestra's label list.
    const text = document.getElementById(button.dataset.labels).value;
    body = JSON.stringify(text.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
      const at = l.indexOf(":");
      return at < 0 ? { key: l, value: "" } : { key: l.slice(0, at).trim(), value: l.slice(at + 1).trim() };
    }));
    headers["Content-Type"] = "application/json";
  } else if (button.dataset.body) {
    const source = document.getElementById(button.dataset.body);
    if (source.tagName === "FORM" && button.dataset.type === "application/json") {
      // A form sent as a JSON object of its non-empty fields.
      const fields = Object.fromEntries([...new FormData(source)].filter(([, v]) => v !== ""));
      body = JSON.stringify(fields);
      headers["Content-Type"] = "application/json";
    } else if (source.tagName === "FORM") {
      body = new FormData(source);
    } else {
      body = source.value;
      headers["Content-Type"] = button.dataset.type || "application/json";
    }
  }
  button.disabled = true;
  try {
    const response = await fetch(button.dataset.url, {
      method: button.dataset.method || "POST", body, headers, credentials: "same-origin",
    });
    if (!response.ok) {
      flash((await apiMessage(response)).message, false);
      return;
    }
    let created = null;
    try { created = await response.json(); } catch (e) { /* 202/204 */ }
    flash(button.dataset.done || "Done", true);
    if (button.dataset.thenFlow && created && created.namespace) {
      window.location = `/ui/flows/${created.namespace}/${created.id}`;
    } else if (button.dataset.then && created && created.id) {
      window.location = button.dataset.then.replace("{id}", created.id);
    } else if (button.dataset.reload) {
      window.location.reload();
    } else {
      document.body.dispatchEvent(new Event("refresh"));
    }
  } finally {
    button.disabled = false;
  }
});

// Forms with data-api: sent to the API with fetch (multipart, so FILE inputs travel),
// each field's error shown beside it from the API's 422 `errors` list.
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-api]");
  if (!form) return;
  event.preventDefault();
  form.querySelectorAll("[data-error-for]").forEach((el) => { el.textContent = ""; });
  const data = new FormData(form);
  for (const [key, value] of [...data.entries()]) {
    if (value === "" || (value instanceof File && !value.name)) data.delete(key);
  }
  const response = await fetch(form.dataset.api, {
    method: form.dataset.method || "POST", body: data, credentials: "same-origin",
  });
  if (!response.ok) {
    const error = await apiMessage(response);
    for (const item of error.errors || []) {
      const slot = form.querySelector(`[data-error-for="${CSS.escape(item.input || "")}"]`);
      if (slot) slot.textContent = item.message;
    }
    flash(error.message, false);
    return;
  }
  const created = await response.json().catch(() => null);
  if (form.dataset.reload) {
    window.location.reload();
  } else if (form.dataset.then && created && created.id) {
    window.location = form.dataset.then.replace("{id}", created.id);
  } else {
    flash(form.dataset.done || "Saved", true);
  }
});

// ---------------------------------------------------------------- live logs
// Lines arrive over the API's SSE stream; the browser resends Last-Event-ID on reconnect,
// so a dropped connection resumes after the last line received. Lines are kept in an
// array and drawn in batches, one batch per animation frame, so 10 000 lines never freeze.
function logViewer(root) {
  const out = root.querySelector(".logs");
  const level = root.querySelector("[name=level]");
  const task = root.querySelector("[name=task]");
  const search = root.querySelector("[name=search]");
  const count = root.querySelector(".count");
  const ORDER = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, WARNING: 3, ERROR: 4 };
  const lines = [];
  let drawn = 0;
  let scheduled = false;
  const BATCH = 500;

  const keep = (line) =>
    (ORDER[line.level] ?? 2) >= (ORDER[level.value] ?? 0) &&
    (!task.value || line.taskId === task.value) &&
    (!search.value || line.message.toLowerCase().includes(search.value.toLowerCase()));

  function row(line) {
    const div = document.createElement("div");
    div.className = `line lv-${line.level}`;
    const ts = document.createElement("span");
    ts.className = "ts";
    ts.textContent = (line.timestamp || "").slice(11, 23) + " ";
    const lv = document.createElement("span");
    lv.textContent = line.level.padEnd(5) + " ";
    const tk = document.createElement("span");
    tk.className = "task";
    tk.textContent = line.taskId ? `[${line.taskId}] ` : "";
    const msg = document.createElement("span");
    msg.className = "msg";
    msg.textContent = line.message;
    div.append(ts, lv, tk, msg);
    return div;
  }

  function draw() {
    scheduled = false;
    const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 20;
    const fragment = document.createDocumentFragment();
    const stop = Math.min(lines.length, drawn + BATCH);
    for (; drawn < stop; drawn++) if (keep(lines[drawn])) fragment.append(row(lines[drawn]));
    out.append(fragment);
    if (atBottom) out.scrollTop = out.scrollHeight;
    count.textContent = `${out.childElementCount} of ${lines.length} lines`;
    if (drawn < lines.length) schedule();
  }
  function schedule() {
    if (!scheduled) { scheduled = true; requestAnimationFrame(draw); }
  }
  function redraw() { out.replaceChildren(); drawn = 0; schedule(); }
  [level, task].forEach((el) => el.addEventListener("change", redraw));
  let timer = null;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(redraw, 150); });

  const source = new EventSource(`${API}/logs/${root.dataset.execution}/follow`);
  source.onmessage = (event) => {
    const line = JSON.parse(event.data);
    lines.push(line);
    if (line.taskId && ![...task.options].some((o) => o.value === line.taskId)) {
      task.add(new Option(line.taskId, line.taskId));
    }
    schedule();
  };
  source.addEventListener("end", () => { source.close(); root.dataset.ended = "true"; });
  root.logSource = source;
}

// ---------------------------------------------------------------- flow editor
function flowEditor(root) {
  const area = root.querySelector("textarea");
  const list = root.querySelector(".problems");
  const nums = root.querySelector(".nums");
  let timer = null;
  async function validate() {
    const response = await fetch(`${API}/flows/validate`, {
      method: "POST", body: area.value, headers: { "Content-Type": "application/x-yaml" },
      credentials: "same-origin",
    });
    const result = response.ok ? await response.json() : [{ problems: [await apiMessage(response)] }];
    list.replaceChildren();
    const problems = result.flatMap((doc) => doc.problems || []);
    for (const problem of problems) {
      const li = document.createElement("li");
      li.textContent = problem.text || problem.message;
      list.append(li);
    }
    root.dataset.valid = problems.length ? "false" : "true";
    root.querySelector(".status").textContent = problems.length ? `${problems.length} problem(s)` : "valid";
  }
  area.addEventListener("input", () => {
    if (nums) nums.textContent = area.value.split("\n").map((_, i) => i + 1).join("\n");
    clearTimeout(timer);
    timer = setTimeout(validate, 300);
  });
}

function start(scope) {
  scope.querySelectorAll("[data-log-viewer]:not([data-started])").forEach((el) => {
    el.dataset.started = "1";
    logViewer(el);
  });
  scope.querySelectorAll("[data-flow-editor]:not([data-started])").forEach((el) => {
    el.dataset.started = "1";
    flowEditor(el);
  });
}
document.addEventListener("DOMContentLoaded", () => {
  start(document);
  // The page's actions work from here on: ui.css keeps them from taking clicks before,
  // so a click that would have done nothing is not lost in silence.
  document.documentElement.dataset.ready = "true";
});
document.addEventListener("htmx:load", (event) => start(event.target));
