// The agent desktop: one presence for every channel, offers with the customer's context,
// the call in hand with transfer, wrap-up with a disposition, callbacks, today's numbers.
// Every routing event for this agent (pushed over /api/v1/ws) re-reads the state.
import { act, api, clockTime, duration, el, live, notify, serial, setupLogin, showLink, throttle } from "./common.js";

const DISPOSITIONS = [
  ["resolved", "Resolved"],
  ["follow_up", "Follow-up needed"],
  ["escalated", "Escalated"],
  ["callback_promised", "Callback promised"],
  ["no_action", "No action needed"],
];
const CHANNEL_NAMES = { voice: "Call", chat: "Chat", email: "Email", callback: "Callback" };

let me = null;
let queueNames = [];
const cards = new Map(); // task id -> {key, node}: unchanged tasks keep their node (and input)
const wrapForms = new Map(); // task id -> form: a note being typed survives a refresh

function base() {
  return `/api/v1/agents/${encodeURIComponent(me.id)}`;
}

function customerBlock(c) {
  const previous = c.previous.length
    ? el(
        "ul",
        { class: "previous" },
        c.previous.map((p) =>
          el(
            "li",
            {},
            `${clockTime(p.started_at)} · ${CHANNEL_NAMES[p.channel] || p.channel}`,
            p.queue ? ` · ${p.queue}` : "",
            p.outcome ? ` · ${p.outcome}` : "",
            p.disposition ? ` · ${p.disposition.replace("_", " ")}` : "",
          ),
        ),
      )
    : el("span", { text: "none" });
  const path = c.ivr_path.length
    ? el("ol", { class: "ivr-path" }, c.ivr_path.map((step) => el("li", { text: step })))
    : el("span", { text: "–" });
  return el(
    "dl",
    { class: "customer" },
    el("dt", { text: "Customer" }),
    el("dd", { class: "customer-name", text: c.name || "Unknown customer" }),
    el("dt", { text: "Tier" }),
    el("dd", { class: "customer-tier", text: c.tier ? c.tier.toUpperCase() : "–" }),
    el("dt", { text: "Verified" }),
    el(
      "dd",
      { class: c.verified ? "verified yes" : "verified no" },
      c.verified ? "Verified" : "Not verified",
    ),
    el("dt", { text: "IVR path" }),
    el("dd", {}, path),
    el("dt", { text: "Previous interactions" }),
    el("dd", {}, previous),
  );
}

function transferControls(task) {
  const id = `transfer-${task.task_id}`;
  const select = el(
    "select",
    { id, class: "transfer-queue" },
    queueNames.filter((q) => q !== task.queue).map((q) => el("option", { value: q, text: q })),
  );
  const button = el("button", { type: "button", class: "transfer" }, "Transfer");
  button.addEventListener("click", () =>
    act(button, `Call transferred to ${select.value}.`, async () => {
      try {
        await api("POST", `${base()}/transfer`, { queue: select.value });
      } catch (err) {
        err.message = `Transfer failed: ${err.message}`;
        throw err;
      }
      await refresh();
    }),
  );
  return el("div", { class: "row" }, el("label", { for: id, text: "Transfer to queue" }), select, button);
}

function taskCard(task) {
  const channel = CHANNEL_NAMES[task.channel] || task.channel;
  const who = task.customer.name || "unknown customer";
  const buttons = [];
  const path = `${base()}/tasks/${encodeURIComponent(task.task_id)}`;
  if (task.actions.includes("accept")) {
    const b = el("button", { type: "button", class: "accept" }, "Accept");
    b.addEventListener("click", () =>
      act(b, `${channel} accepted.`, async () => {
        await api("POST", `${path}/accept`);
        await refresh();
      }),
    );
    buttons.push(b);
  }
  if (task.actions.includes("reject")) {
    const b = el("button", { type: "button", class: "reject secondary" }, "Reject");
    b.addEventListener("click", () =>
      act(b, `${channel} rejected; it goes to the next agent.`, async () => {
        await api("POST", `${path}/reject`, {});
        await refresh();
      }),
    );
    buttons.push(b);
  }
  if (task.actions.includes("complete")) {
    const b = el("button", { type: "button", class: "complete" }, "Complete");
    b.addEventListener("click", () =>
      act(b, `${channel} completed; wrap-up started.`, async () => {
        await api("POST", `${path}/complete`);
        await refresh();
      }),
    );
    buttons.push(b);
  }
  let hint = null;
  if (task.channel === "voice" && task.state === "offered") {
    hint = el("p", { class: "hint", text: "Your phone is ringing: answer it to take the call." });
  } else if (task.channel === "voice") {
    hint = el("p", { class: "hint", text: "On the call. Hang up on the phone to end it." });
  } else if (task.channel === "callback" && task.state === "offered") {
    hint = el("p", {
      class: "hint",
      text: "Your phone is ringing for this callback: answer it and the customer is dialled.",
    });
  } else if (task.channel === "callback") {
    hint = el("p", { class: "hint", text: "On the callback. Hang up on the phone to end it." });
  }
  const status =
    task.state === "offered"
      ? el("span", { class: "countdown", "data-deadline": task.offer_deadline })
      : el("span", { text: "in progress" });
  return el(
    "article",
    {
      class: `task ${task.state}`,
      "data-task-id": task.task_id,
      "data-channel": task.channel,
      "aria-label": `${channel} from ${who}, ${task.state}`,
    },
    el(
      "header",
      {},
      el("span", { class: `badge ${task.channel}`, text: channel }),
      el("span", { class: "queue", text: `queue ${task.queue}` }),
      el("span", { class: "state", text: task.state === "offered" ? "Offered" : "Assigned" }),
      status,
      el("span", { class: "waited" }),
    ),
    customerBlock(task.customer),
    hint,
    buttons.length ? el("div", { class: "row" }, buttons) : null,
    task.actions.includes("transfer") ? transferControls(task) : null,
  );
}

function renderList(container, tasks, emptyText) {
  const keep = new Set();
  const nodes = [];
  for (const task of tasks) {
    // the wait grows between readings: not part of the key (a rebuilt card would lose
    // the queue picked for a transfer), counted on by tick() instead
    const { waited_s: waited, ...stable } = task;
    const key = JSON.stringify(stable) + queueNames.join(",");
    let entry = cards.get(task.task_id);
    if (!entry || entry.key !== key) {
      entry = { key, node: taskCard(task) };
      cards.set(task.task_id, entry);
    }
    entry.node.querySelector(".waited").dataset.since = String(Date.now() / 1000 - waited);
    keep.add(task.task_id);
    nodes.push(entry.node);
  }
  container.replaceChildren(...(nodes.length ? nodes : [el("p", { class: "empty", text: emptyText })]));
  return keep;
}

function wrapForm(wrap) {
  const id = wrap.task_id;
  const form = el("form", { class: "wrapup", "data-task-id": id });
  const select = el(
    "select",
    { id: `disp-${id}`, name: "disposition", required: true },
    DISPOSITIONS.map(([value, label]) => el("option", { value, text: label })),
  );
  const note = el("textarea", { id: `note-${id}`, name: "note", rows: 3, maxlength: 2000 });
  const submit = el("button", { type: "submit" }, "Save and finish wrap-up");
  form.append(
    el("p", {}, `${CHANNEL_NAMES[wrap.channel] || wrap.channel} `, el("code", { text: id }), " ",
      el("span", { class: "countdown", "data-deadline": wrap.until })),
    el("label", { for: `disp-${id}`, text: "Disposition" }),
    select,
    el("label", { for: `note-${id}`, text: "Note" }),
    note,
    submit,
  );
  form.addEventListener("input", () => (form.dataset.touched = "1"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(submit, "Wrap-up saved; you are ready for the next task.", async () => {
      await api("POST", `${base()}/wrapup`, {
        task_id: id,
        disposition: select.value,
        note: note.value,
        end: true,
      });
      wrapForms.delete(id);
      await refresh();
    });
  });
  return form;
}

function renderWrapups(wrapups) {
  const box = document.getElementById("wrapups");
  const ids = new Set(wrapups.map((w) => w.task_id));
  for (const [id, form] of wrapForms) {
    if (ids.has(id)) continue;
    // wrap-up time ran out: a form being filled in stays until it is saved
    if (form.dataset.touched) {
      const countdown = form.querySelector(".countdown");
      delete countdown.dataset.deadline;
      countdown.textContent = "time is up; save anyway";
    } else {
      wrapForms.delete(id);
    }
  }
  for (const w of wrapups) if (!wrapForms.has(w.task_id)) wrapForms.set(w.task_id, wrapForm(w));
  const forms = [...wrapForms.values()];
  box.replaceChildren(...(forms.length ? forms : [el("p", { class: "empty", text: "No wrap-up in progress." })]));
}

function renderWork(work) {
  const state = document.getElementById("state");
  state.textContent = work.state.replace("_", " ");
  state.dataset.state = work.state;
  document.getElementById("state-reason").textContent = work.reason ? `(${work.reason})` : "";
  for (const [id, value] of [
    ["go-available", "available"],
    ["go-not-ready", "not_ready"],
    ["go-offline", "offline"],
  ]) {
    document.getElementById(id).setAttribute("aria-pressed", String(work.presence === value));
  }
  const callbacks = work.tasks.filter((t) => t.channel === "callback");
  const others = work.tasks.filter((t) => t.channel !== "callback");
  const keep = new Set([
    ...renderList(document.getElementById("work"), others, "Nothing offered."),
    ...renderList(document.getElementById("callbacks"), callbacks, "No callbacks offered."),
  ]);
  for (const id of [...cards.keys()]) if (!keep.has(id)) cards.delete(id);
  renderWrapups(work.wrapups);
  tick();
}

function renderStats(s) {
  const rows = [
    ["Offered", s.offered],
    ["Accepted", s.accepted],
    ["Rejected", s.rejected],
    ["Missed", s.missed],
    ["Completed", s.completed],
    ["Average handle time", duration(s.average_handle_time_s)],
  ];
  document
    .getElementById("today")
    .replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { "data-stat": k, text: v })]));
}

function renderQueues(queues) {
  queueNames = queues.map((q) => q.name);
  document.getElementById("queues").replaceChildren(
    ...queues.map((q) =>
      el(
        "tr",
        { "data-queue": q.name },
        el("th", { scope: "row", text: q.name }),
        el("td", { class: q.open ? "open" : "closed", text: q.open ? "Open" : "Closed" }),
        el("td", { text: q.waiting }),
        el("td", { text: duration(q.longest_wait_s) }),
      ),
    ),
  );
}

const refresh = serial(readAll);

async function readAll() {
  const [work, stats, queues] = await Promise.all([
    api("GET", `${base()}/work`),
    api("GET", `${base()}/stats`),
    api("GET", "/api/v1/queues"),
  ]);
  renderQueues(queues.queues);
  renderWork(work);
  renderStats(stats);
}

function tick() {
  const now = Date.now() / 1000;
  for (const node of document.querySelectorAll(".waited[data-since]")) {
    node.textContent = `waited ${duration(now - Number(node.dataset.since))}`;
  }
  for (const node of document.querySelectorAll(".countdown[data-deadline]")) {
    const deadline = Number(node.dataset.deadline);
    node.textContent = deadline ? `${duration(Math.max(0, deadline - now))} left` : "";
  }
}

async function setPresence(button, presence, reason) {
  await act(button, `Presence: ${presence.replace("_", " ")}.`, async () => {
    await api("PUT", `${base()}/presence`, { presence, reason });
    await refresh();
  });
}

function wireControls() {
  const available = document.getElementById("go-available");
  const notReady = document.getElementById("go-not-ready");
  const offline = document.getElementById("go-offline");
  available.addEventListener("click", () => setPresence(available, "available", null));
  notReady.addEventListener("click", () =>
    setPresence(notReady, "not_ready", document.getElementById("reason").value),
  );
  offline.addEventListener("click", () => setPresence(offline, "offline", null));
}

async function start(user) {
  me = user;
  const later = throttle(() => refresh().catch((err) => notify(err.message, true)), 150);
  const stop = live({
    onEvent: later,
    onOpen: later,
    onStatus: showLink,
  });
  const timer = setInterval(tick, 1000);
  // queue numbers move with other agents' work, whose events are not sent to this agent
  const slow = setInterval(later, 10000);
  await refresh();
  return () => {
    stop();
    clearInterval(timer);
    clearInterval(slow);
  };
}

wireControls();
setupLogin({ roles: ["agent"], start });
