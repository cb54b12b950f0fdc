// Where scripts/browser-test started the stack, and small helpers shared by the tests.
import { mkdirSync, writeFileSync } from "node:fs";
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

/** Bytes that are an MP4 file as far as the API and the sandbox look: `ftyp`, a `moov` with the
 * duration in `mvhd`, and an `mdat` padded to `size` bytes in all. */
export function mp4Bytes(size: number, durationSecs: number): Buffer {
  const ftyp = Buffer.concat([u32(20), Buffer.from("ftypisom"), u32(0x200), Buffer.from("isom")]);
  const mvhdBody = Buffer.concat([Buffer.alloc(12), u32(1000), u32(durationSecs * 1000), Buffer.alloc(80)]);
  const mvhd = Buffer.concat([u32(8 + mvhdBody.length), Buffer.from("mvhd"), mvhdBody]);
  const moov = Buffer.concat([u32(8 + mvhd.length), Buffer.from("moov"), mvhd]);
  const head = Buffer.concat([ftyp, moov]);
  const mdatLen = size - head.length;
  if (mdatLen < 8) throw new Error("size too small");
  const mdat = Buffer.alloc(mdatLen);
  mdat.writeUInt32BE(mdatLen, 0);
  mdat.write("mdat", 4, "latin1");
  for (let i = 8; i < mdatLen; i += 4096) mdat[i] = i % 251; // not all zeros
  return Buffer.concat([head, mdat]);
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Writes a fixture video to a temporary file, for the page's file input. */
export function videoFile(name: string, size: number, durationSecs: number): string {
  const dir = join(tmpdir(), "postiqo-browser-test");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, mp4Bytes(size, durationSecs));
  return path;
}

/** The sandbox's admin API: change a test user's TikTok settings. */
export async function sandboxUser(request: APIRequestContext, username: string, patch: Record<string, unknown>) {
  const res = await request.patch(`${SANDBOX_URL}/_sandbox/users/${encodeURIComponent(username)}`, { data: patch });
  if (!res.ok()) throw new Error(`sandbox PATCH user ${username}: ${res.status()} ${await res.text()}`);
  return res.json();
}
