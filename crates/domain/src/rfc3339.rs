//! Timestamps as RFC 3339 text: exactly the text chrono's own `Serialize` writes
//! (`SecondsFormat::AutoSi`, `Z` for UTC), built in a stack buffer and handed to the serializer
//! whole.
//!
//! chrono's implementation goes through `collect_str`, which `serde_json` escapes fragment by
//! fragment through the formatting machinery; in a page of 20 videos (60 timestamps) that was
//! over a third of the response's serialization (docs/benchmarks.md §8). Use it on the
//! timestamps of hot responses with `#[serde(serialize_with = "postiqo_domain::rfc3339::serialize")]`
//! (`rfc3339::option::serialize` for an `Option`).

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Serialize, Serializer};

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, the longest text [`write`] produces.
const MAX_LEN: usize = 30;

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match write(at, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        // Years outside 0..=9999 and leap seconds: chrono's own text.
        None => serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_some(&Rfc3339(at)),
            None => serializer.serialize_none(),
        }
    }
}

struct Rfc3339<'a>(&'a DateTime<Utc>);

impl Serialize for Rfc3339<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(self.0, serializer)
    }
}

/// The text of `at` in `buf`, or `None` where chrono writes something longer or odd (a year
/// outside 0..=9999, a leap second).
fn write<'a>(at: &DateTime<Utc>, buf: &'a mut [u8; MAX_LEN]) -> Option<&'a str> {
    // Once: every accessor of a `DateTime` adds its offset to the naive time again.
    let at = at.naive_utc();
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    digits(&mut buf[0..4], year);
    buf[4] = b'-';
    digits(&mut buf[5..7], at.month());
    buf[7] = b'-';
    digits(&mut buf[8..10], at.day());
    buf[10] = b'T';
    digits(&mut buf[11..13], at.hour());
    buf[13] = b':';
    digits(&mut buf[14..16], at.minute());
    buf[16] = b':';
    digits(&mut buf[17..19], at.second());
    // AutoSi: as few of 0, 3, 6 or 9 digits as show the value exactly.
    let (fraction, width) = if nanos == 0 {
        (0, 0)
    } else if nanos.is_multiple_of(1_000_000) {
        (nanos / 1_000_000, 3)
    } else if nanos.is_multiple_of(1_000) {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    let mut end = 19;
    if width > 0 {
        buf[19] = b'.';
        digits(&mut buf[20..20 + width], fraction);
        end = 20 + width;
    }
    buf[end] = b'Z';
    std::str::from_utf8(&buf[..=end]).ok()
}

/// Reads RFC 3339 text back: what [`serialize`] and chrono's `to_rfc3339` write (UTC, `Z` or
/// `+00:00`, 0, 3, 6 or 9 fraction digits) without chrono's general parser, anything else
/// through it. `None` where chrono's `parse_from_rfc3339` fails.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    parse_utc(text.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

fn parse_utc(b: &[u8]) -> Option<DateTime<Utc>> {
    let (head, zone) = match b.len().checked_sub(6) {
        Some(at) if b.get(at..) == Some(b"+00:00".as_slice()) => b.split_at(at),
        _ => b.split_at(b.len().checked_sub(1)?),
    };
    if zone != b"Z" && zone != b"+00:00" {
        return None;
    }
    let (clock, fraction) = head.split_at_checked(19)?;
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|(i, c)| clock.get(*i) != Some(c)) {
        return None;
    }
    let nanos = match fraction {
        [] => 0,
        [b'.', digits @ ..] if matches!(digits.len(), 3 | 6 | 9) => {
            number(digits)? * 10u32.pow(9 - u32::try_from(digits.len()).ok()?)
        }
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(number(&clock[0..4])?).ok()?,
        number(&clock[5..7])?,
        number(&clock[8..10])?,
    )?;
    let time = chrono::NaiveTime::from_hms_nano_opt(
        number(&clock[11..13])?,
        number(&clock[14..16])?,
        number(&clock[17..19])?,
        nanos,
    )?;
    Some(date.and_time(time).and_utc())
}

/// Decimal digits only (no sign, no spaces).
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
    })
}

/// `value` in decimal, zero-padded to fill `out`.
fn digits(out: &mut [u8], mut value: u32) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Ours {
        #[serde(serialize_with = "serialize")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "option::serialize")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chrono {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    fn same_text(at: DateTime<Utc>) {
        for maybe in [None, Some(at)] {
            let ours = serde_json::to_string(&Ours { at, maybe }).expect("ours");
            let chrono = serde_json::to_string(&Chrono { at, maybe }).expect("chrono");
            assert_eq!(ours, chrono, "{at:?}");
        }
    }

    #[test]
    fn writes_what_chrono_writes() {
        let base = Utc
            .with_ymd_and_hms(2026, 12, 2, 8, 22, 58)
            .single()
            .expect("time");
        for nanos in [
            0,
            1,
            7_000,
            123_000_000,
            123_456_000,
            123_456_789,
            999_999_999,
            100,
        ] {
            same_text(base + chrono::Duration::nanoseconds(nanos));
        }
        for at in spread(0x9e37_79b9_7f4a_7c15) {
            same_text(at);
        }
    }

    /// 5,000 instants spread over the four-digit years (before 1970 too), with each kind of
    /// fraction chrono writes (none, 3, 6 or 9 digits), from a fixed seed.
    fn spread(mut seed: u64) -> impl Iterator<Item = DateTime<Utc>> {
        (0..5_000).map(move |_| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let secs = i64::try_from(seed >> 30).expect("fits") % 253_402_300_799;
            // Before 1970 for half of them, chosen apart from the fraction's kind.
            let secs = secs - 62_167_219_200 * i64::from((seed >> 12) & 1 == 1);
            let nanos = u32::try_from(seed % 1_000_000_000).expect("fits");
            let nanos = match (seed >> 8) % 4 {
                0 => 0,
                1 => nanos / 1_000_000 * 1_000_000,
                2 => nanos / 1_000 * 1_000,
                _ => nanos,
            };
            Utc.timestamp_opt(secs, nanos).single().expect("time")
        })
    }

    fn chrono_parse(text: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    #[test]
    fn reads_what_it_and_chrono_write() {
        for at in spread(0x2545_f491_4f6c_dd1d) {
            let ours = serde_json::to_value(Ours { at, maybe: None }).expect("json");
            let text = ours["at"].as_str().expect("text");
            assert_eq!(parse(text), Some(at), "{text}");
            assert_eq!(parse(&at.to_rfc3339()), Some(at));
        }
    }

    #[test]
    fn agrees_with_chrono_on_odd_text() {
        for text in [
            "2026-12-02T08:22:58Z",
            "2026-12-02T08:22:58.5Z",
            "2026-12-02T08:22:58.12Z",
            "2026-12-02T08:22:58.1234Z",
            "2026-12-02T08:22:58.1234567891Z",
            "2026-12-02t08:22:58z",
            "2026-12-02 08:22:58Z",
            "2026-12-02T08:22:58+01:00",
            "2026-12-02T08:22:58-00:00",
            "2026-12-02T08:22:58.123+00:00",
            "2026-02-30T08:22:58Z",
            "2026-13-02T08:22:58Z",
            "2026-12-02T24:00:00Z",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.500Z",
            "2026-12-02T08:22:5xZ",
            "2026-12-02T08:22:58.12xZ",
            "+2026-12-02T08:22:58Z",
            "2026-12-02T08:22:58",
            "Z",
            "+00:00",
            "",
            "2026-12-02T08:22:58.000000000Z",
        ] {
            assert_eq!(parse(text), chrono_parse(text), "{text}");
        }
    }

    #[test]
    fn falls_back_to_chrono_outside_four_digit_years() {
        for at in [
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).single(),
            Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).single(),
        ] {
            same_text(at.expect("time"));
        }
        // A leap second: chrono keeps it in the nanoseconds.
        let leap = Utc
            .with_ymd_and_hms(2016, 12, 31, 23, 59, 59)
            .single()
            .and_then(|t| t.with_nanosecond(1_500_000_000))
            .expect("leap second");
        same_text(leap);
    }
}
