//! A video's facts (duration, picture size, frame rate, codec, audio) from its container's
//! index, without ever holding the whole file.
//!
//! The caller owns all I/O: [`Probe::step`] either answers or names the next byte range it
//! needs, and [`Probe::feed`] hands that range in. This crate only finds *where* the index sits
//! (top-level ISO-BMFF box headers; the EBML header and `Segment` element of Matroska) and
//! leaves the parsing of the index itself to `mp4-atom` (the `moov` box) and
//! `matroska-demuxer` (`Segment/Info` and `Tracks`).

mod isobmff;
mod matroska;
#[cfg(feature = "sample")]
pub mod sample;
mod sparse;

use sparse::{Gap, Sparse};

/// How much more than the missing bytes a request asks for: one request then covers the
/// first box headers of an MP4, or a WebM's whole header, and a ranged GET of 64 KiB costs
/// about what one of 16 bytes does.
pub const READ_AHEAD: u64 = 64 * 1024;

/// The container family of a file, as its declared type and first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// MP4 and QuickTime MOV.
    IsoBmff,
    /// WebM and Matroska.
    Matroska,
}

/// `len` bytes from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub offset: u64,
    pub len: u64,
}

/// What the container says about the video.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaFacts {
    pub duration_ms: u64,
    /// The coded picture size of the first video track.
    pub width: u32,
    pub height: u32,
    /// Frames per second; `None` when the container does not record a constant rate
    /// (a Matroska track without `DefaultDuration`).
    pub frame_rate: Option<f64>,
    /// `h264`, `h265`, `vp8`, `vp9`, `av1`, or the container's own name for another codec.
    pub video_codec: String,
    pub has_audio: bool,
}

/// Why no facts can be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("the file ends inside one of its top-level elements (truncated)")]
    Truncated,
    #[error("no container index (moov, or Segment Info and Tracks) was found")]
    NoIndex,
    #[error("the container has no video track")]
    NoVideoTrack,
    #[error("the container records no duration")]
    NoDuration,
    #[error("the container index cannot be parsed: {0}")]
    Malformed(String),
}

/// The next thing the probe needs, or its answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Need(ByteRange),
    Done(MediaFacts),
}

/// The probe of one file of known size.
#[derive(Debug)]
pub struct Probe {
    container: Container,
    size: u64,
    have: Sparse,
}

impl Probe {
    pub fn new(container: Container, size: u64) -> Self {
        Self {
            container,
            size,
            have: Sparse::default(),
        }
    }

    /// Bytes of the file from `offset`, as read (a short read at the end of the file is fine).
    pub fn feed(&mut self, offset: u64, bytes: Vec<u8>) {
        self.have.insert(offset, bytes);
    }

    /// The answer from the bytes fed so far, or the range to read next.
    pub fn step(&self) -> Result<Step, ProbeError> {
        match self.container {
            Container::IsoBmff => isobmff::step(self),
            Container::Matroska => matroska::step(self),
        }
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn have(&self) -> &Sparse {
        &self.have
    }

    /// The request that fills a gap: at least [`READ_AHEAD`] bytes, never past the end.
    pub(crate) fn request(&self, gap: Gap) -> Step {
        let len = gap
            .len
            .max(READ_AHEAD)
            .min(self.size.saturating_sub(gap.offset));
        Step::Need(ByteRange {
            offset: gap.offset,
            len,
        })
    }
}

/// TikTok's names for the codecs it lists (fact sheet §5.3), or the container's own.
pub(crate) fn codec_name(raw: &str) -> String {
    match raw {
        "avc1" | "avc3" | "V_MPEG4/ISO/AVC" => "h264".into(),
        "hvc1" | "hev1" | "V_MPEGH/ISO/HEVC" => "h265".into(),
        "vp08" | "V_VP8" => "vp8".into(),
        "vp09" | "V_VP9" => "vp9".into(),
        "av01" | "V_AV1" => "av1".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// Rounded to thousandths: containers store rates as ratios (30000/1001).
pub(crate) fn rate(frames: f64, seconds: f64) -> Option<f64> {
    (seconds > 0.0 && frames > 0.0).then(|| (frames / seconds * 1000.0).round() / 1000.0)
}
