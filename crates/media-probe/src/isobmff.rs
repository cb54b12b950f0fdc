//! MP4 and MOV: the top-level box headers say where `moov` sits (before `mdat` in a
//! "fast start" file, after it in what phones and most editors write); `mp4-atom` parses it.

use mp4_atom::{Codec, Decode, Moov, Trak};

use crate::{MediaFacts, Probe, ProbeError, Step, codec_name, rate};

macro_rules! need {
    ($probe:expr, $read:expr) => {
        match $read {
            Ok(bytes) => bytes,
            Err(gap) => return Ok($probe.request(gap)),
        }
    };
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Walks every top-level box header to the end of the file, so a file cut short (its last box
/// running past the end) is caught even when `moov` itself is whole.
pub(crate) fn step(probe: &Probe) -> Result<Step, ProbeError> {
    let size = probe.size();
    let mut pos = 0u64;
    let mut moov = None;
    while pos < size {
        let header_len = (size - pos).min(16);
        if header_len < 8 {
            return Err(ProbeError::Truncated);
        }
        let header = need!(probe, probe.have().get(pos, header_len));
        let malformed = || ProbeError::Malformed(format!("bad box header at byte {pos}"));
        let (box_len, header_size) = match be_u32(header, 0).ok_or_else(malformed)? {
            0 => (size - pos, 8),
            1 => (be_u64(header, 8).ok_or(ProbeError::Truncated)?, 16),
            n => (u64::from(n), 8),
        };
        if box_len < header_size {
            return Err(malformed());
        }
        let box_end = pos.checked_add(box_len).ok_or_else(malformed)?;
        if box_end > size {
            return Err(ProbeError::Truncated);
        }
        if header.get(4..8) == Some(b"moov") {
            moov = Some((pos, box_len));
        }
        pos = box_end;
    }
    let (at, len) = moov.ok_or(ProbeError::NoIndex)?;
    let mut bytes = need!(probe, probe.have().get(at, len));
    let moov = Moov::decode(&mut bytes).map_err(|e| ProbeError::Malformed(e.to_string()))?;
    facts(&moov).map(Step::Done)
}

fn handler(trak: &Trak) -> [u8; 4] {
    trak.mdia.hdlr.handler.into()
}

fn facts(moov: &Moov) -> Result<MediaFacts, ProbeError> {
    let video = moov
        .trak
        .iter()
        .find(|t| &handler(t) == b"vide")
        .ok_or(ProbeError::NoVideoTrack)?;
    let has_audio = moov.trak.iter().any(|t| &handler(t) == b"soun");

    let duration_ms = match (moov.mvhd.timescale, moov.mvhd.duration) {
        (0, _) | (_, 0) => return Err(ProbeError::NoDuration),
        (scale, d) => (u128::from(d) * 1000 + u128::from(scale) / 2) / u128::from(scale),
    };

    let codec = video
        .mdia
        .minf
        .stbl
        .stsd
        .codecs
        .first()
        .ok_or(ProbeError::NoVideoTrack)?;
    let raw = match codec {
        Codec::Avc1(_) => "avc1".to_owned(),
        Codec::Avc3(_) => "avc3".to_owned(),
        Codec::Hev1(_) => "hev1".to_owned(),
        Codec::Hvc1(_) => "hvc1".to_owned(),
        Codec::Vp08(_) => "vp08".to_owned(),
        Codec::Vp09(_) => "vp09".to_owned(),
        Codec::Av01(_) => "av01".to_owned(),
        Codec::Jpeg(_) => "jpeg".to_owned(),
        Codec::Unknown(kind, _) => kind.to_string(),
        _ => "unknown".to_owned(),
    };
    let visual = codec.visual();
    // Without a known sample entry the track header still gives the picture size.
    let (width, height) = match visual {
        Some(v) => (u32::from(v.width), u32::from(v.height)),
        None => (
            u32::from(video.tkhd.width.integer()),
            u32::from(video.tkhd.height.integer()),
        ),
    };

    let (frames, ticks) =
        video
            .mdia
            .minf
            .stbl
            .stts
            .entries
            .iter()
            .fold((0u64, 0u64), |(f, t), e| {
                (
                    f + u64::from(e.sample_count),
                    t + u64::from(e.sample_count) * u64::from(e.sample_delta),
                )
            });
    let timescale = video.mdia.mdhd.timescale;
    let frame_rate = (timescale > 0)
        .then(|| rate(frames as f64, ticks as f64 / f64::from(timescale)))
        .flatten();

    Ok(MediaFacts {
        duration_ms: u64::try_from(duration_ms).unwrap_or(u64::MAX),
        width,
        height,
        frame_rate,
        video_codec: codec_name(&raw),
        has_audio,
    })
}
