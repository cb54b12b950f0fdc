// The duration of a local video file, to enforce the creator's maximum before anything is sent
// to TikTok (TikTok's UX rule 3). The browser's own decoder first; MP4/MOV headers as a
// fallback (a file the browser cannot play may still be a valid upload).

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
