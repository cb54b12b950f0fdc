// The typed Postiqo client the SPA uses: openapi-fetch over the types that openapi-typescript
// generated from openapi/openapi.json (src/api/schema.d.ts), plus the browser-session rules:
//   - every request carries the HttpOnly session cookies (`credentials: "include"`);
//   - every unsafe request (POST, PATCH, DELETE) carries `X-CSRF-Token`;
//   - a 401 of an expired access token is answered by one `POST /v1/auth/refresh` (which
//     rotates both cookies) and one retry of the original request.
import createClient from "openapi-fetch";
import { API_URL } from "../config";
import { toApiError } from "./problem";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Me = Schemas["MeResponse"];
export type Video = Schemas["VideoResponse"];
export type VideoStatus = Schemas["VideoStatus"];
export type UploadInstructions = Schemas["UploadResponse"];

const CSRF_KEY = "postiqo.csrf_token";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The session's CSRF token. It is not a credential on its own (the cookies are), so it can be
 * kept in localStorage: a new tab or a reload can then still refresh an expired session. */
export const csrf = {
  get: (): string | null => localStorage.getItem(CSRF_KEY),
  set: (token: string) => localStorage.setItem(CSRF_KEY, token),
  clear: () => localStorage.removeItem(CSRF_KEY),
};

let refreshing: Promise<boolean> | null = null;
/** Listeners told when the session is gone for good (refresh refused). */
const endedListeners: Array<() => void> = [];
export function onSessionEnded(listener: () => void): void {
  endedListeners.push(listener);
}

function withCsrf(req: Request): Request {
  const token = csrf.get();
  if (!UNSAFE.has(req.method) || !token) return req;
  const headers = new Headers(req.headers);
  headers.set("X-CSRF-Token", token);
  return new Request(req, { headers });
}

async function problemCode(res: Response): Promise<string | undefined> {
  try {
    const body: unknown = await res.clone().json();
    return body && typeof body === "object" && "code" in body ? String(body.code) : undefined;
  } catch {
    return undefined;
  }
}

/** One refresh at a time, shared by every request that found the access token expired. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const res = await fetch(
        withCsrf(new Request(`${API_URL}/v1/auth/refresh`, { method: "POST", credentials: "include" })),
      );
      if (!res.ok) {
        csrf.clear();
        endedListeners.forEach((l) => l());
        return false;
      }
      // The answer is a union chosen by `kind`; a cookie refresh repeats the CSRF token.
      const body = (await res.json()) as Schemas["RefreshResponse"];
      if (body.kind === "cookie") csrf.set(body.csrf_token);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function sessionFetch(input: Request): Promise<Response> {
  const again = input.clone();
  const res = await fetch(withCsrf(input));
  if (res.status !== 401 || new URL(input.url).pathname.startsWith("/v1/auth/refresh") || !csrf.get()) {
    return res;
  }
  const code = await problemCode(res);
  // The access cookie expired (the browser dropped it: `unauthenticated`) or its JWT did.
  if (code !== "unauthenticated" && code !== "invalid_token") return res;
  if (!(await refreshSession())) return res;
  return fetch(withCsrf(again));
}

export const api = createClient<paths>({
  baseUrl: API_URL,
  credentials: "include",
  fetch: sessionFetch,
});

/** Awaits an openapi-fetch call and returns its data, or throws an ApiError with the problem. */
export async function call<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await pending;
  } catch (e) {
    throw toApiError(0, { detail: String(e) });
  }
  if (!result.response.ok) throw toApiError(result.response.status, result.error);
  return result.data as T;
}

/** After signing in (or on load), fetch the CSRF token of the current session. */
export async function loadCsrf(): Promise<void> {
  const data = await call(api.GET("/v1/auth/csrf"));
  csrf.set(data.csrf_token);
}

/** URL that starts signing in with TikTok and comes back to `returnTo` with the cookies. */
export function loginUrl(returnTo: string): string {
  const u = new URL(`${API_URL}/v1/auth/tiktok/login`);
  u.searchParams.set("return_to", returnTo);
  return u.toString();
}
