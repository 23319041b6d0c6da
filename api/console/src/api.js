// The public API from the browser: bearer tokens kept for the tab (sessionStorage), one refresh
// on a 401, and every error turned into an ApiProblem carrying the problem+json title/detail.

const KEY = "eddy.session";

/** An error answer of the API (or of the network), as problem+json describes it. */
export class ApiProblem extends Error {
  constructor(status, body) {
    const title = (body && body.title) || (status ? `HTTP ${status}` : "Network error");
    const detail = (body && body.detail) || "";
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

export function setSession(s) {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

async function send(method, path, body, headers) {
  const h = { ...headers };
  if (body !== undefined) h["content-type"] = "application/json";
  const s = session();
  if (s) h.authorization = `Bearer ${s.access_token}`;
  try {
    return await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiProblem(0, { title: "Network error", detail: String(e.message || e) });
  }
}

async function refresh() {
  const s = session();
  if (!s || !s.refresh_token) return false;
  const r = await fetch("/v1/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: s.refresh_token }),
  });
  if (!r.ok) return false;
  setSession({ ...s, ...(await r.json()) });
  return true;
}

/** Calls the API; resolves to `{ data, etag, status }` or throws an ApiProblem. */
export async function call(method, path, body, headers = {}) {
  let r = await send(method, path, body, headers);
  if (r.status === 401 && !path.startsWith("/v1/auth/") && (await refresh())) {
    r = await send(method, path, body, headers);
  }
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!r.ok) {
    if (r.status === 401 && !path.startsWith("/v1/auth/")) {
      setSession(null);
      window.dispatchEvent(new Event("eddy-signed-out"));
    }
    throw new ApiProblem(r.status, data);
  }
  return { data, etag: r.headers.get("etag"), status: r.status };
}

export const get = async (path) => (await call("GET", path)).data;
export const post = async (path, body, headers) => (await call("POST", path, body ?? {}, headers)).data;
export const patch = async (path, body, headers) => (await call("PATCH", path, body, headers)).data;
export const del = async (path, headers) => (await call("DELETE", path, undefined, headers)).data;

/** Formats a decimal money string ("19.00") with its currency. */
export function money(v, currency = "EUR") {
  const n = Number(v);
  return Number.isFinite(n) ? `${n.toFixed(2)} ${currency}` : `${v} ${currency}`;
}
