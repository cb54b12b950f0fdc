import type { components } from "./schema";

export type Problem = components["schemas"]["ProblemDetails"];

/** An API call that did not succeed, carrying the RFC 9457 problem the API sent. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${problem.title}${problem.detail ? `: ${problem.detail}` : ""} (${problem.code}, HTTP ${status})`);
    this.name = "ApiError";
  }

  get code(): string {
    return this.problem.code;
  }
}

/** Builds an ApiError from any failed response; a body that is not a problem (a proxy's HTML
 * page, a network error) still yields a usable one. */
export function toApiError(status: number, body: unknown): ApiError {
  if (body && typeof body === "object" && "code" in body && "title" in body) {
    return new ApiError(status, body as Problem);
  }
  return new ApiError(status, {
    type: "about:blank",
    code: status === 0 ? "network_error" : "http_error",
    title: status === 0 ? "The API could not be reached" : `HTTP ${status}`,
    status,
  });
}

/** What to tell the user, by the problem's stable `code`. Codes not listed fall back to the
 * problem's own title. */
const MESSAGES: Record<string, string> = {
  unauthenticated: "Please sign in.",
  invalid_token: "Your session expired. Please sign in again.",
  session_ended: "Your session has ended. Please sign in again.",
  csrf_failed: "The request was refused as a possible cross-site request. Reload the page and try again.",
  tiktok_not_connected: "TikTok is not connected to Postiqo. Sign in with TikTok again.",
  tiktok_reauth_required: "TikTok needs you to sign in again before Postiqo can post for you.",
  tiktok_unavailable: "TikTok did not answer. Try again in a moment.",
  storage_unavailable: "Postiqo is briefly unavailable. Try again in a moment.",
  upload_missing: "The file has not reached storage yet. Upload it again.",
  upload_mismatch: "The uploaded file does not match what was declared. Upload it again.",
  upload_not_a_video: "That file is not a video of the declared type.",
  upload_parts_invalid: "Some parts of the upload did not arrive correctly. Upload it again.",
  invalid_state: "The video is not in a state that allows this.",
  concurrent_update: "The video changed meanwhile. Reload and try again.",
  video_not_found: "That video no longer exists.",
  validation_failed: "Some fields are invalid.",
  tiktok_scope_missing: "You did not allow Postiqo to post to TikTok. Sign in with TikTok again and allow posting.",
  tiktok_cannot_post_now: "TikTok says this account cannot post right now. Please try again later.",
  privacy_level_not_allowed: "That privacy setting is no longer available for this account. Choose again.",
  branded_content_private: "Branded content cannot be private: choose another privacy setting.",
  idempotency_in_progress: "This post is still being sent. Wait a moment.",
  idempotency_key_reused: "This post was already sent with other settings. Close the form and start again.",
  rate_limited: "Too many requests to TikTok. Wait a minute and try again.",
  refresh_token_reused: "Your session was ended for safety. Please sign in again.",
  invalid_refresh_token: "Your session expired. Please sign in again.",
};

/** Codes whose `detail` the user needs: it names the limit the video is outside of. */
const WITH_DETAIL = new Set([
  "video_too_long",
  "frame_rate_unsupported",
  "resolution_unsupported",
  "codec_unsupported",
  "cover_timestamp_out_of_range",
]);

export function userMessage(err: unknown): string {
  if (err instanceof ApiError) {
    const title = MESSAGES[err.code] ?? err.problem.title;
    const base = WITH_DETAIL.has(err.code) && err.problem.detail ? `${title}: ${err.problem.detail}` : title;
    const fields = err.problem.errors?.map((e) => `${e.field}: ${e.message}`).join("; ");
    const id = err.problem.request_id ? ` (request ${err.problem.request_id})` : "";
    return `${base}${fields ? ` ${fields}` : ""}${id}`;
  }
  return err instanceof Error ? err.message : String(err);
}
