// Signing in as a third-party (bearer) client: PKCE, the browser part, and the token exchange.
import { createHash, randomBytes } from "node:crypto";

/** A PKCE pair (RFC 7636, S256): keep the verifier, send the challenge. */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  return { verifier, challenge };
}

/** Where the sign-in came back to `return_to`: a one-time code, or TikTok's/Postiqo's error. */
export type SignInResult = { code: string } | { error: string; description: string };

/**
 * The part a real client leaves to the user's browser (or an in-app browser tab): open the login
 * URL, let the user approve on TikTok, and catch the redirect to `return_to`.
 *
 * A script does what a browser does: follow each redirect and keep the cookies (the login sets
 * a short-lived cookie that binds the OAuth state to this "browser"; without it the callback
 * answers `error=state_cookie_missing`). Against the TikTok sandbox started with
 * `SANDBOX_AUTO_APPROVE=<username>`, the consent page approves at once, so no click is needed;
 * against real TikTok a person must approve.
 */
export async function walkSignIn(loginUrl: string, returnTo: string): Promise<SignInResult> {
  const jar = new Map<string, Map<string, string>>(); // host → cookie name → value
  let url = loginUrl;
  for (let hop = 0; hop < 10; hop++) {
    if (url.startsWith(returnTo)) {
      const back = new URL(url).searchParams;
      const code = back.get("code");
      if (code) return { code };
      return { error: back.get("error") ?? "unknown", description: back.get("error_description") ?? "" };
    }
    const host = new URL(url).host;
    const cookies = [...(jar.get(host) ?? new Map<string, string>())].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(url, { redirect: "manual", headers: cookies ? { cookie: cookies } : {} });
    for (const set of res.headers.getSetCookie()) {
      const [pair = ""] = set.split(";");
      const eq = pair.indexOf("=");
      if (eq > 0) {
        const hostJar = jar.get(host) ?? new Map<string, string>();
        hostJar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
        jar.set(host, hostJar);
      }
    }
    const next = res.headers.get("location");
    if (res.status < 300 || res.status >= 400 || !next) {
      throw new Error(
        `sign-in stopped at ${url} with HTTP ${res.status} (a consent page to click? ` +
          "start the sandbox with SANDBOX_AUTO_APPROVE=<username>)",
      );
    }
    url = new URL(next, url).toString();
  }
  throw new Error("sign-in: too many redirects");
}
