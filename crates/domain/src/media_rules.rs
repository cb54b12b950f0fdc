//! What a video's container says about it, and TikTok's limits on it (fact sheet §5.3):
//! checked before TikTok is called, so a creator learns what is wrong before anything leaves.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// TikTok: 23-60 frames per second.
pub const MIN_FRAME_RATE: u32 = 23;
pub const MAX_FRAME_RATE: u32 = 60;
/// TikTok: each side 360-4096 pixels.
pub const MIN_SIDE_PX: u32 = 360;
pub const MAX_SIDE_PX: u32 = 4096;
/// TikTok: H.264 (recommended), H.265, VP8, VP9.
pub const TIKTOK_CODECS: [&str; 4] = ["h264", "h265", "vp8", "vp9"];
/// TikTok's API takes videos of at most 10 minutes, whatever the creator (§5.3).
pub const API_MAX_DURATION_SECS: u64 = 600;
/// TikTok's `video_cover_timestamp_ms` is an int32.
pub const MAX_COVER_TIMESTAMP_MS: u64 = i32::MAX as u64;

/// Frames per second, kept in thousandths so a video's facts compare equal to themselves;
/// written as a plain number (`29.97`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameRate(u32);

impl FrameRate {
    /// `None` for a rate that is not a positive finite number.
    pub fn from_fps(fps: f64) -> Option<Self> {
        let milli = (fps * 1000.0).round();
        (milli.is_finite() && milli >= 1.0 && milli <= f64::from(u32::MAX))
            .then_some(Self(milli as u32))
    }

    pub fn fps(self) -> f64 {
        f64::from(self.0) / 1000.0
    }

    fn within(self, min: u32, max: u32) -> bool {
        (min * 1000..=max * 1000).contains(&self.0)
    }
}

impl fmt::Display for FrameRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.fps())
    }
}

impl Serialize for FrameRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.fps())
    }
}

impl<'de> Deserialize<'de> for FrameRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fps = f64::deserialize(d)?;
        Self::from_fps(fps).ok_or_else(|| serde::de::Error::custom("frame rate must be positive"))
    }
}

/// The facts upload-complete read from the container's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VideoMedia {
    #[cfg_attr(feature = "openapi", schema(example = 15000))]
    pub duration_ms: u64,
    /// Of the first video track's pictures, in pixels.
    #[cfg_attr(feature = "openapi", schema(example = 1080))]
    pub width: u32,
    #[cfg_attr(feature = "openapi", schema(example = 1920))]
    pub height: u32,
    /// Frames per second (to thousandths); null when the container records no constant rate
    /// (a WebM track without a default frame duration).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, example = 30.0))]
    pub frame_rate: Option<FrameRate>,
    /// `h264`, `h265`, `vp8`, `vp9`, `av1`, or the container's own name for another codec.
    #[cfg_attr(feature = "openapi", schema(example = "h264"))]
    pub video_codec: String,
    pub has_audio: bool,
}

/// One reason TikTok would refuse the video (or this publish of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaProblem {
    TooLong {
        duration_ms: u64,
        max_secs: u64,
    },
    /// A draft longer than the API's maximum (drafts have no creator maximum to go by).
    DraftTooLong {
        duration_ms: u64,
    },
    FrameRateUnsupported {
        frame_rate: FrameRate,
    },
    ResolutionUnsupported {
        width: u32,
        height: u32,
    },
    CodecUnsupported {
        codec: String,
    },
    CoverTimestampOutOfRange {
        cover_ms: u64,
        duration_ms: Option<u64>,
    },
}

impl MediaProblem {
    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLong { .. } | Self::DraftTooLong { .. } => "video_too_long",
            Self::FrameRateUnsupported { .. } => "frame_rate_unsupported",
            Self::ResolutionUnsupported { .. } => "resolution_unsupported",
            Self::CodecUnsupported { .. } => "codec_unsupported",
            Self::CoverTimestampOutOfRange { .. } => "cover_timestamp_out_of_range",
        }
    }

    /// What is wrong, with the limit.
    pub fn detail(&self) -> String {
        match self {
            Self::TooLong {
                duration_ms,
                max_secs,
            } => format!(
                "The video lasts {:.1} s; this creator may post at most {max_secs} s.",
                *duration_ms as f64 / 1000.0
            ),
            Self::DraftTooLong { duration_ms } => format!(
                "The video lasts {:.1} s; TikTok takes drafts of at most {API_MAX_DURATION_SECS} s.",
                *duration_ms as f64 / 1000.0
            ),
            Self::FrameRateUnsupported { frame_rate } => format!(
                "The video has {frame_rate} frames per second; TikTok takes {MIN_FRAME_RATE}-{MAX_FRAME_RATE}."
            ),
            Self::ResolutionUnsupported { width, height } => format!(
                "The video is {width}x{height} px; TikTok takes {MIN_SIDE_PX}-{MAX_SIDE_PX} px on each side."
            ),
            Self::CodecUnsupported { codec } => {
                format!("The video is encoded as {codec}; TikTok takes H.264, H.265, VP8 or VP9.")
            }
            Self::CoverTimestampOutOfRange {
                cover_ms,
                duration_ms: Some(d),
            } => format!(
                "video_cover_timestamp_ms {cover_ms} is not inside the video: it must be below its duration of {d} ms."
            ),
            Self::CoverTimestampOutOfRange { cover_ms, .. } => format!(
                "video_cover_timestamp_ms {cover_ms} is above TikTok's maximum of {MAX_COVER_TIMESTAMP_MS}."
            ),
        }
    }
}

/// Every problem TikTok would find with publishing this video now, in a fixed order.
///
/// `media` is `None` for videos verified before their facts were kept: only the cover's
/// int32 bound is checked then (TikTok still checks the rest). `max_duration_secs` is the
/// creator's `max_video_post_duration_sec` from fresh creator info; the size limit (4 GB) is
/// enforced when the upload is created.
pub fn media_problems(
    media: Option<&VideoMedia>,
    cover_ms: Option<u32>,
    max_duration_secs: Option<u64>,
) -> Vec<MediaProblem> {
    let mut problems = Vec::new();
    if let Some(m) = media {
        if let Some(max_secs) = max_duration_secs
            && m.duration_ms > max_secs.saturating_mul(1000)
        {
            problems.push(MediaProblem::TooLong {
                duration_ms: m.duration_ms,
                max_secs,
            });
        }
        if let Some(rate) = m.frame_rate
            && !rate.within(MIN_FRAME_RATE, MAX_FRAME_RATE)
        {
            problems.push(MediaProblem::FrameRateUnsupported { frame_rate: rate });
        }
        let side_ok = |px: u32| (MIN_SIDE_PX..=MAX_SIDE_PX).contains(&px);
        if !side_ok(m.width) || !side_ok(m.height) {
            problems.push(MediaProblem::ResolutionUnsupported {
                width: m.width,
                height: m.height,
            });
        }
        if !TIKTOK_CODECS.contains(&m.video_codec.as_str()) {
            problems.push(MediaProblem::CodecUnsupported {
                codec: m.video_codec.clone(),
            });
        }
    }
    if let Some(cover) = cover_ms.map(u64::from) {
        let duration_ms = media.map(|m| m.duration_ms);
        if cover > MAX_COVER_TIMESTAMP_MS || duration_ms.is_some_and(|d| cover >= d) {
            problems.push(MediaProblem::CoverTimestampOutOfRange {
                cover_ms: cover,
                duration_ms,
            });
        }
    }
    problems
}

/// Every problem TikTok would find with a draft (an inbox upload) of this video.
///
/// TikTok downloads and checks an inbox upload as it does a direct post (§3.4 differs only in
/// the body, §5.3's constraints are the video's), so frame rate, size and codec are checked
/// alike. Its duration is checked against the API's maximum of 10 minutes, not a creator's:
/// creator info needs the `video.publish` scope, which a draft does not (only
/// `video.upload`), and the creator finishes the draft in the TikTok app, where trimming it
/// to their own maximum is theirs to do. A draft has no cover to check.
pub fn draft_media_problems(media: Option<&VideoMedia>) -> Vec<MediaProblem> {
    let mut problems = media_problems(media, None, None);
    if let Some(m) = media
        && m.duration_ms > API_MAX_DURATION_SECS * 1000
    {
        problems.insert(
            0,
            MediaProblem::DraftTooLong {
                duration_ms: m.duration_ms,
            },
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(duration_ms: u64, w: u32, h: u32, fps: f64, codec: &str) -> VideoMedia {
        VideoMedia {
            duration_ms,
            width: w,
            height: h,
            frame_rate: FrameRate::from_fps(fps),
            video_codec: codec.into(),
            has_audio: true,
        }
    }

    fn codes(problems: &[MediaProblem]) -> Vec<&'static str> {
        problems.iter().map(MediaProblem::code).collect()
    }

    #[test]
    fn a_video_inside_every_limit_has_no_problem() {
        for (w, h, fps, codec) in [
            (1080, 1920, 30.0, "h264"),
            (360, 360, 23.0, "h265"),
            (4096, 4096, 60.0, "vp9"),
            (640, 360, 29.97, "vp8"),
        ] {
            let m = media(60_000, w, h, fps, codec);
            assert_eq!(
                media_problems(Some(&m), Some(0), Some(60)),
                vec![],
                "{w}x{h} {fps} {codec}"
            );
        }
    }

    #[test]
    fn each_limit_has_its_code_and_names_the_limit() {
        let long = media(600_001, 640, 360, 30.0, "h264");
        let p = media_problems(Some(&long), None, Some(600));
        assert_eq!(codes(&p), ["video_too_long"]);
        assert!(p[0].detail().contains("600 s"), "{}", p[0].detail());
        // Exactly the maximum is fine; no creator maximum, no duration check.
        let m = media(600_000, 640, 360, 30.0, "h264");
        assert!(media_problems(Some(&m), None, Some(600)).is_empty());
        assert!(media_problems(Some(&long), None, None).is_empty());

        for fps in [120.0, 22.99, 60.01] {
            let p = media_problems(Some(&media(1000, 640, 360, fps, "h264")), None, None);
            assert_eq!(codes(&p), ["frame_rate_unsupported"], "{fps}");
            assert!(p[0].detail().contains("23-60"));
        }
        for (w, h) in [(426, 240), (359, 640), (4097, 1080)] {
            let p = media_problems(Some(&media(1000, w, h, 30.0, "h264")), None, None);
            assert_eq!(codes(&p), ["resolution_unsupported"], "{w}x{h}");
            assert!(p[0].detail().contains("360-4096"));
        }
        let p = media_problems(Some(&media(1000, 640, 360, 30.0, "av1")), None, None);
        assert_eq!(codes(&p), ["codec_unsupported"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = media(700_000, 320, 240, 120.0, "av1");
        let p = media_problems(Some(&bad), Some(700_000), Some(600));
        assert_eq!(
            codes(&p),
            [
                "video_too_long",
                "frame_rate_unsupported",
                "resolution_unsupported",
                "codec_unsupported",
                "cover_timestamp_out_of_range"
            ]
        );
    }

    #[test]
    fn a_draft_meets_the_same_limits_with_the_apis_maximum_duration() {
        assert!(draft_media_problems(Some(&media(600_000, 640, 360, 30.0, "h264"))).is_empty());
        assert!(draft_media_problems(None).is_empty());
        let p = draft_media_problems(Some(&media(600_001, 426, 240, 120.0, "av1")));
        assert_eq!(
            codes(&p),
            [
                "video_too_long",
                "frame_rate_unsupported",
                "resolution_unsupported",
                "codec_unsupported"
            ]
        );
        assert!(
            p[0].detail().contains("drafts of at most 600 s"),
            "{}",
            p[0].detail()
        );
    }

    #[test]
    fn the_cover_must_fall_inside_the_video_and_fit_an_int32() {
        let m = media(10_000, 640, 360, 30.0, "h264");
        assert!(media_problems(Some(&m), Some(9_999), None).is_empty());
        let p = media_problems(Some(&m), Some(10_000), None);
        assert_eq!(codes(&p), ["cover_timestamp_out_of_range"]);
        assert!(p[0].detail().contains("10000 ms"));
        // Without facts (a video verified before they were kept) only the int32 bound holds.
        assert!(media_problems(None, Some(i32::MAX as u32), None).is_empty());
        let p = media_problems(None, Some(i32::MAX as u32 + 1), None);
        assert_eq!(codes(&p), ["cover_timestamp_out_of_range"]);
    }

    #[test]
    fn frame_rates_round_trip_as_plain_numbers() {
        let m = media(1000, 640, 360, 29.97, "h264");
        let json = serde_json::to_value(&m).expect("json");
        assert_eq!(json["frame_rate"], serde_json::json!(29.97));
        let back: VideoMedia = serde_json::from_value(json).expect("back");
        assert_eq!(back, m);
        assert_eq!(FrameRate::from_fps(0.0), None);
        assert_eq!(FrameRate::from_fps(f64::NAN), None);
    }
}
