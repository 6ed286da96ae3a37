// The /v1 API as the console calls it. The API key lives in this module's
// memory only: not in the URL, not in any storage, gone when the tab is
// closed or reloaded.

let key = null;
const ROLES = ['reader', 'writer', 'admin'];

// What the server said about this key and itself (GET /v1/info).
export const session = { info: null };

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

// Checks the key with the server and keeps it when it is accepted.
export async function signIn(token) {
  key = token.trim();
  try {
    session.info = await call('GET', '/v1/info');
  } catch (error) {
    signOut();
    throw error;
  }
  return session.info;
}

export function signOut() {
  key = null;
  session.info = null;
}

export function signedIn() {
  return key !== null && session.info !== null;
}

// Whether the signed-in key's role is at least `role`.
export function can(role) {
  return signedIn() && ROLES.indexOf(session.info.role) >= ROLES.indexOf(role);
}

// A /v1 path from segments, each escaped: person keys may hold any character.
export function path(...segments) {
  return '/v1/' + segments.map((s) => encodeURIComponent(String(s))).join('/');
}

// One request; JSON in and out, or a FormData body (multipart uploads).
// A 401 while signed in means the key was revoked: the app is told.
export async function call(method, url, { json, form, query } = {}) {
  const headers = {};
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, v);
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const response = await fetch(url, { method, headers, body, credentials: 'omit', cache: 'no-store' });
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  const data = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) {
    const e = (data && data.error) || {};
    const error = new ApiError(response.status, e.code || '', e.message || String(data), e.details);
    if (response.status === 401 && signedIn()) {
      signOut();
      window.dispatchEvent(new CustomEvent('facekit:refused', { detail: error }));
    }
    throw error;
  }
  return data;
}

// Server-Sent Events of a /v1 path, read with fetch so that the key goes
// in a header (EventSource sends none, and the key never goes in a URL);
// `onEvent(kind, data)` for each. Returns the function that stops it.
export function stream(url, onEvent) {
  const controller = new AbortController();
  const headers = { Accept: 'text/event-stream' };
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  (async () => {
    const response = await fetch(url, { headers, credentials: 'omit', cache: 'no-store', signal: controller.signal });
    if (!response.ok || !response.body) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let kind = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) kind = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).trim();
        }
        if (data) onEvent(kind, JSON.parse(data));
      }
    }
  })().catch(() => { /* stopped, or the server went away */ });
  return () => controller.abort();
}

// Every collection, by name.
export async function collections() {
  return (await call('GET', '/v1/collections')).collections;
}
