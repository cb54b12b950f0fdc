//! TikTok's media checks on a pulled file (fact sheet §5.3): container signature (MP4, MOV,
//! WebM), then duration, frame rate and picture size from the container's index.

use postiqo_media_probe::{Container as ProbeContainer, MediaFacts, Probe, Step};

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

/// What TikTok's checks of a pulled file find (fact sheet §5.3), as its `fail_reason`.
///
/// The file's facts come from its container index, read from the bytes kept of the download
/// (its head and its tail, which hold the index of every file but a huge one with `moov`
/// in the middle); when the index is not within them the checks are skipped, not guessed.
pub(crate) fn media_check(
    container: Container,
    size: u64,
    head: &[u8],
    tail: &[u8],
    max_duration_secs: Option<u32>,
) -> Result<Option<MediaFacts>, &'static str> {
    let kind = match container {
        Container::IsoBmff => ProbeContainer::IsoBmff,
        Container::WebM => ProbeContainer::Matroska,
    };
    let mut probe = Probe::new(kind, size);
    probe.feed(0, head.to_vec());
    probe.feed(size.saturating_sub(tail.len() as u64), tail.to_vec());
    let facts = match probe.step() {
        Ok(Step::Done(facts)) => facts,
        Ok(Step::Need(_)) => return Ok(None),
        Err(_) => return Err("file_format_check_failed"),
    };
    if max_duration_secs.is_some_and(|max| facts.duration_ms > u64::from(max) * 1000) {
        return Err("duration_check_failed");
    }
    if facts
        .frame_rate
        .is_some_and(|fps| !(23.0..=60.0).contains(&fps))
    {
        return Err("frame_rate_check_failed");
    }
    let side = 360..=4096;
    if !side.contains(&facts.width) || !side.contains(&facts.height) {
        return Err("picture_size_check_failed");
    }
    Ok(Some(facts))
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
    fn checks_duration_from_the_index() {
        let ok = mp4_bytes(5);
        let size = ok.len() as u64;
        let facts = media_check(Container::IsoBmff, size, &ok, &[], Some(600))
            .expect("passes")
            .expect("index within the head");
        assert_eq!(facts.duration_ms, 5000);
        assert_eq!(
            media_check(Container::IsoBmff, size, &ok, &[], Some(4)),
            Err("duration_check_failed")
        );
        // Cut short: not a readable file.
        let cut = ok.get(..ok.len() / 2).unwrap_or_default();
        assert_eq!(
            media_check(Container::IsoBmff, cut.len() as u64, cut, &[], None),
            Err("file_format_check_failed")
        );
    }
}
