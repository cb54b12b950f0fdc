//! Identifier generators shaped like TikTok's, so clients meet realistic values
//! (codes with characters that need URL-encoding, post ids above 2^53, …).

use std::time::{SystemTime, UNIX_EPOCH};

use rand::{Rng, distr::Alphanumeric};

pub(crate) fn alnum(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn hex_upper(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b"0123456789ABCDEF"[rng.random_range(0..16)]))
        .collect()
}

fn digits(len: usize) -> String {
    let mut rng = rand::rng();
    let mut s: String = (0..len)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect();
    // No leading zero, so the text round-trips through an integer.
    s.replace_range(0..1, "7");
    s
}

/// Shaped like TikTok's open ids (`afd97af1-b87b-48b9-ac98-410aghda5344`).
pub(crate) fn uuid_like() -> String {
    let h = hex_upper(32).to_ascii_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Real codes contain `*` and `!`, which arrive percent-encoded in the callback and must be
/// decoded before the exchange (fact sheet §1.3).
pub(crate) fn auth_code() -> String {
    format!("{}*0!{}", alnum(40), alnum(20))
}

pub(crate) fn access_token() -> String {
    format!("act.{}", alnum(60))
}

pub(crate) fn refresh_token() -> String {
    format!("rft.{}", alnum(60))
}

pub(crate) fn client_token() -> String {
    format!("clt.{}", alnum(60))
}

pub(crate) fn publish_id() -> String {
    format!("v_pub_url~v2.{}", digits(19))
}

/// 19 digits starting with 7: always above 2^53, so a client parsing it as f64 loses digits.
pub(crate) fn post_id() -> u64 {
    rand::rng().random_range(7_000_000_000_000_000_000..=7_999_999_999_999_999_999)
}

/// `YYYYMMDDHHMMSS` + hex, like TikTok's `log_id`.
pub(crate) fn log_id() -> String {
    format!(
        "{}{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        hex_upper(20)
    )
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(post_id() > (1u64 << 53));
        assert_eq!(post_id().to_string().len(), 19);
        let p = publish_id();
        assert!(p.starts_with("v_pub_url~v2.") && p.len() <= 64);
        assert_eq!(uuid_like().len(), 36);
        assert!(auth_code().contains("*0!"));
        assert!(log_id().len() >= 34);
    }
}
