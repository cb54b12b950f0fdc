use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The containers TikTok accepts (fact sheet §5.3), by the MIME type the client declares and
/// S3 will enforce on the presigned upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ContentType {
    #[serde(rename = "video/mp4")]
    Mp4,
    #[serde(rename = "video/quicktime")]
    QuickTime,
    #[serde(rename = "video/webm")]
    WebM,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content type must be one of video/mp4, video/quicktime, video/webm")]
pub struct ContentTypeError;

impl ContentType {
    pub const ALL: [ContentType; 3] = [ContentType::Mp4, ContentType::QuickTime, ContentType::WebM];

    pub fn as_mime(self) -> &'static str {
        match self {
            ContentType::Mp4 => "video/mp4",
            ContentType::QuickTime => "video/quicktime",
            ContentType::WebM => "video/webm",
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_mime())
    }
}

impl FromStr for ContentType {
    type Err = ContentTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_mime() == s)
            .ok_or(ContentTypeError)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("size must be at least 1 byte")]
    Empty,
    #[error("size {size} exceeds the maximum of {max} bytes")]
    TooLarge { size: u64, max: u64 },
}

/// The declared size of a video, within `1..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VideoSize(u64);

impl VideoSize {
    pub fn parse(size: u64, max: u64) -> Result<Self, SizeError> {
        match size {
            0 => Err(SizeError::Empty),
            s if s > max => Err(SizeError::TooLarge { size: s, max }),
            s => Ok(Self(s)),
        }
    }

    /// For values read back from storage, which were validated when written.
    pub fn from_stored(size: u64) -> Self {
        Self(size)
    }

    pub fn bytes(self) -> u64 {
        self.0
    }
}

/// An object's entity tag as the object store reports it (quotes included): it names one
/// exact content, so a read conditioned on it (`If-Match`) gets those bytes or nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ETag(String);

impl ETag {
    /// Accepts what an object store sends: 1-200 visible ASCII characters.
    pub fn parse(raw: &str) -> Option<Self> {
        ((1..=200).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The outcome of checking an object's first bytes against its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerCheck {
    Matches,
    /// The bytes are some other kind of file, or a different container than declared.
    Mismatch,
}

const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];

/// Checks the container signature in the first bytes of an object (16 are enough).
///
/// MP4 and MOV are both ISO base media files: an `ftyp` box first. Old QuickTime files may
/// start with another top-level atom (`moov`, `mdat`, `wide`, `free`), which TikTok still takes.
/// WebM is a Matroska/EBML stream.
pub fn sniff_container(declared: ContentType, head: &[u8]) -> ContainerCheck {
    let box_type = head.get(4..8);
    let ok = match declared {
        ContentType::Mp4 => box_type == Some(b"ftyp"),
        ContentType::QuickTime => matches!(
            box_type,
            Some(b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free" | b"skip")
        ),
        ContentType::WebM => head.get(..4) == Some(&EBML_MAGIC[..]),
    };
    if ok {
        ContainerCheck::Matches
    } else {
        ContainerCheck::Mismatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_round_trip_through_their_mime_spelling() {
        for c in ContentType::ALL {
            assert_eq!(c.as_mime().parse::<ContentType>(), Ok(c));
            let json = serde_json::to_string(&c).expect("serialize");
            assert_eq!(json, format!("\"{}\"", c.as_mime()));
        }
        assert!("video/x-msvideo".parse::<ContentType>().is_err());
        assert!("VIDEO/MP4".parse::<ContentType>().is_err());
    }

    #[test]
    fn etags_are_kept_as_sent_and_nothing_else_passes() {
        let e = ETag::parse("\"9b2cf535f27731c974343645a3985328-3\"").expect("etag");
        assert_eq!(e.as_str(), "\"9b2cf535f27731c974343645a3985328-3\"");
        for bad in ["", "a b", "x\r\ny", &"a".repeat(201)] {
            assert_eq!(ETag::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn size_bounds() {
        assert_eq!(VideoSize::parse(0, 10), Err(SizeError::Empty));
        assert_eq!(
            VideoSize::parse(11, 10),
            Err(SizeError::TooLarge { size: 11, max: 10 })
        );
        assert_eq!(VideoSize::parse(10, 10).map(VideoSize::bytes), Ok(10));
        assert_eq!(VideoSize::parse(1, 10).map(VideoSize::bytes), Ok(1));
    }

    #[test]
    fn sniffs_signatures() {
        let mp4 = b"\0\0\0\x20ftypisom\0\0\x02\0";
        let webm = [0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81];
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(
            sniff_container(ContentType::Mp4, mp4),
            ContainerCheck::Matches
        );
        assert_eq!(
            sniff_container(ContentType::QuickTime, mp4),
            ContainerCheck::Matches
        );
        assert_eq!(
            sniff_container(ContentType::QuickTime, b"\0\0\0\x08wide"),
            ContainerCheck::Matches
        );
        assert_eq!(
            sniff_container(ContentType::WebM, &webm),
            ContainerCheck::Matches
        );
        assert_eq!(
            sniff_container(ContentType::Mp4, png),
            ContainerCheck::Mismatch
        );
        assert_eq!(
            sniff_container(ContentType::Mp4, &webm),
            ContainerCheck::Mismatch
        );
        assert_eq!(
            sniff_container(ContentType::WebM, mp4),
            ContainerCheck::Mismatch
        );
        assert_eq!(
            sniff_container(ContentType::Mp4, b"\0\0"),
            ContainerCheck::Mismatch
        );
        assert_eq!(
            sniff_container(ContentType::WebM, b""),
            ContainerCheck::Mismatch
        );
    }
}
