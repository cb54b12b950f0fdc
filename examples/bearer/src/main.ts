// Postiqo's bearer quick start: everything a third-party client does, in order, against a
// running API (scripts/bearer-example starts one with the TikTok sandbox and runs this).
//
//   POSTIQO_API_URL    the API's public URL (POSTIQO_PUBLIC_URL), e.g. http://localhost:8080
//   RETURN_TO          a URL on an allowed origin (POSTIQO_ALLOWED_ORIGINS), where sign-in returns
//
// The types come from the OpenAPI document (openapi-typescript, generated for the example SPA),
// and every answer is narrowed by checks, not by `!`: `error` or `data`, an upload's `kind`, a
// refresh answer's `kind`, a video's `status` and `tiktok.post_id_expected`.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import createClient from "openapi-fetch";
import type { components, paths } from "../../spa/src/api/schema.js";
import { pkce, walkSignIn } from "./signin.js";

type Video = components["schemas"]["VideoResponse"];
type Upload = components["schemas"]["UploadResponse"];

const API_URL = process.env.POSTIQO_API_URL ?? "http://localhost:8080";
const RETURN_TO = process.env.RETURN_TO ?? "http://localhost:5173/signed-in";

function step(message: string): void {
  console.log(`[bearer] ${message}`);
}

/** openapi-fetch answers `{data}` or `{error}`; a problem document becomes an exception. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.error !== undefined || result.data === undefined) {
    throw new Error(`${what}: HTTP ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

// 1. Sign in: PKCE, the browser part, then the one-time code for tokens.
const { verifier, challenge } = pkce();
const login = new URL("/v1/auth/tiktok/login", API_URL);
login.search = new URLSearchParams({ return_to: RETURN_TO, mode: "code", code_challenge: challenge }).toString();
step(`signing in: ${login}`);
const back = await walkSignIn(login.toString(), RETURN_TO);
if ("error" in back) throw new Error(`sign-in failed: ${back.error} (${back.description})`);

const api = createClient<paths>({ baseUrl: API_URL });
let tokens = ok(
  await api.POST("/v1/auth/token", {
    body: { grant_type: "authorization_code", code: back.code, code_verifier: verifier },
  }),
  "token exchange",
);
// Every request from here on carries the current access token.
api.use({
  onRequest({ request }) {
    request.headers.set("Authorization", `Bearer ${tokens.access_token}`);
    return request;
  },
});
const me = ok(await api.GET("/v1/me"), "me");
step(`signed in as @${me.username ?? me.open_id} (${me.id}); access token valid ${tokens.expires_in} s`);

// 2. Upload: create the video, send the bytes straight to S3, then confirm.
/** A real one-second H.264 MP4 made by ffmpeg (the API reads its container; TikTok checks
 * duration, frame rate and size), padded to `size` bytes with a top-level `free` box. */
function mp4(size: number): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "postiqo-bearer-"));
  const out = join(dir, "clip.mp4");
  execFileSync("ffmpeg", ["-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=black:s=640x360:r=30",
    "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", out]);
  const encoded = readFileSync(out);
  rmSync(dir, { recursive: true, force: true });
  const pad = size - encoded.length;
  if (pad < 8) throw new Error(`${size} bytes cannot hold the ${encoded.length}-byte clip`);
  const free = Buffer.alloc(pad);
  free.writeUInt32BE(pad, 0);
  free.write("free", 4, "latin1");
  return new Uint8Array(Buffer.concat([encoded, free]));
}

/** The headers a presigned request binds, minus those `fetch` sets itself from the body. */
function signedHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(([k]) => !["content-length", "host"].includes(k.toLowerCase())),
  );
}

async function putBytes(url: string, headers: Record<string, string>, body: Uint8Array): Promise<string> {
  // Without the bound headers (`x-amz-tagging` among them) S3 answers 403 SignatureDoesNotMatch.
  const res = await fetch(url, { method: "PUT", headers: signedHeaders(headers), body });
  if (!res.ok) throw new Error(`S3 refused the upload: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  return res.headers.get("etag") ?? "";
}

async function uploadVideo(title: string, size: number): Promise<Video> {
  const created = ok(
    await api.POST("/v1/videos", { body: { title, content_type: "video/mp4", size_bytes: size } }),
    "create video",
  );
  const bytes = mp4(size);
  const upload: Upload = created.upload;
  const id = created.video.id;
  // `kind` picks the shape: one PUT, or one PUT per part with its ETag kept for completion.
  if (upload.kind === "single") {
    await putBytes(upload.url, upload.headers, bytes);
    return ok(await api.POST("/v1/videos/{id}/upload-complete", { params: { path: { id } }, body: {} }), "complete");
  }
  const parts = [];
  for (const part of upload.parts) {
    const start = (part.part_number - 1) * upload.part_size;
    const etag = await putBytes(part.url, part.headers, bytes.subarray(start, start + part.size_bytes));
    parts.push({ part_number: part.part_number, etag });
  }
  step(`  ${title}: ${parts.length} parts uploaded`);
  return ok(await api.POST("/v1/videos/{id}/upload-complete", { params: { path: { id } }, body: { parts } }), "complete");
}

const small = await uploadVideo("Quick start: private clip", 1024 * 1024);
const big = await uploadVideo("Quick start: public clip #postiqo", 6 * 1024 * 1024);
step(`uploaded ${small.id} (${small.upload_kind}) and ${big.id} (${big.upload_kind}): ${small.status}, ${big.status}`);

// 3. Publish, then poll until nothing more will change.
async function publish(video: Video, privacy: string): Promise<Video> {
  // The posting screen's data, fresh each time; the privacy level must be one it offers.
  const info = ok(await api.GET("/v1/tiktok/creator-info"), "creator info");
  if (!info.privacy_level_options.includes(privacy)) throw new Error(`${privacy} is not offered`);
  const started = ok(
    await api.POST("/v1/videos/{id}/publish", {
      params: { path: { id: video.id }, header: { "Idempotency-Key": randomUUID() } },
      body: {
        privacy_level: privacy,
        disable_comment: info.comment_disabled,
        disable_duet: info.duet_disabled,
        disable_stitch: info.stitch_disabled,
        brand_content_toggle: false,
        brand_organic_toggle: false,
        is_aigc: false,
      },
    }),
    "publish",
  );
  // Poll while TikTok processes (PUBLISHING) or a post id is still to come (public posts,
  // after moderation). Private posts are done at PUBLISHED, without a post id or link.
  let v = started;
  const deadline = Date.now() + 120_000;
  while (v.status === "PUBLISHING" || v.tiktok?.post_id_expected) {
    if (Date.now() > deadline) throw new Error(`still ${v.status} after 2 minutes`);
    await new Promise((r) => setTimeout(r, 500));
    v = ok(await api.GET("/v1/videos/{id}", { params: { path: { id: video.id } } }), "video");
  }
  return v;
}

for (const [video, privacy] of [
  [small, "SELF_ONLY"],
  [big, "PUBLIC_TO_EVERYONE"],
] as const) {
  const done = await publish(video, privacy);
  if (done.status !== "PUBLISHED") {
    throw new Error(`${privacy}: ${done.status} ${done.tiktok?.failure?.code ?? ""} ${done.tiktok?.failure?.message ?? ""}`);
  }
  const link = done.tiktok?.post_url;
  if (privacy === "PUBLIC_TO_EVERYONE" && !link) throw new Error("a public post ends with its link");
  if (privacy === "SELF_ONLY" && link) throw new Error("a private post never gets a link");
  step(`published ${privacy}: ${link ?? "no link (TikTok gives none for private posts)"}`);
}

// 4. Refresh: the refresh token rotates; keep the new one before using the new access token.
const refreshed = ok(await api.POST("/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }), "refresh");
if (refreshed.kind !== "bearer") throw new Error("a bearer refresh answers tokens");
if (refreshed.refresh_token === tokens.refresh_token) throw new Error("the refresh token rotates");
tokens = refreshed;
step("tokens refreshed (rotated)");

// 5. Your data: export everything, then delete the account.
const exported = ok(await api.GET("/v1/me/export"), "export");
if (exported.videos.length !== 2) throw new Error(`export lists ${exported.videos.length} videos`);
step(`exported: ${exported.videos.length} videos, ${exported.sessions.length} session(s)`);

const deleted = await api.DELETE("/v1/me");
if (deleted.response.status !== 204) throw new Error(`delete account: HTTP ${deleted.response.status}`);
const after = await api.GET("/v1/me");
if (after.response.status !== 401) throw new Error(`after deletion: HTTP ${after.response.status}`);
step("account deleted; its tokens no longer work");
