// Swagger UI, served by the API, used the way a third-party developer would: get a bearer
// token with the code flow (PKCE), paste it into "Authorize", and "Try it out" on GET /v1/me.
import { createHash, randomBytes } from "node:crypto";
import { expect, test, type APIRequestContext } from "@playwright/test";
import { API_URL, SPA_URL, saveScreenshot } from "./env";

const username = `swagger_${Date.now().toString(36)}`;

function location(res: { status(): number; headers(): Record<string, string> }, what: string): string {
  expect(res.status(), what).toBe(302);
  const to = res.headers()["location"];
  expect(to, `${what}: Location`).toBeTruthy();
  return to!;
}

/** The bearer path for third-party clients: `mode=code` with a PKCE challenge, TikTok's
 * consent (the sandbox's test-approval flag stands in for the click), then
 * `POST /v1/auth/token` with the one-time code and the verifier. */
async function bearerToken(request: APIRequestContext): Promise<string> {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const login = new URL(`${API_URL}/v1/auth/tiktok/login`);
  login.searchParams.set("return_to", `${SPA_URL}/oauth/done`);
  login.searchParams.set("mode", "code");
  login.searchParams.set("code_challenge", challenge);

  const authorize = new URL(location(await request.get(login.toString(), { maxRedirects: 0 }), "login"));
  authorize.searchParams.set("sandbox_auto", "approve");
  authorize.searchParams.set("sandbox_user", username);
  const callback = location(await request.get(authorize.toString(), { maxRedirects: 0 }), "TikTok consent");
  // The callback needs the browser-binding cookie that the login set (the request context
  // keeps cookies like a browser).
  const back = new URL(location(await request.get(callback, { maxRedirects: 0 }), "callback"));
  expect(back.origin + back.pathname).toBe(`${SPA_URL}/oauth/done`);
  const code = back.searchParams.get("code");
  expect(code, "one-time code").toBeTruthy();

  const res = await request.post(`${API_URL}/v1/auth/token`, {
    data: { grant_type: "authorization_code", code, code_verifier: verifier },
  });
  expect(res.status()).toBe(200);
  const tokens = await res.json();
  expect(tokens.token_type).toBe("Bearer");
  return tokens.access_token as string;
}

test("Swagger UI: authorize with a bearer token and try GET /v1/me", async ({ page, request }) => {
  const token = await bearerToken(request);

  await page.goto(`${API_URL}/swagger-ui/`);
  await expect(page.getByRole("heading", { name: /Postiqo API/ })).toBeVisible();

  // Authorize → bearer_auth → paste the token.
  await page.locator(".auth-wrapper button.authorize").click();
  const dialog = page.locator(".modal-ux");
  await expect(dialog).toBeVisible();
  const bearer = dialog.locator("form").filter({ hasText: "bearer_auth" });
  await bearer.locator("input").fill(token);
  await bearer.getByRole("button", { name: "Apply credentials" }).click();
  await expect(bearer).toContainText("Authorized");
  await bearer.getByRole("button", { name: "Close" }).click();
  await expect(dialog).toBeHidden();

  // GET /v1/me → Try it out → Execute.
  const op = page.locator(".opblock.opblock-get").filter({
    has: page.locator('.opblock-summary-path[data-path="/v1/me"]'),
  });
  await op.locator(".opblock-summary").click();
  await op.getByRole("button", { name: "Try it out" }).click();
  await op.getByRole("button", { name: "Execute" }).click();

  const live = op.locator(".live-responses-table");
  await expect(live.locator("tr.response .response-col_status")).toHaveText("200");
  await expect(live.locator("tr.response .response-col_description")).toContainText(`"username": "${username}"`);
  // The request Swagger UI shows carries the bearer token, not a cookie.
  await expect(op.locator(".curl-command")).toContainText(`Authorization: Bearer ${token}`);

  await saveScreenshot(page, "swagger-ui-full");
  await op.locator(".responses-inner h4").first().evaluate((el) => el.scrollIntoView({ block: "start" }));
  await saveScreenshot(page, "swagger-ui-me", { fullPage: false });
});
