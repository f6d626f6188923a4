// The supervisor console: the wallboard per queue, waiting tasks and agents, with controls
// that act at once. Every routing event (pushed over /api/v1/ws) re-reads the numbers.
// Rows are kept per queue, task and agent and only their cells are updated, so a value
// being typed into a control survives the updates around it.
import { act, api, clockTime, duration, el, live, notify, serial, setupLogin, showLink, throttle } from "./common.js";

let queueNames = [];
let agentNames = new Map(); // agent id -> name, for the routing story
let fetchedAt = Date.now() / 1000;
const queueRows = new Map();
const taskRows = new Map();
const agentRows = new Map();

function cell(row, name) {
  return row.querySelector(`[data-cell="${name}"]`);
}

function setText(row, name, text) {
  const c = cell(row, name);
  if (c.textContent !== String(text)) c.textContent = String(text);
}

// Keeps one row per id in `tbody`, in the order of `items`: `create` builds a row once,
// `update` refreshes it every time.
function sync(tbody, rows, items, idOf, create, update) {
  const ids = new Set(items.map(idOf));
  for (const [id, row] of rows) if (!ids.has(id)) rows.delete(id);
  const ordered = items.map((item) => {
    const id = idOf(item);
    if (!rows.has(id)) rows.set(id, create(item));
    const row = rows.get(id);
    update(row, item);
    return row;
  });
  tbody.replaceChildren(...ordered);
}

function queueSelect(id, exclude) {
  return el(
    "select",
    { id, "data-exclude": exclude },
    queueNames.filter((q) => q !== exclude).map((q) => el("option", { value: q, text: q })),
  );
}

// -- queues ----------------------------------------------------------------------------------
function createQueueRow(q) {
  const toggle = el("button", { type: "button", class: "toggle-open" });
  toggle.addEventListener("click", () => {
    const open = toggle.dataset.open !== "true";
    act(toggle, `Queue ${q.name} ${open ? "opened" : "closed"}.`, async () => {
      await api("PUT", `/api/v1/queues/${encodeURIComponent(q.name)}/open`, { open });
      await refresh();
    });
  });
  const cells = ["status", "waiting", "longest", "ewt", "sl", "answered", "abandoned",
    "available", "busy", "wrap_up", "not_ready"].map((name) => el("td", { "data-cell": name }));
  return el("tr", { "data-queue": q.name }, el("th", { scope: "row", text: q.name }), cells,
    el("td", {}, toggle));
}

function updateQueueRow(row, q) {
  setText(row, "status", q.open ? "Open" : "Closed");
  cell(row, "status").className = q.open ? "open" : "closed";
  setText(row, "waiting", q.waiting);
  cell(row, "longest").dataset.base = q.longest_wait_s;
  setText(row, "ewt", q.ewt_s < 0 ? "unknown" : duration(q.ewt_s));
  setText(
    row,
    "sl",
    q.service_level_pct === null ? `– (${q.service_level_s}s)` : `${q.service_level_pct}% in ${q.service_level_s}s`,
  );
  setText(row, "answered", q.answered);
  setText(row, "abandoned", q.abandoned);
  for (const state of ["available", "busy", "wrap_up", "not_ready"]) setText(row, state, q.agents[state] ?? 0);
  const toggle = row.querySelector(".toggle-open");
  toggle.dataset.open = String(q.open);
  toggle.textContent = q.open ? "Close queue" : "Open queue";
  toggle.setAttribute("aria-label", `${q.open ? "Close" : "Open"} queue ${q.name}`);
}

// -- waiting tasks ---------------------------------------------------------------------------
function createTaskRow(t) {
  const pid = `prio-${t.task_id}`;
  const mid = `move-${t.task_id}`;
  const prio = el("input", { id: pid, type: "number", min: -1000, max: 1000, step: 1, value: 0, class: "priority" });
  const setPrio = el("button", { type: "button", class: "set-priority" }, "Set");
  setPrio.addEventListener("click", () =>
    act(setPrio, `Task ${t.task_id}: priority ${prio.value}.`, async () => {
      await api("PUT", `/api/v1/tasks/${encodeURIComponent(t.task_id)}`, { priority: Number(prio.value) });
      await refresh();
    }),
  );
  const move = el("button", { type: "button", class: "move" }, "Move");
  const row = el(
    "tr",
    { "data-task-id": t.task_id },
    el("th", { scope: "row" }, el("code", { text: t.task_id })),
    el("td", { "data-cell": "queue" }),
    el("td", { "data-cell": "position" }),
    el("td", { "data-cell": "waited" }),
    el("td", { "data-cell": "ewt" }),
    el("td", {}, el("label", { for: pid, class: "sr-only", text: `Priority of ${t.task_id}` }), prio, setPrio),
    el("td", { "data-cell": "move" }, el("label", { for: mid, class: "sr-only", text: `Move ${t.task_id} to` }),
      el("span", { "data-cell": "select" }), move),
  );
  move.addEventListener("click", () => {
    const select = row.querySelector("select");
    act(move, `Task ${t.task_id} moved to ${select.value}.`, async () => {
      await api("PUT", `/api/v1/tasks/${encodeURIComponent(t.task_id)}`, { queue: select.value });
      await refresh();
    });
  });
  return row;
}

function updateTaskRow(row, t) {
  setText(row, "queue", t.queue);
  setText(row, "position", t.position);
  cell(row, "waited").dataset.base = t.waited_s;
  setText(row, "ewt", t.ewt_s < 0 ? "unknown" : duration(t.ewt_s));
  const holder = cell(row, "select");
  const current = holder.querySelector("select");
  const sig = queueNames.join(",");
  if (!current || current.dataset.exclude !== t.queue || holder.dataset.sig !== sig) {
    holder.replaceChildren(queueSelect(`move-${t.task_id}`, t.queue));
    holder.dataset.sig = sig;
  }
}

// -- agents ----------------------------------------------------------------------------------
function pairs(text, what) {
  const out = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = part.match(/^([a-z0-9_]+)\s*[=:]\s*(\d+)$/i);
    if (!m) throw new Error(`${what}: "${part}" is not name=number`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

function show(map) {
  return Object.entries(map).map(([k, v]) => `${k}=${v}`).join(", ");
}

function createAgentRow(a) {
  const name = a.name;
  const controls = [
    ["pause", "Pause", "not_ready", "supervisor"],
    ["unpause", "Unpause", "available", null],
    ["logout", "Log out", "offline", null],
  ].map(([cls, label, presence, reason]) => {
    const b = el("button", { type: "button", class: `${cls} secondary`, "aria-label": `${label} ${name}` }, label);
    b.addEventListener("click", () =>
      act(b, `${name}: ${label.toLowerCase()}.`, async () => {
        await api("PUT", `/api/v1/agents/${encodeURIComponent(a.id)}/presence`, { presence, reason });
        await refresh();
      }),
    );
    return b;
  });
  const sid = `skills-${a.id}`;
  const cid = `caps-${a.id}`;
  const skills = el("input", { id: sid, class: "skills", spellcheck: "false" });
  const caps = el("input", { id: cid, class: "capacities", spellcheck: "false" });
  const save = el("button", { type: "submit", class: "save-skills" }, "Save");
  const form = el(
    "form",
    { class: "skills-form" },
    el("label", { for: sid, text: "Skills (name=level 1-10)" }),
    skills,
    el("label", { for: cid, text: "Capacities (channel=n)" }),
    caps,
    save,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(save, `${name}: skills saved.`, async () => {
      await api("PUT", `/api/v1/agents/${encodeURIComponent(a.id)}/skills`, {
        skills: pairs(skills.value, "skills"),
        capacities: pairs(caps.value, "capacities"),
      });
      form.dataset.dirty = "";
      await refresh();
    });
  });
  for (const input of [skills, caps]) input.addEventListener("input", () => (form.dataset.dirty = "1"));
  return el(
    "tr",
    { "data-agent": a.username },
    el("th", { scope: "row" }, name, el("br"), el("small", { text: a.username })),
    el("td", { "data-cell": "presence" }),
    el("td", { "data-cell": "state" }),
    el("td", { "data-cell": "time" }),
    el("td", { "data-cell": "tasks" }),
    el("td", {}, form),
    el("td", { class: "controls" }, controls),
  );
}

function updateAgentRow(row, a) {
  setText(row, "presence", a.reason ? `${a.presence.replace("_", " ")} (${a.reason})` : a.presence.replace("_", " "));
  setText(row, "state", a.state.replace("_", " "));
  cell(row, "state").dataset.state = a.state;
  const time = cell(row, "time");
  time.dataset.base = a.time_in_state_s ?? "";
  const tasksCell = cell(row, "tasks");
  const shown = a.tasks.join(",");
  if (tasksCell.dataset.shown !== shown || !tasksCell.childNodes.length) {
    tasksCell.dataset.shown = shown;
    const name = a.name || a.username;
    tasksCell.replaceChildren(
      ...(a.tasks.length
        ? a.tasks.flatMap((t, i) => [
            i ? ", " : "",
            el("button", { type: "button", class: "why", "aria-label": `Why ${t} went to ${name}`,
              onclick: () => showRouting(t).catch((err) => notify(err.message, true)) }, t),
          ])
        : ["–"]),
    );
  }
  const form = row.querySelector(".skills-form");
  if (!form.dataset.dirty) {
    form.querySelector(".skills").value = show(a.skills);
    form.querySelector(".capacities").value = show(a.capacities);
  }
}

// -- why a task went to its agent ---------------------------------------------------------------
function who(agentId) {
  return agentId ? agentNames.get(agentId) || agentId : "";
}

function timeOfDay(epoch) {
  return new Date(epoch * 1000).toLocaleTimeString();
}

// an explanation (see docs/acd.md) in words, with names and times of day
function reason(ex) {
  const w = ex.winner;
  const r = ex.runner_up;
  const by = {
    longest_idle: `longest idle (free since ${timeOfDay(w.free_since)})`,
    best_skill: `best skill level (${w.level}), then longest idle`,
    least_occupied: `least occupied (${Math.round(w.occupancy * 100)}% of capacity in use)`,
  }[ex.strategy] || ex.strategy;
  const next = r ? `next: ${who(r.agent)}, free since ${timeOfDay(r.free_since)}` : "nobody else was eligible";
  return `${by}; ${ex.eligible}${ex.eligible_exact ? "" : "+"} eligible, ` +
    `relaxation step ${ex.step}, priority ${Math.round(ex.priority * 10) / 10}; ${next}`;
}

function stepText(step) {
  const p = step.payload || {};
  const agent = who(step.agent_id);
  switch (step.type) {
    case "task.enqueued": return `entered ${step.queue_id} (priority ${p.priority})`;
    case "task.offered": return `offered to ${agent}: ${reason(p.explanation)}`;
    case "task.rejected": return `refused by ${agent} (${p.reason})`;
    case "task.rona": return `not answered by ${agent} (${p.reason})`;
    case "task.accepted": return `accepted by ${agent}`;
    case "task.assigned": return `assigned to ${agent} after ${duration(p.waited)} waiting`;
    case "task.overflowed": return `overflowed from ${p.from_queue} to ${step.queue_id}`;
    case "task.moved": return `moved from ${p.from_queue} to ${step.queue_id}`;
    case "task.priority_changed": return `priority ${p.from_priority} → ${p.priority}`;
    default: return step.type.replace("task.", "").replace("_", " ");
  }
}

async function showRouting(taskId) {
  const story = await api("GET", `/api/v1/tasks/${encodeURIComponent(taskId)}/routing`);
  const card = document.getElementById("routing-card");
  document.getElementById("routing-task").textContent = taskId;
  const assigned = story.steps.filter((st) => st.type === "task.assigned").pop();
  document.getElementById("routing-why").textContent = assigned
    ? `Went to ${who(assigned.agent_id)}: ${reason(assigned.payload.explanation)}.`
    : "Not assigned to anybody yet.";
  document.getElementById("routing-steps").replaceChildren(
    ...story.steps.map((st) => el("li", { "data-type": st.type }, el("time", { text: clockTime(st.at) }),
      ` ${stepText(st)}`)),
  );
  card.hidden = false;
  card.scrollIntoView({ block: "nearest" });
}

// -- audit -----------------------------------------------------------------------------------
function renderAudit(entries) {
  document.getElementById("audit").replaceChildren(
    ...entries.map((e) =>
      el("li", {}, el("time", { text: clockTime(e.at) }), ` ${e.actor_role} ${e.actor_id}: ${e.action} ${e.target} → `,
        el("code", { text: JSON.stringify(e.after) })),
    ),
  );
}

const refresh = serial(readAll);

async function readAll() {
  const [board, agents, audit] = await Promise.all([
    api("GET", "/api/v1/wallboard"),
    api("GET", "/api/v1/agents"),
    api("GET", "/api/v1/audit?limit=20"),
  ]);
  fetchedAt = Date.now() / 1000;
  document.getElementById("board-day").textContent = `(today since 00:00 ${board.timezone})`;
  queueNames = board.queues.map((q) => q.name);
  agentNames = new Map(agents.agents.map((a) => [a.id, a.name || a.username]));
  sync(document.getElementById("queues"), queueRows, board.queues, (q) => q.name, createQueueRow, updateQueueRow);
  const tasks = board.queues.flatMap((q) => q.tasks.map((t) => ({ ...t, queue: q.name })));
  sync(document.getElementById("tasks"), taskRows, tasks, (t) => t.task_id, createTaskRow, updateTaskRow);
  sync(document.getElementById("agents"), agentRows, agents.agents, (a) => a.id, createAgentRow, updateAgentRow);
  renderAudit(audit.entries);
  tick();
}

// waits and times in state move on between updates: counted here from the last reading
function tick() {
  const since = Date.now() / 1000 - fetchedAt;
  for (const node of document.querySelectorAll("[data-base]")) {
    const base = node.dataset.base;
    node.textContent = base === "" ? "–" : duration(Number(base) + since);
  }
}

async function start() {
  const later = throttle(() => refresh().catch((err) => notify(err.message, true)), 300);
  const stop = live({
    onEvent: later,
    onOpen: later,
    onStatus: showLink,
  });
  const timer = setInterval(tick, 1000);
  await refresh();
  return () => {
    stop();
    clearInterval(timer);
  };
}

setupLogin({ roles: ["supervisor", "admin"], start });
