// TikTok's rules for the posting screen (shared/docs/tiktok-api.md §7), as pure functions of
// the creator info and what the user chose, so the page only renders what these decide.
import type { components } from "./api/schema";

/** What `GET /v1/tiktok/creator-info` tells about the account (fetched fresh for each post). */
export type CreatorInfo = components["schemas"]["CreatorInfoResponse"];

/** The body of `POST /v1/videos/{id}/publish`. */
export type PublishRequest = components["schemas"]["PublishRequest"];

/** `GET /v1/videos/{id}/publish-check`: fresh creator info, the video's facts, and every
 * reason TikTok would refuse the video. */
export type PublishCheck = components["schemas"]["PublishCheckResponse"];
export type PublishProblem = components["schemas"]["PublishProblem"];

/** The user's choices. Nothing is pre-selected: no privacy level, no interaction allowed, no
 * disclosure (rules 5-7). */
export interface PublishChoices {
  privacyLevel: string | null;
  allowComment: boolean;
  allowDuet: boolean;
  allowStitch: boolean;
  /** "Disclose video content" (commercial content). */
  disclose: boolean;
  /** "Your brand" → brand_organic_toggle, label "Promotional content". */
  yourBrand: boolean;
  /** "Branded content" → brand_content_toggle, label "Paid partnership". */
  brandedContent: boolean;
  isAigc: boolean;
}

export const emptyChoices = (): PublishChoices => ({
  privacyLevel: null,
  allowComment: false,
  allowDuet: false,
  allowStitch: false,
  disclose: false,
  yourBrand: false,
  brandedContent: false,
  isAigc: false,
});

const PRIVACY_LABELS: Record<string, string> = {
  PUBLIC_TO_EVERYONE: "Everyone",
  MUTUAL_FOLLOW_FRIENDS: "Friends",
  FOLLOWER_OF_CREATOR: "Followers",
  SELF_ONLY: "Only me",
};
export const privacyLabel = (level: string): string => PRIVACY_LABELS[level] ?? level;

export const MUSIC_USAGE_URL = "https://www.tiktok.com/legal/page/global/music-usage-confirmation/en";
export const BRANDED_CONTENT_URL = "https://www.tiktok.com/legal/page/global/bc-policy/en";

export interface PublishView {
  /** Options of the privacy dropdown, in TikTok's order; disabled ones carry a reason. */
  privacyOptions: Array<{ value: string; label: string; disabledReason: string | null }>;
  /** Toggles greyed out because the creator turned them off on TikTok. */
  commentDisabled: boolean;
  duetDisabled: boolean;
  stitchDisabled: boolean;
  /** Branded content cannot be private (rule 8). */
  brandedContentDisabledReason: string | null;
  /** "Promotional content" / "Paid partnership" label the post will carry, if any. */
  disclosureLabel: string | null;
  /** The consent line shown right above the publish button (rule 9): text and links. */
  consent: Array<string | { label: string; href: string }>;
  /** Why publishing is not possible now; empty = the button is enabled. */
  blockers: string[];
  /** The request body, when there is no blocker. */
  request: PublishRequest | null;
}

/** Rule 2: when TikTok says the creator cannot post now, the API answers creator-info with
 * 403 `tiktok_cannot_post_now`; the screen then stops and says to try later. */
export const CANNOT_POST_NOW =
  "TikTok says this account cannot post right now (for example, it reached today's limit of posts). Please try again later.";

export function publishView(
  info: CreatorInfo,
  choices: PublishChoices,
  video: { durationSecs: number | null; title: string },
): PublishView {
  const branded = choices.disclose && choices.brandedContent;
  const yourBrand = choices.disclose && choices.yourBrand;

  const privacyOptions = info.privacy_level_options.map((value) => ({
    value,
    label: privacyLabel(value),
    disabledReason: value === "SELF_ONLY" && branded ? "Branded content visibility cannot be set to private." : null,
  }));

  const blockers: string[] = [];
  const max = info.max_video_post_duration_sec;
  if (max && video.durationSecs !== null && video.durationSecs > max) {
    blockers.push(
      `This video is ${Math.ceil(video.durationSecs)} s long; this account can post videos of at most ${max} s.`,
    );
  }
  if (!choices.privacyLevel) blockers.push("Choose who can view this video.");
  else if (!info.privacy_level_options.includes(choices.privacyLevel)) {
    blockers.push("That privacy setting is not available for this account; choose again.");
  } else if (choices.privacyLevel === "SELF_ONLY" && branded) {
    blockers.push("Branded content visibility cannot be set to private.");
  }
  if (choices.disclose && !choices.yourBrand && !choices.brandedContent) {
    blockers.push("You need to indicate if your content promotes yourself, a third party, or both.");
  }
  if (!video.title.trim()) blockers.push("Add a caption.");

  const consent: PublishView["consent"] = branded
    ? [
        "By posting, you agree to TikTok's ",
        { label: "Branded Content Policy", href: BRANDED_CONTENT_URL },
        " and ",
        { label: "Music Usage Confirmation", href: MUSIC_USAGE_URL },
        ".",
      ]
    : ["By posting, you agree to TikTok's ", { label: "Music Usage Confirmation", href: MUSIC_USAGE_URL }, "."];

  const request: PublishRequest | null =
    blockers.length === 0 && choices.privacyLevel
      ? {
          privacy_level: choices.privacyLevel,
          disable_comment: info.comment_disabled || !choices.allowComment,
          disable_duet: info.duet_disabled || !choices.allowDuet,
          disable_stitch: info.stitch_disabled || !choices.allowStitch,
          brand_content_toggle: branded,
          brand_organic_toggle: yourBrand,
          is_aigc: choices.isAigc,
        }
      : null;

  return {
    privacyOptions,
    commentDisabled: info.comment_disabled,
    duetDisabled: info.duet_disabled,
    stitchDisabled: info.stitch_disabled,
    brandedContentDisabledReason:
      choices.privacyLevel === "SELF_ONLY" ? "Branded content visibility cannot be set to private." : null,
    disclosureLabel: branded
      ? "Your video will be labeled \u201cPaid partnership\u201d."
      : yourBrand
        ? "Your video will be labeled \u201cPromotional content\u201d."
        : null,
    consent,
    blockers,
    request,
  };
}

/** TikTok's API maximum (10 minutes): what a draft's duration is held to, as a draft fetches no
 * creator info (shared/docs/tiktok-api.md §5.3). */
export const DRAFT_MAX_DURATION_SECS = 600;

/** The problems publish-check found that stand in the way of this publish: all of them for a
 * direct post; for a draft, the ones about the media itself. publish-check answers for a
 * direct post (it takes no mode), so for a draft its duration problem (the creator's maximum)
 * and cover problem (a draft has no cover) are replaced by the API's own maximum, which is
 * what `POST /publish` holds a draft to. Empty: the button may be enabled. */
export function blockingProblems(check: Pick<PublishCheck, "problems" | "media">, draft: boolean): PublishProblem[] {
  if (!draft) return check.problems;
  const kept = check.problems.filter((p) => p.code !== "video_too_long" && p.code !== "cover_timestamp_out_of_range");
  const ms = check.media?.duration_ms;
  if (ms !== undefined && ms > DRAFT_MAX_DURATION_SECS * 1000) {
    kept.unshift({
      code: "video_too_long",
      title: "The video is longer than TikTok takes",
      detail: `The video lasts ${(ms / 1000).toFixed(1)} s; TikTok takes drafts of at most ${DRAFT_MAX_DURATION_SECS} s.`,
    });
  }
  return kept;
}
