import { describe, expect, it } from "vitest";
import { mediaFacts, mp4DurationSecs } from "./media";

function box(type: string, ...body: Uint8Array<ArrayBuffer>[]): Uint8Array<ArrayBuffer> {
  const len = 8 + body.reduce((n, b) => n + b.length, 0);
  const out = new Uint8Array(len);
  new DataView(out.buffer).setUint32(0, len);
  out.set(new TextEncoder().encode(type), 4);
  let at = 8;
  for (const b of body) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

function mvhd(version: 0 | 1, timescale: number, duration: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(version === 1 ? 108 : 96);
  const v = new DataView(b.buffer);
  v.setUint8(0, version);
  if (version === 1) {
    v.setUint32(20, timescale);
    v.setBigUint64(24, BigInt(duration));
  } else {
    v.setUint32(12, timescale);
    v.setUint32(16, duration);
  }
  return box("mvhd", b);
}

describe("mp4DurationSecs", () => {
  it("reads mvhd (v0 and v1) inside moov after ftyp", async () => {
    const ftyp = box("ftyp", new TextEncoder().encode("isom\0\0\x02\0isom"));
    expect(await mp4DurationSecs(new Blob([ftyp, box("moov", mvhd(0, 1000, 12_500)), box("mdat")]))).toBe(12.5);
    expect(await mp4DurationSecs(new Blob([ftyp, box("free"), box("moov", mvhd(1, 600, 36_000))]))).toBe(60);
  });

  it("answers null when there is no moov in reach or the bytes are not MP4", async () => {
    expect(await mp4DurationSecs(new Blob([box("ftyp"), box("mdat", new Uint8Array(64))]))).toBeNull();
    expect(await mp4DurationSecs(new Blob([new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 1, 2, 3])]))).toBeNull();
  });
});

describe("mediaFacts", () => {
  const text = (m: Parameters<typeof mediaFacts>[0]) => Object.fromEntries(mediaFacts(m).map((f) => [f.key, f.text]));

  it("words what the container said", () => {
    expect(
      text({ duration_ms: 12_033, width: 640, height: 360, frame_rate: 30, video_codec: "h264", has_audio: false }),
    ).toEqual({ duration: "12.0 s", resolution: "640 × 360", "frame-rate": "30 fps", codec: "H.264", audio: "no" });
    expect(
      text({ duration_ms: 61_950, width: 1080, height: 1920, frame_rate: 29.97, video_codec: "vp9", has_audio: true }),
    ).toEqual({ duration: "62.0 s", resolution: "1080 × 1920", "frame-rate": "29.97 fps", codec: "VP9", audio: "yes" });
  });

  it("says when there is no constant frame rate and keeps unknown codec names", () => {
    const t = text({ duration_ms: 500, width: 400, height: 400, frame_rate: null, video_codec: "mpeg4", has_audio: false });
    expect(t["frame-rate"]).toBe("variable");
    expect(t.codec).toBe("mpeg4");
  });
});
