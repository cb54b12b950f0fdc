import { describe, expect, it } from "vitest";
import { ApiError, toApiError, userMessage } from "./problem";

describe("problems", () => {
  it("keeps the API's problem and explains it by code", () => {
    const e = toApiError(403, {
      type: "urn:postiqo:problem:csrf_failed",
      title: "Missing or wrong X-CSRF-Token",
      status: 403,
      code: "csrf_failed",
      request_id: "r1",
    });
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe("csrf_failed");
    expect(userMessage(e)).toMatch(/cross-site request.*\(request r1\)$/);
  });

  it("lists invalid fields and survives bodies that are not problems", () => {
    const e = toApiError(422, {
      type: "urn:postiqo:problem:validation_failed",
      title: "One or more fields are invalid",
      status: 422,
      code: "validation_failed",
      errors: [{ field: "title", message: "too long" }],
    });
    expect(userMessage(e)).toContain("title: too long");
    expect(toApiError(502, "<html>bad gateway</html>").code).toBe("http_error");
    expect(toApiError(0, undefined).code).toBe("network_error");
  });

  it("names the limit when TikTok would refuse the video", () => {
    const e = toApiError(422, {
      type: "urn:postiqo:problem:frame_rate_unsupported",
      title: "TikTok takes 23 to 60 frames per second",
      status: 422,
      code: "frame_rate_unsupported",
      detail: "The video has 120 frames per second; TikTok takes 23-60.",
    });
    expect(userMessage(e)).toBe(
      "TikTok takes 23 to 60 frames per second: The video has 120 frames per second; TikTok takes 23-60.",
    );
  });
});
