//! Real files, encoded at test time by ffmpeg (scripts/test installs it), probed the way the
//! API reads S3: only the ranges the probe asks for.

use postiqo_media_probe::{Container, MediaFacts, Probe, ProbeError, Step};
use postiqo_test_clips::{H264, H264_FASTSTART, H265_HVC1, VP9, encode};

/// Runs the probe to its answer, serving exactly the ranges it asks for.
fn probe(file: &[u8], container: Container) -> (Result<MediaFacts, ProbeError>, u32, u64) {
    let mut p = Probe::new(container, file.len() as u64);
    let (mut reads, mut bytes) = (0u32, 0u64);
    loop {
        match p.step() {
            Ok(Step::Done(facts)) => return (Ok(facts), reads, bytes),
            Ok(Step::Need(r)) => {
                assert!(reads < 50, "the probe keeps asking: {r:?}");
                let start = usize::try_from(r.offset).expect("offset");
                let end = start + usize::try_from(r.len).expect("len");
                let chunk = file.get(start..end.min(file.len())).expect("in file");
                reads += 1;
                bytes += chunk.len() as u64;
                p.feed(r.offset, chunk.to_vec());
            }
            Err(e) => return (Err(e), reads, bytes),
        }
    }
}

fn facts(file: &[u8], container: Container) -> MediaFacts {
    probe(file, container).0.expect("facts")
}

#[track_caller]
fn assert_about(duration_ms: u64, expected: u64) {
    assert!(
        duration_ms.abs_diff(expected) <= 50,
        "duration {duration_ms} ms, expected {expected} ± 50"
    );
}

#[test]
fn h264_mp4_with_moov_first_or_last() {
    for (args, name) in [(H264_FASTSTART, "faststart"), (H264, "moov at the end")] {
        let file = encode(2.0, "640x360", 30, args, "mp4");
        let (f, reads, _) = probe(&file, Container::IsoBmff);
        let f = f.expect(name);
        assert_about(f.duration_ms, 2000);
        assert_eq!((f.width, f.height), (640, 360), "{name}");
        assert_eq!(f.frame_rate, Some(30.0), "{name}");
        assert_eq!(f.video_codec, "h264");
        assert!(!f.has_audio);
        assert!(reads <= 3, "{name}: {reads} reads");
    }
}

#[test]
fn h265_mov_vp9_webm_and_audio() {
    let mov = encode(1.5, "480x360", 25, H265_HVC1, "mov");
    let f = facts(&mov, Container::IsoBmff);
    assert_about(f.duration_ms, 1500);
    assert_eq!((f.width, f.height, f.frame_rate), (480, 360, Some(25.0)));
    assert_eq!(f.video_codec, "h265");

    let webm = encode(
        1.0,
        "400x400",
        24,
        &[
            &["-f", "lavfi", "-i", "sine=duration=1"],
            VP9,
            &["-c:a", "libopus"],
        ]
        .concat(),
        "webm",
    );
    let f = facts(&webm, Container::Matroska);
    assert_about(f.duration_ms, 1000);
    assert_eq!((f.width, f.height, f.frame_rate), (400, 400, Some(24.0)));
    assert_eq!(f.video_codec, "vp9");
    assert!(f.has_audio);
}

#[test]
fn odd_rates_and_sizes_are_reported_as_they_are() {
    let fast = encode(1.0, "640x360", 120, H264, "mp4");
    assert_eq!(facts(&fast, Container::IsoBmff).frame_rate, Some(120.0));
    let small = encode(1.0, "426x240", 30, H264, "mp4");
    let f = facts(&small, Container::IsoBmff);
    assert_eq!((f.width, f.height), (426, 240));
}

#[test]
fn cut_files_and_other_bytes_are_refused() {
    let file = encode(2.0, "640x360", 30, H264_FASTSTART, "mp4");
    let cut = file.get(..file.len() * 2 / 3).expect("cut");
    assert_eq!(probe(cut, Container::IsoBmff).0, Err(ProbeError::Truncated));
    let end_moov = encode(1.0, "640x360", 30, H264, "mp4");
    let cut = end_moov.get(..end_moov.len() - 100).expect("cut");
    assert_eq!(probe(cut, Container::IsoBmff).0, Err(ProbeError::Truncated));

    let webm = encode(1.0, "400x400", 24, VP9, "webm");
    let cut = webm.get(..webm.len() / 2).expect("cut");
    assert_eq!(
        probe(cut, Container::Matroska).0,
        Err(ProbeError::Truncated)
    );

    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR and more bytes".to_vec();
    assert!(probe(&png, Container::IsoBmff).0.is_err());
    assert!(probe(&png, Container::Matroska).0.is_err());
}

/// A large `mdat` before `moov` costs one jump, not a download.
#[test]
fn a_moov_after_a_big_mdat_is_reached_in_a_few_reads() {
    let file = encode(1.0, "640x360", 30, H264, "mp4");
    // Splice a 100 MiB `free` box in front of mdat: the walk has to step over it.
    let ftyp_len = u32::from_be_bytes(file[..4].try_into().expect("4")) as usize;
    let mut big = file[..ftyp_len].to_vec();
    let pad: u32 = 100 * 1024 * 1024;
    big.extend(pad.to_be_bytes());
    big.extend(b"free");
    big.resize(big.len() + pad as usize - 8, 0);
    big.extend(&file[ftyp_len..]);
    let (f, reads, bytes) = probe(&big, Container::IsoBmff);
    let f = f.expect("facts");
    assert_about(f.duration_ms, 1000);
    assert!(reads <= 4, "{reads} reads");
    assert!(bytes < 1024 * 1024, "{bytes} bytes read");
}

#[cfg(feature = "sample")]
#[test]
fn the_sample_mp4_reads_as_one_second_of_video() {
    for len in [1024, 4096, 100_000] {
        let file = postiqo_media_probe::sample::mp4(len);
        assert_eq!(file.len(), len);
        let f = facts(&file, Container::IsoBmff);
        assert_eq!(
            (
                f.duration_ms,
                f.width,
                f.height,
                f.frame_rate,
                f.video_codec.as_str()
            ),
            (1000, 640, 360, Some(30.0), "h264")
        );
    }
}
