/** The API's public base URL, as the browser reaches it. Must be on the same site as this page
 * (the session cookies are SameSite=Lax): `http://localhost:8080` with the SPA on
 * `http://localhost:5173`, not `127.0.0.1`. Set `VITE_POSTIQO_API_URL` at build time. */
export const API_URL: string = (import.meta.env.VITE_POSTIQO_API_URL ?? "http://localhost:8080").replace(/\/+$/, "");

/** Where TikTok's sign-in sends the browser back to: this page. */
export function returnTo(): string {
  return `${window.location.origin}/`;
}
