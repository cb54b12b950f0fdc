// Sends a file straight from the browser to S3 with the presigned request(s) the API gave:
// one PUT for small files, one PUT per part for multipart uploads (the bucket's CORS exposes
// ETag so the browser can read each part's). XMLHttpRequest, because fetch has no upload
// progress events.
import type { UploadInstructions } from "./api/client";

export interface UploadedPart {
  part_number: number;
  etag: string;
}

export type Progress = (sentBytes: number, totalBytes: number) => void;

/** Headers the browser sets itself and refuses to let scripts set. */
const FORBIDDEN = new Set(["content-length", "host", "connection", "expect"]);

function put(
  url: string,
  headers: Record<string, string>,
  body: Blob,
  onProgress: (loaded: number) => void,
  signal?: AbortSignal,
): Promise<{ etag: string | null }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers)) {
      if (!FORBIDDEN.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(body.size);
        resolve({ etag: xhr.getResponseHeader("ETag") });
      } else {
        reject(new Error(`storage refused the upload: HTTP ${xhr.status} ${xhr.responseText.slice(0, 200)}`));
      }
    };
    xhr.onerror = () => reject(new Error("the upload to storage failed (network or CORS)"));
    xhr.onabort = () => reject(new DOMException("upload cancelled", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

/** Uploads `file` as instructed. Returns the parts to send to `upload-complete` (multipart) or
 * `null` (single). */
export async function uploadToStorage(
  file: Blob,
  upload: UploadInstructions,
  onProgress: Progress,
  opts: { concurrency?: number; signal?: AbortSignal } = {},
): Promise<UploadedPart[] | null> {
  const total = file.size;
  // `kind` narrows the union: a single upload has its url and headers, a multipart one its parts.
  if (upload.kind === "single") {
    await put(upload.url, upload.headers, file, (loaded) => onProgress(loaded, total), opts.signal);
    return null;
  }

  const queue = [...upload.parts];
  const partSize = upload.part_size;
  const loaded = new Map<number, number>();
  const report = () => onProgress([...loaded.values()].reduce((a, b) => a + b, 0), total);
  const done: UploadedPart[] = [];

  async function worker(): Promise<void> {
    for (let part = queue.shift(); part; part = queue.shift()) {
      const start = (part.part_number - 1) * partSize;
      const blob = file.slice(start, start + part.size_bytes);
      if (blob.size !== part.size_bytes) {
        throw new Error(`part ${part.part_number} should have ${part.size_bytes} bytes, the file gives ${blob.size}`);
      }
      const { etag } = await put(
        part.url,
        part.headers,
        blob,
        (n) => {
          loaded.set(part.part_number, n);
          report();
        },
        opts.signal,
      );
      if (!etag) throw new Error("storage did not expose the part's ETag (the bucket's CORS must expose ETag)");
      done.push({ part_number: part.part_number, etag });
    }
  }

  const workers = Array.from({ length: Math.min(opts.concurrency ?? 3, queue.length) }, worker);
  await Promise.all(workers);
  return done.sort((a, b) => a.part_number - b.part_number);
}
