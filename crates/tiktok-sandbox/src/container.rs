//! Cheap media checks on the first bytes of a pulled file: container signature (fact
//! sheet §5.3: MP4, MOV, WebM) and, for MP4/MOV, the duration from `moov/mvhd`.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Container {
    /// ISO base media (MP4, MOV): `ftyp` box at offset 4.
    IsoBmff,
    /// Matroska/WebM: EBML magic `1A 45 DF A3`.
    WebM,
}

pub(crate) fn sniff(head: &[u8]) -> Option<Container> {
    if head.get(4..8) == Some(b"ftyp") {
        Some(Container::IsoBmff)
    } else if head.get(0..4) == Some(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some(Container::WebM)
    } else {
        None
    }
}

fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

/// Payload of the first complete box of type `kind` directly inside `data`.
fn find_box<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size32 = be_u32(data, pos)?;
        let (size, header) = match size32 {
            0 => (data.len() - pos, 8),
            1 => (usize::try_from(be_u64(data, pos + 8)?).ok()?, 16),
            n => (usize::try_from(n).ok()?, 8),
        };
        if size < header {
            return None;
        }
        let end = pos.checked_add(size)?;
        if data.get(pos + 4..pos + 8)? == kind {
            return data.get(pos + header..end);
        }
        pos = end;
    }
    None
}

/// Duration in seconds, when `moov` lies completely within `head` (a "fast start" file;
/// otherwise the check is skipped rather than guessed).
pub(crate) fn mp4_duration_secs(head: &[u8]) -> Option<f64> {
    let mvhd = find_box(find_box(head, b"moov")?, b"mvhd")?;
    let (timescale, duration) = match mvhd.first()? {
        1 => (be_u32(mvhd, 20)?, be_u64(mvhd, 24)?),
        _ => (be_u32(mvhd, 12)?, u64::from(be_u32(mvhd, 16)?)),
    };
    (timescale > 0).then(|| duration as f64 / f64::from(timescale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{mp4_bytes, webm_bytes};

    #[test]
    fn sniffs_containers() {
        assert_eq!(sniff(&mp4_bytes(5)), Some(Container::IsoBmff));
        assert_eq!(sniff(&webm_bytes()), Some(Container::WebM));
        assert_eq!(sniff(b"GIF89a......"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn reads_mvhd_duration() {
        assert_eq!(mp4_duration_secs(&mp4_bytes(42)), Some(42.0));
        // Truncated before moov ends: no guess.
        let bytes = mp4_bytes(42);
        assert_eq!(mp4_duration_secs(bytes.get(..40).unwrap_or_default()), None);
        assert_eq!(mp4_duration_secs(b"\0\0\0\x01ftyp"), None);
    }
}
