// Shared by the agent desktop and the supervisor console: the JSON API with the CSRF
// token, logging in and out, the live WebSocket, and small DOM helpers. Data always goes
// into the page as text (never as HTML), so nothing a customer typed can run here.

const CSRF_KEY = "cc.csrf";
const USER_KEY = "cc.user";

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.error = body && body.error ? body.error : "error";
  }
}

export function currentUser() {
  const raw = sessionStorage.getItem(USER_KEY);
  return raw ? JSON.parse(raw) : null;
}

function forget() {
  sessionStorage.removeItem(CSRF_KEY);
  sessionStorage.removeItem(USER_KEY);
}

let onUnauthenticated = () => {};

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = sessionStorage.getItem(CSRF_KEY) || "";
  const resp = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await resp.json();
  } catch (_) {
    data = null;
  }
  if (resp.status === 401 && !path.endsWith("/auth/login")) {
    forget();
    onUnauthenticated();
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export async function login(username, password) {
  const out = await api("POST", "/api/v1/auth/login", { username, password });
  sessionStorage.setItem(CSRF_KEY, out.csrf_token);
  sessionStorage.setItem(USER_KEY, JSON.stringify(out.user));
  return out.user;
}

export async function logout() {
  try {
    await api("POST", "/api/v1/auth/logout");
  } finally {
    forget();
  }
}

// The page header's link indicator (#link), as an `onStatus` for `live`.
export function showLink(status) {
  const link = document.getElementById("link");
  link.textContent = status === "live" ? "● live" : "○ reconnecting…";
  link.dataset.status = status;
}

// The live socket: reconnects with backoff; `onOpen` runs after every (re)connect so the
// page re-reads the state it may have missed.
export function live({ onEvent, onOpen, onStatus }) {
  let socket = null;
  let delay = 500;
  let stopped = false;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws`);
    socket.addEventListener("message", (msg) => {
      const data = JSON.parse(msg.data);
      if (data.type === "hello") {
        delay = 500;
        onStatus("live");
        onOpen();
      } else if (data.type === "event") {
        onEvent(data.event);
      }
    });
    socket.addEventListener("close", () => {
      onStatus("reconnecting");
      if (!stopped) setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    });
  }
  connect();
  return () => {
    stopped = true;
    if (socket) socket.close();
  };
}

// One run of `fn` at a time: a call while it runs makes it run once more afterwards (and
// waits for that), so an older reading never overwrites a newer one.
export function serial(fn) {
  let running = null;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
}

// Runs `fn` at most once per `ms`, always after the last call: a burst of events becomes
// one re-read, and a steady stream of them still gives one every `ms` (a debounce would
// wait for a pause that a busy contact center never has).
export function throttle(fn, ms) {
  let timer = null;
  return () => {
    if (timer === null) {
      timer = setTimeout(() => {
        timer = null;
        fn();
      }, ms);
    }
  };
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || seconds < 0) return "–";
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

export function clockTime(epoch) {
  return new Date(epoch * 1000).toLocaleString();
}

// Shows the outcome of an action in the page's status line (read out by screen readers).
export function notify(text, isError = false) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.classList.toggle("error", isError);
}

// Runs an action from a button: disables it meanwhile, reports errors as text.
export async function act(button, what, fn) {
  button.disabled = true;
  try {
    await fn();
    notify(what);
  } catch (err) {
    notify(err.message || String(err), true);
  } finally {
    button.disabled = false;
  }
}

// The login form and the page's main part: `start(user)` runs once logged in.
export function setupLogin({ roles, start }) {
  const form = document.getElementById("login-form");
  const main = document.getElementById("main");
  const loginBox = document.getElementById("login");
  const who = document.getElementById("who");
  const error = document.getElementById("login-error");
  let stopLive = null;

  function showLogin() {
    if (stopLive) stopLive();
    stopLive = null;
    main.hidden = true;
    loginBox.hidden = false;
    who.textContent = "";
    document.getElementById("logout").hidden = true;
  }
  async function enter(user) {
    if (!roles.includes(user.role)) {
      await logout();
      error.textContent = `This page is for ${roles.join(" or ")} accounts; ${user.username} is ${user.role}.`;
      showLogin();
      return;
    }
    loginBox.hidden = true;
    main.hidden = false;
    who.textContent = `${user.name} (${user.username}, ${user.role})`;
    document.getElementById("logout").hidden = false;
    stopLive = await start(user);
  }
  onUnauthenticated = () => {
    error.textContent = "Your session ended; please log in again.";
    showLogin();
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const data = new FormData(form);
    try {
      const user = await login(String(data.get("username")), String(data.get("password")));
      form.reset();
      await enter(user);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  document.getElementById("logout").addEventListener("click", async () => {
    await logout();
    showLogin();
  });
  const user = currentUser();
  if (user) {
    // a reload keeps the session: check it is still valid before showing anything
    api("GET", "/api/v1/me").then(enter, showLogin);
  } else {
    showLogin();
  }
}
