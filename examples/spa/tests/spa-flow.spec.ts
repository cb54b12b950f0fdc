// The example SPA's whole flow in a real browser, against the local stack started by
// scripts/browser-test: the SPA (http://localhost:SPA) and the API (http://localhost:API) are
// different origins on one site, so CORS, SameSite cookies and CSRF are the browser's own.
import { readFileSync } from "node:fs";
import { expect, test, type Locator, type Page, type Request } from "@playwright/test";
import { API_URL, SPA_URL, STORAGE_URL, sandboxInits, sandboxUser, saveScreenshot, videoFile } from "./env";

const MIB = 1024 * 1024;
const run = Date.now().toString(36);
const username = `spa_${run}`;
const displayName = `SPA Tester ${run}`;

/** A TikTok test user of the sandbox. */
interface Tester {
  username: string;
  displayName: string;
}
const tester: Tester = { username, displayName };

/** Every request the browser itself sends to the storage server (the presigned PUTs). */
function storageRequests(page: Page): Array<{ method: string; url: string; status: number | null; etag: string | null }> {
  const seen: Array<{ method: string; url: string; status: number | null; etag: string | null }> = [];
  const storage = new URL(STORAGE_URL);
  page.on("requestfinished", async (req: Request) => {
    const u = new URL(req.url());
    if (u.host !== storage.host || req.method() === "OPTIONS") return;
    const res = await req.response();
    seen.push({ method: req.method(), url: req.url(), status: res?.status() ?? null, etag: (await res?.headerValue("etag")) ?? null });
  });
  return seen;
}

/** On the sandbox's consent page (TikTok's look-alike): pick or create the test user, approve. */
async function approveOnTikTok(page: Page, opts: { newUser?: boolean; who: Tester }) {
  await expect(page).toHaveURL(/\/v2\/auth\/authorize\//);
  await expect(page.getByRole("heading", { name: /authorize app/ })).toBeVisible();
  if (opts.newUser) {
    await page.getByRole("radio", { name: /New test user/ }).check();
    await page.getByLabel("Username").fill(opts.who.username);
    await page.getByLabel("Display name").fill(opts.who.displayName);
  } else {
    await page.getByRole("radio", { name: new RegExp(`@${opts.who.username}`) }).check();
  }
  await page.getByRole("button", { name: "Authorize" }).click();
}

async function signIn(page: Page, opts: { newUser?: boolean; who?: Tester } = {}) {
  const who = opts.who ?? tester;
  await page.goto(SPA_URL);
  await page.getByRole("link", { name: "Sign in with TikTok" }).click();
  await approveOnTikTok(page, { ...opts, who });
  await expect(page).toHaveURL(`${SPA_URL}/`);
  await expect(page.locator("#display-name")).toHaveText(who.displayName);
}

/** The media facts a list shows (`#upload-media-facts`, `#publish-media`), by `data-fact`. */
async function facts(list: Locator): Promise<Record<string, string>> {
  await expect(list).toBeVisible();
  const entries = await list
    .locator("[data-fact]")
    .evaluateAll((dds) => dds.map((d) => [d.getAttribute("data-fact") ?? "", d.textContent ?? ""]));
  return Object.fromEntries(entries);
}

async function upload(page: Page, file: string, caption: string) {
  await page.locator("#file").setInputFiles(file);
  await expect(page.locator("#file-info")).toContainText("video/mp4");
  await page.locator("#title").fill(caption);
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  await expect(page.locator("#notice")).toContainText(`“${caption}” is uploaded`);
  await expect(page.locator("#progress-bar")).toHaveAttribute("aria-valuenow", "100");
}

const row = (page: Page, caption: string) => page.getByTestId("video-row").filter({ hasText: caption });


test("the SPA's whole flow: sign in, upload to S3, publish, page, delete, export, disconnect, delete account", async ({
  page,
  context,
}) => {
  page.on("dialog", (d) => void d.accept());
  page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));
  page.on("console", (m) => m.type() === "error" && console.log(`[console] ${m.text()}`));
  const puts = storageRequests(page);
  // The bodies the page sends to POST /publish (Playwright does not see a body the page's
  // client passes to fetch as a Request).
  await page.addInitScript(() => {
    const sent: string[] = [];
    (window as unknown as { publishBodies: string[] }).publishBodies = sent;
    const original = window.fetch.bind(window);
    window.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
      if (input instanceof Request && input.method === "POST" && input.url.endsWith("/publish")) {
        sent.push(await input.clone().text());
      }
      return original(input, init);
    };
  });

  // --- Sign in with TikTok (the sandbox's consent page, clicked like a person would)
  await page.goto(SPA_URL);
  await expect(page.locator("#signed-out")).toBeVisible();
  await signIn(page, { newUser: true });
  await expect(page.locator("#username")).toHaveText(`@${username}`);
  await expect(page.locator("#tiktok-link")).toHaveText("connected");
  await expect(page.locator("#scopes")).toContainText("video.publish");

  // The session is two HttpOnly cookies on the API's origin; the page's scripts cannot see them.
  const cookies = (await context.cookies()).filter((c) => c.domain === new URL(API_URL).hostname);
  const access = cookies.find((c) => c.name === "postiqo_access");
  expect(access, "access cookie").toBeTruthy();
  expect(access!.httpOnly).toBe(true);
  expect(access!.sameSite).toBe("Lax");
  expect(cookies.find((c) => c.name === "postiqo_refresh")?.path).toBe("/v1/auth");
  expect(await page.evaluate(() => document.cookie)).not.toContain("postiqo_");

  // CSRF for real: the same cross-origin POST from the page without X-CSRF-Token is refused,
  // and the API's CORS lets the page read the problem.
  const refused = await page.evaluate(async (api) => {
    const r = await fetch(`${api}/v1/videos`, {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ title: "x", content_type: "video/mp4", size_bytes: 10 }),
    });
    return { status: r.status, body: await r.json() };
  }, API_URL);
  expect(refused.status).toBe(403);
  expect(refused.body.code).toBe("csrf_failed");

  // --- Upload straight to S3 from the browser: one PUT, then a multipart upload of 3 parts
  const uploaded = page.waitForResponse((r) => r.url().endsWith("/upload-complete") && r.request().method() === "POST");
  await upload(page, videoFile("short.mp4", 2 * MIB, 12), `Short clip ${run}`);
  await expect(row(page, `Short clip ${run}`).getByTestId("video-status")).toHaveText("UPLOADED");
  // What the API read from the ffmpeg-encoded container (12 s of 640x360 at 30 fps, H.264, no
  // audio), shown as the page received it.
  const shortMedia = (await (await uploaded).json()).media;
  expect(Math.abs(shortMedia.duration_ms - 12_000), `duration_ms ${shortMedia.duration_ms}`).toBeLessThanOrEqual(50);
  expect(shortMedia).toMatchObject({ width: 640, height: 360, frame_rate: 30, video_codec: "h264", has_audio: false });
  expect(await facts(page.locator("#upload-media-facts"))).toEqual({
    duration: "12.0 s",
    resolution: "640 × 360",
    "frame-rate": "30 fps",
    codec: "H.264",
    audio: "no",
  });
  const singlePuts = puts.filter((p) => p.method === "PUT");
  expect(singlePuts).toHaveLength(1);
  expect(singlePuts[0]!.status).toBe(200);

  await upload(page, videoFile("big.mp4", 12 * MIB, 30), `Big clip ${run}`);
  await expect(row(page, `Big clip ${run}`)).toContainText("multipart");
  await expect(row(page, `Big clip ${run}`).getByTestId("video-status")).toHaveText("UPLOADED");
  const partPuts = puts.filter((p) => p.method === "PUT").slice(1);
  expect(partPuts).toHaveLength(3);
  for (const p of partPuts) {
    expect(p.status).toBe(200);
    expect(p.url).toContain("partNumber=");
    expect(p.etag, "ETag exposed to the page by the bucket's CORS").toBeTruthy();
  }

  await upload(page, videoFile("third.mp4", 1 * MIB, 5), `Third clip ${run}`);

  // --- List with paging: 2 per page → 2 + 1, newest first
  await page.locator("#page-size").selectOption("2");
  await expect(page.getByTestId("video-row")).toHaveCount(2);
  await expect(page.getByTestId("video-row").first()).toContainText(`Third clip ${run}`);
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.locator("#page-label")).toHaveText("Page 2");
  await expect(page.getByTestId("video-row")).toHaveCount(1);
  await expect(page.getByTestId("video-row")).toContainText(`Short clip ${run}`);
  await expect(page.getByRole("button", { name: "Next" })).toBeDisabled();
  await page.getByRole("button", { name: "Previous" }).click();
  await expect(page.locator("#page-label")).toHaveText("Page 1");
  await page.locator("#page-size").selectOption("5");
  await expect(page.getByTestId("video-row")).toHaveCount(3);

  // --- An expired access cookie (the browser drops it after ~15 minutes): the SPA's next call
  // gets 401, refreshes once with the refresh cookie and X-CSRF-Token, and retries.
  const before = (await context.cookies()).find((c) => c.name === "postiqo_refresh")!.value;
  await context.clearCookies({ name: "postiqo_access" });
  const refreshed = page.waitForResponse((r) => r.url().endsWith("/v1/auth/refresh") && r.request().method() === "POST");
  await page.getByRole("button", { name: "Reload" }).click();
  expect((await refreshed).status()).toBe(200);
  await expect(page.getByTestId("video-row")).toHaveCount(3);
  const after = await context.cookies();
  expect(after.find((c) => c.name === "postiqo_access")).toBeTruthy();
  expect(after.find((c) => c.name === "postiqo_refresh")!.value, "refresh token rotated").not.toBe(before);

  // --- Delete (the SPA asks first; the dialog is accepted)
  await row(page, `Third clip ${run}`).getByRole("button", { name: "Delete" }).click();
  await expect(page.locator("#notice")).toContainText(`Deleted “Third clip ${run}”`);
  await expect(page.getByTestId("video-row")).toHaveCount(2);

  // --- Publish, following TikTok's rules for the posting screen
  {
    // This creator turned Stitch off on TikTok: the toggle must be greyed out.
    await sandboxUser(page.request, username, { stitch_disabled: true });
    await row(page, `Big clip ${run}`).getByRole("button", { name: /Post to TikTok/ }).click();
    const panel = page.locator("#publish");
    await expect(panel.locator("#creator-nickname")).toHaveText(displayName);
    // The facts of the video being posted (30 s of 640x360 at 30 fps), and no problem with it.
    expect(await facts(panel.locator("#publish-media"))).toEqual({
      duration: "30.0 s",
      resolution: "640 × 360",
      "frame-rate": "30 fps",
      codec: "H.264",
      audio: "no",
    });
    await expect(panel.locator("#publish-problems li")).toHaveCount(0);
    const privacy = panel.locator("#privacy-level");
    await expect(privacy).toHaveValue(""); // no default
    const post = panel.getByRole("button", { name: "Post", exact: true });
    await expect(post).toBeDisabled();
    await expect(panel.locator("#allow-comment")).not.toBeChecked();
    await expect(panel.locator("#allow-duet")).not.toBeChecked();
    await expect(panel.locator("#allow-stitch")).toBeDisabled();
    await expect(panel.locator("#consent")).toHaveText(/^By posting, you agree to TikTok's Music Usage Confirmation\./);

    // Commercial content: on with nothing ticked blocks publishing; branded content excludes
    // "Only me" and changes the consent line.
    await panel.locator("#disclose").check();
    await privacy.selectOption("PUBLIC_TO_EVERYONE");
    await expect(post).toBeDisabled();
    await expect(panel.locator("#publish-blockers")).toContainText("promotes yourself, a third party, or both");
    await panel.locator("#branded-content").check();
    await expect(panel.locator("#disclosure-label")).toContainText("Paid partnership");
    await expect(panel.locator("#consent")).toContainText("Branded Content Policy and Music Usage Confirmation");
    await expect(privacy.locator('option[value="SELF_ONLY"]')).toBeDisabled();
    await panel.locator("#branded-content").uncheck();
    await panel.locator("#your-brand").check();
    await expect(panel.locator("#disclosure-label")).toContainText("Promotional content");
    await expect(panel.locator("#consent")).not.toContainText("Branded Content Policy");
    await panel.locator("#allow-comment").check();
    await panel.locator("#publish-caption").fill(`Big clip ${run} #postiqo`);
    await expect(post).toBeEnabled();

    // A cover frame past the end: publish-check is asked again and says so; the button waits.
    const rechecked = page.waitForResponse((r) => r.url().includes("/publish-check?video_cover_timestamp_ms=45000"));
    await panel.locator("#cover-at").fill("45");
    expect((await rechecked).status()).toBe(200);
    const coverProblem = panel.locator('#publish-problems li[data-code="cover_timestamp_out_of_range"]');
    await expect(coverProblem).toContainText("video_cover_timestamp_ms 45000 is not inside the video");
    await expect(post).toBeDisabled();
    await panel.locator("#cover-at").fill("2.5");
    await expect(coverProblem).toHaveCount(0);
    await expect(panel.locator("#publish-problems li")).toHaveCount(0);
    await expect(post).toBeEnabled();
    const answered = page.waitForResponse((r) => r.url().endsWith("/publish") && r.request().method() === "POST");
    await post.click();
    expect((await answered).status()).toBe(202);
    const bodies = await page.evaluate(() => (window as unknown as { publishBodies: string[] }).publishBodies);
    expect(bodies.map((b) => JSON.parse(b))).toEqual([
      expect.objectContaining({ privacy_level: "PUBLIC_TO_EVERYONE", video_cover_timestamp_ms: 2500 }),
    ]);

    await expect(panel.locator("#publish-result")).toHaveAttribute("data-status", "PUBLISHED", { timeout: 60_000 });
    await expect(panel.locator("#post-link")).toHaveAttribute(
      "href",
      new RegExp(`^https://www\\.tiktok\\.com/@${username}/video/\\d{19}$`),
    );
    await expect(row(page, `Big clip ${run} #postiqo`).getByTestId("video-status")).toHaveText("PUBLISHED");
    await saveScreenshot(page, "spa-published");
  }

  // --- Schedule: a time picked in the user's time zone, sent in UTC
  let scheduledUtc = "";
  {
    await row(page, `Short clip ${run}`).getByRole("button", { name: /Post to TikTok/ }).click();
    const panel = page.locator("#publish");
    await expect(panel.locator("#schedule-tz")).toHaveText(await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone));
    await panel.locator("#privacy-level").selectOption("SELF_ONLY");
    // Ten minutes from now on the user's wall clock, as a datetime-local value.
    const local = await page.evaluate(() => {
      const d = new Date(Date.now() + 10 * 60_000);
      const p = (n: number) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    });
    scheduledUtc = await page.evaluate((l) => new Date(l).toISOString(), local);
    await panel.locator("#schedule-at").fill(local);
    await expect(panel.locator("#schedule-utc")).toContainText(scheduledUtc);
    const schedule = panel.getByRole("button", { name: "Schedule", exact: true });
    const answered = page.waitForResponse((r) => r.url().endsWith("/publish") && r.request().method() === "POST");
    await schedule.click();
    // The API echoes the UTC instant it was sent.
    const scheduledVideo = await (await answered).json();
    expect(scheduledVideo.status).toBe("SCHEDULED");
    expect(new Date(scheduledVideo.scheduled_at).toISOString()).toBe(scheduledUtc);
    expect(scheduledVideo.tiktok.privacy_level).toBe("SELF_ONLY");
    await expect(panel.locator("#publish-result")).toHaveAttribute("data-status", "SCHEDULED");
    const scheduledRow = row(page, `Short clip ${run}`);
    await expect(scheduledRow.getByTestId("video-status")).toHaveText("SCHEDULED");
    await expect(scheduledRow.getByTestId("scheduled-at")).toContainText(
      await page.evaluate((u) => new Date(u).toLocaleString(), scheduledUtc),
    );
  }

  // --- Export my data (it lists the schedule)
  {
    await page.getByRole("button", { name: "Export my data" }).click();
    await expect(page.locator("#export-result")).toContainText("Your data is ready (2 videos)");
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#export-link").click()]);
    const exported = JSON.parse(readFileSync((await download.path())!, "utf8"));
    expect(exported.profile.username).toBe(username);
    const scheduled = exported.videos.find((v: { status: string }) => v.status === "SCHEDULED");
    expect(new Date(scheduled.scheduled_at).toISOString()).toBe(scheduledUtc);
    expect(exported.videos.map((v: { title: string }) => v.title).sort()).toEqual(
      [expect.stringContaining(`Big clip ${run}`), `Short clip ${run}`],
    );
    expect(JSON.stringify(exported)).not.toMatch(/act\.|rft\./); // no TikTok tokens
  }

  // --- Cancel the schedule, then send the video to TikTok as a draft instead
  {
    await row(page, `Short clip ${run}`).getByRole("button", { name: "Cancel schedule" }).click();
    await expect(row(page, `Short clip ${run}`).getByTestId("video-status")).toHaveText("UPLOADED");
    await row(page, `Short clip ${run}`).getByRole("button", { name: /Post to TikTok/ }).click();
    const panel = page.locator("#publish");
    await panel.locator("#send-as-draft").check();
    // A draft takes none of the posting choices: the creator makes them in the TikTok app.
    await expect(panel.locator("#privacy-level")).toHaveCount(0);
    const send = panel.getByRole("button", { name: "Send to TikTok inbox", exact: true });
    await expect(send).toBeEnabled();
    const answered = page.waitForResponse((r) => r.url().endsWith("/publish") && r.request().method() === "POST");
    await send.click();
    const drafted = await (await answered).json();
    expect(drafted.tiktok.mode).toBe("draft");
    expect(drafted.tiktok.privacy_level).toBe("");
    await expect(panel.locator("#publish-result")).toHaveAttribute("data-status", "SENT_TO_INBOX", { timeout: 60_000 });
    await expect(row(page, `Short clip ${run}`).getByTestId("video-status")).toHaveText("SENT_TO_INBOX");
  }

  // --- Sign out ends the session; signing in again (existing test user) starts a new one
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.locator("#notice")).toHaveText("Signed out.");
  await expect(page.locator("#signed-out")).toBeVisible();
  await page.reload();
  await expect(page.locator("#signed-out")).toBeVisible();
  await signIn(page);
  await expect(page.getByTestId("video-row")).toHaveCount(2);

  // --- Disconnect TikTok, then sign in again and delete the account
  {
    await page.getByRole("button", { name: "Disconnect TikTok" }).click();
    await expect(page.locator("#notice")).toContainText("TikTok is disconnected");
    await expect(page.locator("#signed-out")).toBeVisible();
    await signIn(page);
    await expect(page.locator("#tiktok-link")).toHaveText("connected");
  }

  {
    await page.getByRole("button", { name: "Delete account" }).click();
    await expect(page.locator("#notice")).toContainText("account and all its videos were deleted");
    await expect(page.locator("#signed-out")).toBeVisible();
    const me = await page.evaluate(async (api) => (await fetch(`${api}/v1/me`, { credentials: "include" })).status, API_URL);
    expect(me).toBe(401);
    // Signing in with the same TikTok account again starts a new, empty account.
    await signIn(page);
    await expect(page.getByTestId("video-row")).toHaveCount(0);
    await expect(page.locator("#video-rows")).toContainText("No videos yet.");
  }

  await saveScreenshot(page, "spa-final");
});

test("publish-check's problems on the posting screen: a 120 fps 240p clip cannot be posted or drafted", async ({ page }) => {
  page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));
  const who: Tester = { username: `spa_bad_${run}`, displayName: `SPA Bad Clip ${run}` };
  const publishes: string[] = [];
  page.on("request", (r) => r.method() === "POST" && r.url().endsWith("/publish") && publishes.push(r.url()));
  await signIn(page, { newUser: true, who });

  // 2 s at 426x240 and 120 fps, encoded now: both outside TikTok's limits (360-4096 px on each
  // side, 23-60 fps). Upload takes it (it is a video); the facts say what it is.
  const caption = `Fast small ${run}`;
  await upload(page, videoFile("fast-240p.mp4", 256 * 1024, 2, { width: 426, height: 240, fps: 120 }), caption);
  const shown = { duration: "2.0 s", resolution: "426 × 240", "frame-rate": "120 fps", codec: "H.264", audio: "no" };
  expect(await facts(page.locator("#upload-media-facts"))).toEqual(shown);

  await row(page, caption).getByRole("button", { name: /Post to TikTok/ }).click();
  const panel = page.locator("#publish");
  await expect(panel.locator("#creator-nickname")).toHaveText(who.displayName);
  expect(await facts(panel.locator("#publish-media"))).toEqual(shown);
  // Every problem at once, each with its limit, and the Post button off even with every
  // choice of the screen made.
  const problems = panel.locator("#publish-problems li");
  await expect(problems).toHaveCount(2);
  await expect(panel.locator('li[data-code="frame_rate_unsupported"]')).toHaveText(
    "TikTok takes 23 to 60 frames per second. The video has 120 frames per second; TikTok takes 23-60.",
  );
  await expect(panel.locator('li[data-code="resolution_unsupported"]')).toHaveText(
    "TikTok takes 360 to 4096 pixels on each side. The video is 426x240 px; TikTok takes 360-4096 px on each side.",
  );
  await panel.locator("#privacy-level").selectOption("SELF_ONLY");
  await expect(panel.locator("#publish-blockers")).toHaveCount(0);
  const post = panel.getByRole("button", { name: "Post", exact: true });
  await expect(post).toBeDisabled();
  // A draft is held to the same limits: still listed, still disabled.
  await panel.locator("#send-as-draft").check();
  await expect(problems).toHaveCount(2);
  await expect(panel.getByRole("button", { name: "Send to TikTok inbox", exact: true })).toBeDisabled();
  await saveScreenshot(page, "spa-publish-problems");
  expect(publishes, "the page sent no publish").toEqual([]);

  // The API refuses it too, draft or not, before TikTok: the same codes, and nothing changed.
  const me = await page.evaluate(async (api) => (await fetch(`${api}/v1/me`, { credentials: "include" })).json(), API_URL);
  const video = await page.evaluate(
    async ({ api, caption }) => {
      const list = await (await fetch(`${api}/v1/videos`, { credentials: "include" })).json();
      return list.items.find((v: { title: string }) => v.title === caption);
    },
    { api: API_URL, caption },
  );
  for (const body of [{ mode: "draft" }, { privacy_level: "SELF_ONLY" }]) {
    const refused = await page.evaluate(
      async ({ api, id, body }) => {
        const r = await fetch(`${api}/v1/videos/${id}/publish`, {
          method: "POST",
          credentials: "include",
          headers: {
            "Content-Type": "application/json",
            "X-CSRF-Token": localStorage.getItem("postiqo.csrf_token") ?? "",
            "Idempotency-Key": crypto.randomUUID(),
          },
          body: JSON.stringify(body),
        });
        return { status: r.status, code: (await r.json()).code };
      },
      { api: API_URL, id: video.id, body },
    );
    expect(refused, JSON.stringify(body)).toEqual({ status: 422, code: "frame_rate_unsupported" });
  }
  const after = await page.evaluate(
    async ({ api, id }) => (await fetch(`${api}/v1/videos/${id}`, { credentials: "include" })).json(),
    { api: API_URL, id: video.id },
  );
  expect(after.status).toBe("UPLOADED");
  expect(after.tiktok ?? null).toBeNull();
  expect(await sandboxInits(page.request, me.open_id)).toBe(0);
});
