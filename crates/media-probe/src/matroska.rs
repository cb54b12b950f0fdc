//! WebM and Matroska: the EBML header and the `Segment` element say whether the file is whole;
//! `matroska-demuxer` finds and parses `Segment/Info` and `Tracks` (through the `SeekHead`),
//! reading through a view of the ranges fetched so far. A read outside them stops it and names
//! the range to fetch; it then runs again from the start on more bytes.

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom};

use matroska_demuxer::{MatroskaFile, TrackType};

use crate::sparse::{Gap, Sparse};
use crate::{MediaFacts, Probe, ProbeError, Step, codec_name, rate};

const EBML_ID: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];
const SEGMENT_ID: [u8; 4] = [0x18, 0x53, 0x80, 0x67];

/// An EBML variable-length size: its length in bytes and value; `None` for "unknown size".
fn vint(b: &[u8]) -> Option<(usize, Option<u64>)> {
    let first = *b.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let mut value = u64::from(first) & (0xFF >> len);
    for byte in b.get(1..len)? {
        value = (value << 8) | u64::from(*byte);
    }
    let unknown = value == (1u64 << (7 * len)) - 1;
    Some((len, (!unknown).then_some(value)))
}

/// Where the `Segment` ends, if its size is recorded: past the end of the file means the
/// file was cut short.
fn segment_end(probe: &Probe) -> Result<Result<Option<u64>, Gap>, ProbeError> {
    let malformed = |what: &str| ProbeError::Malformed(format!("bad EBML {what}"));
    let head = match probe.have().get(0, probe.size().min(12)) {
        Ok(b) => b,
        Err(gap) => return Ok(Err(gap)),
    };
    if head.get(..4) != Some(&EBML_ID[..]) {
        return Err(malformed("header"));
    }
    let (n, header_size) = vint(head.get(4..).unwrap_or_default()).ok_or(ProbeError::Truncated)?;
    let segment_at = header_size
        .and_then(|s| s.checked_add(4 + n as u64))
        .ok_or_else(|| malformed("header size"))?;
    let seg = match probe
        .have()
        .get(segment_at, probe.size().saturating_sub(segment_at).min(12))
    {
        Ok(b) => b,
        Err(gap) => return Ok(Err(gap)),
    };
    if seg.get(..4) != Some(&SEGMENT_ID[..]) {
        return Err(ProbeError::NoIndex);
    }
    let (n, size) = vint(seg.get(4..).unwrap_or_default()).ok_or(ProbeError::Truncated)?;
    Ok(Ok(size.map(|s| segment_at + 4 + n as u64 + s)))
}

/// The fetched ranges as a file; reading a byte not fetched fails and notes where.
struct View<'a> {
    have: &'a Sparse,
    size: u64,
    pos: u64,
    missing: &'a Cell<Option<u64>>,
}

impl Read for View<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let Some(held) = self.have.from(self.pos) else {
            self.missing.set(Some(self.pos));
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "not fetched"));
        };
        let n = held.len().min(buf.len());
        buf.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(held.get(..n).unwrap_or_default());
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for View<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad seek"))?;
        Ok(self.pos)
    }
}

pub(crate) fn step(probe: &Probe) -> Result<Step, ProbeError> {
    match segment_end(probe)? {
        Err(gap) => return Ok(probe.request(gap)),
        Ok(Some(end)) if end > probe.size() => return Err(ProbeError::Truncated),
        Ok(_) => {}
    }
    let missing = Cell::new(None);
    let view = View {
        have: probe.have(),
        size: probe.size(),
        pos: 0,
        missing: &missing,
    };
    let file = match MatroskaFile::open(view) {
        Ok(file) => file,
        Err(e) => {
            return match missing.get() {
                Some(offset) => Ok(probe.request(Gap { offset, len: 1 })),
                None => Err(ProbeError::Malformed(e.to_string())),
            };
        }
    };
    let tracks = file.tracks();
    let video = tracks
        .iter()
        .find(|t| t.track_type() == TrackType::Video)
        .ok_or(ProbeError::NoVideoTrack)?;
    let picture = video.video().ok_or(ProbeError::NoVideoTrack)?;
    let scale_ns = file.info().timestamp_scale().get() as f64;
    let duration = file.info().duration().ok_or(ProbeError::NoDuration)?;
    let duration_ms = (duration * scale_ns / 1e6).round();
    if !duration_ms.is_finite() || duration_ms <= 0.0 {
        return Err(ProbeError::NoDuration);
    }
    Ok(Step::Done(MediaFacts {
        duration_ms: duration_ms as u64,
        width: u32::try_from(picture.pixel_width().get()).unwrap_or(u32::MAX),
        height: u32::try_from(picture.pixel_height().get()).unwrap_or(u32::MAX),
        frame_rate: video
            .default_duration()
            .and_then(|ns| rate(1.0, ns.get() as f64 / 1e9)),
        video_codec: codec_name(video.codec_id()),
        has_audio: tracks.iter().any(|t| t.track_type() == TrackType::Audio),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ebml_sizes() {
        assert_eq!(vint(&[0x81]), Some((1, Some(1))));
        assert_eq!(vint(&[0x40, 0x02]), Some((2, Some(2))));
        assert_eq!(vint(&[0xFF]), Some((1, None)), "unknown size");
        assert_eq!(
            vint(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            Some((8, None))
        );
        assert_eq!(vint(&[0x00]), None);
        assert_eq!(vint(&[0x40]), None, "cut short");
    }
}
