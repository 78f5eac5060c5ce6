// Watchfloor console behaviour: queue refresh, keyboard shortcuts, the hunt editor's Ctrl+Enter. Served
// locally; the page's CSP allows no inline script, so everything the page needs is read from data
// attributes here.
"use strict";

(function () {
  const REFRESH_MS = 5000;

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function queueRow(row) {
    const tr = document.createElement("tr");
    tr.className = "sev-" + row.severity + (row.breached ? " breached" : "");
    tr.appendChild(cell(String(row.id)));
    const sev = cell("");
    const badge = document.createElement("span");
    badge.className = "sev";
    badge.textContent = row.severity;
    sev.appendChild(badge);
    tr.appendChild(sev);
    tr.appendChild(cell(row.priority));
    const title = cell("");
    const link = document.createElement("a");
    link.href = "/incidents/" + encodeURIComponent(row.id);
    link.textContent = row.title;
    title.appendChild(link);
    tr.appendChild(title);
    tr.appendChild(cell(row.state));
    tr.appendChild(cell(row.assignee || "-"));
    tr.appendChild(cell(String(row.alerts)));
    tr.appendChild(cell(row.age + " / " + row.sla + " " + row.target));
    return tr;
  }

  function refreshQueue(table) {
    const status = document.getElementById("refresh-state");
    fetch(table.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/login"); return null; }
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) {
        if (!data) { return; }
        const body = document.createElement("tbody");
        data.rows.forEach(function (row) { body.appendChild(queueRow(row)); });
        if (!data.rows.length) {
          const tr = document.createElement("tr");
          const td = cell("Nothing waiting in this queue.");
          td.colSpan = 8;
          tr.className = "empty";
          tr.appendChild(td);
          body.appendChild(tr);
        }
        table.replaceChild(body, table.tBodies[0]);
        if (status) { status.textContent = "live · " + new Date().toLocaleTimeString(); }
      })
      .catch(function () { if (status) { status.textContent = "offline, retrying"; } });
  }

  function typing(event) {
    const tag = (event.target && event.target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || event.ctrlKey || event.metaKey || event.altKey;
  }

  function shortcuts() {
    document.addEventListener("keydown", function (event) {
      if (typing(event)) { return; }
      const focus = { e: "escalate-note", d: "deescalate-note", c: "close-verdict", m: "comment-body" };
      if (event.key === "a") {
        const ack = document.getElementById("do-ack");
        if (ack && !ack.disabled) { event.preventDefault(); ack.form.requestSubmit(ack); }
      } else if (focus[event.key]) {
        const field = document.getElementById(focus[event.key]);
        if (field) { event.preventDefault(); field.focus(); }
      }
    });
  }

  function huntEditor() {
    const editor = document.getElementById("hunt-sql");
    if (!editor) { return; }
    editor.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        editor.form.requestSubmit();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const table = document.getElementById("queue");
    if (table) { window.setInterval(function () { refreshQueue(table); }, REFRESH_MS); }
    if (document.body.dataset.page === "incident") { shortcuts(); }
    if (document.body.dataset.page === "hunt") { huntEditor(); }
  });
})();
