//! A minimal well-formed MP4 of a given length: `ftyp`, a `moov` describing (by default) one second of
//! 640x360 H.264 at 30 frames per second, and an `mdat` filling the rest. For tests and
//! benchmarks that upload "a video" without caring what it shows; real media comes from an
//! encoder.

use mp4_atom::{
    Avc1, Avcc, Codec, Dinf, Encode, FourCC, Ftyp, Hdlr, Mdhd, Mdia, Minf, Moov, Mvhd, Stbl, Stsd,
    Stts, SttsEntry, Tkhd, Trak, Visual, Vmhd,
};

/// The length below which [`mp4`] cannot fit its boxes.
pub const MIN_LEN: usize = 1024;

fn moov(seconds: u32) -> Moov {
    let seconds = seconds.max(1);
    let visual = Visual {
        data_reference_index: 1,
        width: 640,
        height: 360,
        ..Default::default()
    };
    Moov {
        mvhd: Mvhd {
            timescale: 1000,
            duration: u64::from(seconds) * 1000,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: 2,
            ..Default::default()
        },
        trak: vec![Trak {
            tkhd: Tkhd {
                track_id: 1,
                duration: u64::from(seconds) * 1000,
                enabled: true,
                in_movie: true,
                width: 640.into(),
                height: 360.into(),
                ..Default::default()
            },
            mdia: Mdia {
                mdhd: Mdhd {
                    timescale: 15360,
                    duration: u64::from(seconds) * 15360,
                    language: "und".into(),
                    ..Default::default()
                },
                hdlr: Hdlr {
                    handler: FourCC::new(b"vide"),
                    name: "VideoHandler".into(),
                },
                minf: Minf {
                    vmhd: Some(Vmhd::default()),
                    dinf: Dinf::default(),
                    stbl: Stbl {
                        stsd: Stsd {
                            codecs: vec![Codec::Avc1(Avc1 {
                                visual,
                                avcc: Avcc {
                                    configuration_version: 1,
                                    avc_profile_indication: 66,
                                    avc_level_indication: 30,
                                    length_size: 4,
                                    ..Default::default()
                                },
                                ..Default::default()
                            })],
                        },
                        stts: Stts {
                            entries: vec![SttsEntry {
                                sample_count: 30 * seconds,
                                sample_delta: 512,
                            }],
                        },
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The first bytes of a sample MP4 of `total_len` bytes (at least [`MIN_LEN`]): `ftyp`,
/// `moov` and the header of an `mdat` that runs to the end; any bytes may follow. For uploads
/// sent in parts, where only the first part carries the boxes.
pub fn mp4_head(total_len: u64) -> Vec<u8> {
    mp4_head_lasting(total_len, 1)
}

/// [`mp4_head`] of a video whose index says it lasts `seconds`.
pub fn mp4_head_lasting(total_len: u64, seconds: u32) -> Vec<u8> {
    let total = total_len.max(MIN_LEN as u64);
    let mut out = Vec::with_capacity(1024);
    let ftyp = Ftyp {
        major_brand: FourCC::new(b"isom"),
        minor_version: 0x200,
        compatible_brands: vec![FourCC::new(b"isom"), FourCC::new(b"avc1")],
    };
    // Encoding into a Vec cannot fail for these well-formed values.
    let _ = ftyp.encode(&mut out);
    let _ = moov(seconds).encode(&mut out);
    let rest = total.saturating_sub(out.len() as u64);
    match u32::try_from(rest) {
        Ok(small) => {
            out.extend_from_slice(&small.to_be_bytes());
            out.extend_from_slice(b"mdat");
        }
        // A 64-bit box size: size field 1, then the real size after the type.
        Err(_) => {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(b"mdat");
            out.extend_from_slice(&rest.to_be_bytes());
        }
    }
    out
}

/// `len` bytes (at least [`MIN_LEN`]) that every MP4 reader takes for a one-second video.
pub fn mp4(len: usize) -> Vec<u8> {
    mp4_lasting(len, 1)
}

/// [`mp4`] of a video whose index says it lasts `seconds`.
pub fn mp4_lasting(len: usize, seconds: u32) -> Vec<u8> {
    let mut out = mp4_head_lasting(len as u64, seconds);
    out.resize(len.max(MIN_LEN), 0xAB);
    out
}
