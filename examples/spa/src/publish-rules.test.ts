import { describe, expect, it } from "vitest";
import { blockingProblems, emptyChoices, publishView, type CreatorInfo, type PublishProblem } from "./publish-rules";

const info: CreatorInfo = {
  creator_nickname: "Ada",
  creator_username: "ada",
  privacy_level_options: ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
  comment_disabled: false,
  duet_disabled: true,
  stitch_disabled: false,
  max_video_post_duration_sec: 60,
};
const video = { durationSecs: 12, title: "Morning run" };

describe("TikTok's posting-screen rules", () => {
  it("has no default privacy level and nothing allowed until chosen", () => {
    const v = publishView(info, emptyChoices(), video);
    expect(v.request).toBeNull();
    expect(v.blockers).toEqual(["Choose who can view this video."]);
    expect(v.privacyOptions.map((o) => o.value)).toEqual(info.privacy_level_options);
    const chosen = publishView(info, { ...emptyChoices(), privacyLevel: "SELF_ONLY" }, video);
    expect(chosen.request).toEqual({
      privacy_level: "SELF_ONLY",
      disable_comment: true,
      disable_duet: true,
      disable_stitch: true,
      brand_content_toggle: false,
      brand_organic_toggle: false,
      is_aigc: false,
    });
  });

  it("greys out what the creator disabled and never sends it enabled", () => {
    const v = publishView(info, { ...emptyChoices(), privacyLevel: "PUBLIC_TO_EVERYONE", allowDuet: true, allowComment: true }, video);
    expect(v.duetDisabled).toBe(true);
    expect(v.request?.disable_duet).toBe(true);
    expect(v.request?.disable_comment).toBe(false);
  });

  it("blocks a disclosure with nothing ticked, labels and consent follow the choice", () => {
    const base = { ...emptyChoices(), privacyLevel: "PUBLIC_TO_EVERYONE", disclose: true };
    expect(publishView(info, base, video).request).toBeNull();
    const own = publishView(info, { ...base, yourBrand: true }, video);
    expect(own.disclosureLabel).toContain("Promotional content");
    expect(own.request?.brand_organic_toggle).toBe(true);
    expect(own.consent.filter((p) => typeof p !== "string").map((l) => (l as { label: string }).label)).toEqual([
      "Music Usage Confirmation",
    ]);
    const paid = publishView(info, { ...base, yourBrand: true, brandedContent: true }, video);
    expect(paid.disclosureLabel).toContain("Paid partnership");
    expect(paid.request).toMatchObject({ brand_content_toggle: true, brand_organic_toggle: true });
    expect(paid.consent.map((p) => (typeof p === "string" ? p : p.label)).join("")).toBe(
      "By posting, you agree to TikTok's Branded Content Policy and Music Usage Confirmation.",
    );
    // Turning the disclosure off again sends no toggle, whatever was ticked.
    const off = publishView(info, { ...base, disclose: false, yourBrand: true, brandedContent: true }, video);
    expect(off.request).toMatchObject({ brand_content_toggle: false, brand_organic_toggle: false });
  });

  it("keeps branded content and SELF_ONLY apart", () => {
    const branded = publishView(info, { ...emptyChoices(), disclose: true, brandedContent: true }, video);
    expect(branded.privacyOptions.find((o) => o.value === "SELF_ONLY")?.disabledReason).toBeTruthy();
    const selfOnly = publishView(info, { ...emptyChoices(), privacyLevel: "SELF_ONLY" }, video);
    expect(selfOnly.brandedContentDisabledReason).toBeTruthy();
    const both = publishView(info, { ...emptyChoices(), privacyLevel: "SELF_ONLY", disclose: true, brandedContent: true }, video);
    expect(both.request).toBeNull();
  });

  it("refuses videos longer than the creator may post, options not offered, and an empty caption", () => {
    const choices = { ...emptyChoices(), privacyLevel: "PUBLIC_TO_EVERYONE" };
    expect(publishView(info, choices, { ...video, durationSecs: 61 }).blockers[0]).toContain("at most 60 s");
    expect(publishView(info, choices, { ...video, durationSecs: null }).request).not.toBeNull();
    expect(publishView(info, { ...choices, privacyLevel: "FOLLOWER_OF_CREATOR" }, video).request).toBeNull();
    expect(publishView(info, choices, { ...video, title: "  " }).request).toBeNull();
  });
});

describe("publish-check's problems on the posting screen", () => {
  const media = { duration_ms: 90_000, width: 426, height: 240, frame_rate: 120, video_codec: "h264", has_audio: false };
  const problem = (code: string): PublishProblem => ({ code, title: code, detail: `${code} detail` });
  const problems = ["video_too_long", "frame_rate_unsupported", "resolution_unsupported", "cover_timestamp_out_of_range"].map(problem);

  it("blocks a direct post on every problem", () => {
    expect(blockingProblems({ problems, media }, false)).toEqual(problems);
    expect(blockingProblems({ problems: [], media }, false)).toEqual([]);
  });

  it("holds a draft to the media limits and the API's 10 minutes, not the creator's maximum or a cover", () => {
    expect(blockingProblems({ problems, media }, true).map((p) => p.code)).toEqual([
      "frame_rate_unsupported",
      "resolution_unsupported",
    ]);
    const long = blockingProblems({ problems: [problem("video_too_long")], media: { ...media, duration_ms: 600_001 } }, true);
    expect(long.map((p) => p.code)).toEqual(["video_too_long"]);
    expect(long.map((p) => p.detail)).toEqual(["The video lasts 600.0 s; TikTok takes drafts of at most 600 s."]);
    expect(blockingProblems({ problems: [problem("video_too_long")], media: { ...media, duration_ms: 600_000 } }, true)).toEqual([]);
    expect(blockingProblems({ problems: [problem("video_too_long")] }, true)).toEqual([]);
  });
});
