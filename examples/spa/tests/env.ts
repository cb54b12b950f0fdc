// Where scripts/browser-test started the stack, and small helpers shared by the tests.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { APIRequestContext, Page } from "@playwright/test";

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through scripts/browser-test`);
  return v.replace(/\/+$/, "");
}

export const SPA_URL = need("SPA_URL");
export const API_URL = need("API_URL");
export const SANDBOX_URL = need("SANDBOX_URL");
export const STORAGE_URL = need("STORAGE_URL");
export const ARTIFACTS_DIR = process.env.ARTIFACTS_DIR ?? join(process.cwd(), "artifacts");

/** Saves a screenshot as a test artifact (examples/spa/artifacts/NAME.png): the whole page, or
 * only what is in view. */
export async function saveScreenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: opts.fullPage ?? true });
  return path;
}

/** How a test clip is encoded: picture size and frames per second. */
export interface ClipShape {
  width: number;
  height: number;
  fps: number;
}
/** An ordinary clip, inside every TikTok limit. */
export const SD_30FPS: ClipShape = { width: 640, height: 360, fps: 30 };

/** A real H.264 MP4 (no audio) of `durationSecs` made by ffmpeg (the API reads its container;
 * the sandbox checks duration, frame rate and size), padded to `size` bytes with a top-level
 * `free` box. A black picture at ultrafast encodes in well under a second. */
export function mp4Bytes(size: number, durationSecs: number, shape: ClipShape = SD_30FPS): Buffer {
  const dir = mkdtempSync(join(tmpdir(), "postiqo-clip-"));
  const out = join(dir, "clip.mp4");
  const source = `color=c=black:s=${shape.width}x${shape.height}:r=${shape.fps}`;
  execFileSync("ffmpeg", ["-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
    "-t", String(durationSecs), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
    "-movflags", "+faststart", out]);
  const encoded = readFileSync(out);
  rmSync(dir, { recursive: true, force: true });
  const pad = size - encoded.length;
  if (pad < 8) throw new Error(`${size} bytes cannot hold the ${encoded.length}-byte clip`);
  const free = Buffer.alloc(pad);
  free.writeUInt32BE(pad, 0);
  free.write("free", 4, "latin1");
  return Buffer.concat([encoded, free]);
}

/** Writes a fixture video to a temporary file, for the page's file input. */
export function videoFile(name: string, size: number, durationSecs: number, shape: ClipShape = SD_30FPS): string {
  const dir = join(tmpdir(), "postiqo-browser-test");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, mp4Bytes(size, durationSecs, shape));
  return path;
}

/** The sandbox's admin API: change a test user's TikTok settings. */
export async function sandboxUser(request: APIRequestContext, username: string, patch: Record<string, unknown>) {
  const res = await request.patch(`${SANDBOX_URL}/_sandbox/users/${encodeURIComponent(username)}`, { data: patch });
  if (!res.ok()) throw new Error(`sandbox PATCH user ${username}: ${res.status()} ${await res.text()}`);
  return res.json();
}

/** How many publishes (Direct Post and inbox) the sandbox accepted for a TikTok user. */
export async function sandboxInits(request: APIRequestContext, openId: string): Promise<number> {
  const res = await request.get(`${SANDBOX_URL}/_sandbox/stats`);
  if (!res.ok()) throw new Error(`sandbox GET stats: ${res.status()} ${await res.text()}`);
  const stats = await res.json();
  return Number(stats.inits_by_open_id?.[openId] ?? 0);
}
