// What the page knows about a video's media. The facts the API read from the container at
// upload-complete (`media`), worded for people; and the duration of a local file, to enforce
// the creator's maximum when the API has no facts (TikTok's UX rule 3): the browser's own
// decoder first, MP4/MOV headers as a fallback (a file the browser cannot play may still be a
// valid upload).
import type { components } from "./api/schema";

/** What upload-complete read from the container. */
export type VideoMedia = components["schemas"]["VideoMedia"];

const CODEC_NAMES: Record<string, string> = { h264: "H.264", h265: "H.265", vp8: "VP8", vp9: "VP9", av1: "AV1" };

/** The facts the posting screen shows, in order, as label and text. */
export interface MediaFact {
  key: "duration" | "resolution" | "frame-rate" | "codec" | "audio";
  label: string;
  text: string;
}

export function mediaFacts(m: VideoMedia): MediaFact[] {
  return [
    { key: "duration", label: "Duration", text: `${(m.duration_ms / 1000).toFixed(1)} s` },
    { key: "resolution", label: "Resolution", text: `${m.width} × ${m.height}` },
    {
      key: "frame-rate",
      label: "Frame rate",
      // Thousandths at most (29.97), no trailing zeros (30).
      text: m.frame_rate === null || m.frame_rate === undefined ? "variable" : `${Number(m.frame_rate.toFixed(3))} fps`,
    },
    { key: "codec", label: "Codec", text: CODEC_NAMES[m.video_codec] ?? m.video_codec },
    { key: "audio", label: "Audio", text: m.has_audio ? "yes" : "no" },
  ];
}

function viaVideoElement(file: Blob, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const video = document.createElement("video");
    const url = URL.createObjectURL(file);
    const finish = (v: number | null) => {
      clearTimeout(timer);
      URL.revokeObjectURL(url);
      resolve(v);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    video.preload = "metadata";
    video.onloadedmetadata = () => finish(Number.isFinite(video.duration) ? video.duration : null);
    video.onerror = () => finish(null);
    video.src = url;
  });
}

/** Reads `mvhd` in a `moov` box among the first 8 MiB of an ISO base media file. */
export async function mp4DurationSecs(file: Blob): Promise<number | null> {
  const buf = new DataView(await file.slice(0, 8 * 1024 * 1024).arrayBuffer());
  const type = (at: number) =>
    String.fromCharCode(buf.getUint8(at), buf.getUint8(at + 1), buf.getUint8(at + 2), buf.getUint8(at + 3));
  const find = (from: number, to: number, want: string): [number, number] | null => {
    let at = from;
    while (at + 8 <= to) {
      let size = buf.getUint32(at);
      let header = 8;
      if (size === 1 && at + 16 <= to) {
        size = Number(buf.getBigUint64(at + 8));
        header = 16;
      } else if (size === 0) {
        size = to - at;
      }
      if (size < header) return null;
      if (type(at + 4) === want) return [at + header, Math.min(at + size, to)];
      at += size;
    }
    return null;
  };
  try {
    const moov = find(0, buf.byteLength, "moov");
    if (!moov) return null;
    const mvhd = find(moov[0], moov[1], "mvhd");
    if (!mvhd) return null;
    const [p] = mvhd;
    const version = buf.getUint8(p);
    const timescale = version === 1 ? buf.getUint32(p + 20) : buf.getUint32(p + 12);
    const duration = version === 1 ? Number(buf.getBigUint64(p + 24)) : buf.getUint32(p + 16);
    return timescale > 0 ? duration / timescale : null;
  } catch {
    return null;
  }
}

export async function videoDurationSecs(file: File): Promise<number | null> {
  const fromBrowser = await viaVideoElement(file, 3000);
  if (fromBrowser !== null) return fromBrowser;
  if (file.type === "video/mp4" || file.type === "video/quicktime") return mp4DurationSecs(file);
  return null;
}
