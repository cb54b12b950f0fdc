use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::UserId;

/// Whether Postiqo can act on TikTok for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TikTokLink {
    /// Tokens are stored and were accepted last time.
    Connected,
    /// TikTok refused our refresh token: the user must sign in again.
    ReauthRequired,
    /// The user (or TikTok) disconnected; no tokens are stored.
    Disconnected,
}

impl TikTokLink {
    pub fn as_str(self) -> &'static str {
        match self {
            TikTokLink::Connected => "connected",
            TikTokLink::ReauthRequired => "reauth_required",
            TikTokLink::Disconnected => "disconnected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            TikTokLink::Connected,
            TikTokLink::ReauthRequired,
            TikTokLink::Disconnected,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }
}

/// A Postiqo account, created on the first TikTok sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// TikTok's per-app user id.
    pub open_id: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    /// Scopes the user granted at the last sign-in.
    pub scopes: Vec<String>,
    pub tiktok: TikTokLink,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the user asked for the account to be deleted. From then on the account is
    /// only ever deleted further: sign-in finishes the deletion instead of reviving it.
    pub deletion_requested_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    pub fn is_being_deleted(&self) -> bool {
        self.deletion_requested_at.is_some()
    }

    /// The profile as TikTok just described it, connected. A field TikTok did not return
    /// (its scope was not granted, or TikTok left it out) keeps what we knew: at sign-in and
    /// at a sync alike, one rule.
    pub fn with_profile(self, profile: Profile, at: DateTime<Utc>) -> Self {
        Self {
            username: profile.username.or(self.username),
            display_name: profile.display_name.or(self.display_name),
            avatar_url: profile.avatar_url.or(self.avatar_url),
            tiktok: TikTokLink::Connected,
            updated_at: at,
            ..self
        }
    }
}

/// What TikTok says of a user's public profile; `None` where it said nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

/// A session id: 128 random bits, URL-safe. Random bytes come from the caller so this crate
/// stays free of I/O.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Accepts only the shape we generate, so a session id from a token or cookie can be
    /// put into a key without further checks.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many retired refresh-token hashes a session remembers, to recognise a replay.
pub const REMEMBERED_REFRESH_HASHES: usize = 8;

/// One signed-in device or client. Its refresh token is stored only as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user: UserId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// Hash of the current refresh token.
    pub refresh_hash: String,
    /// Hashes of refresh tokens already used: presenting one again means the token leaked.
    pub used_hashes: Vec<String>,
    /// The token the last rotation retired, and when: presented again within the reuse
    /// interval it is a second tab or a retried request, not a thief.
    pub previous: Option<RetiredRefresh>,
}

/// The refresh token a rotation replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredRefresh {
    pub hash: String,
    pub rotated_at: DateTime<Utc>,
}

/// What presenting a refresh token to a session means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshCheck {
    /// The current token: rotate it.
    Current,
    /// The token the last rotation retired, presented again within the reuse interval (two
    /// tabs refreshing at once, a retried request): answer with the current token.
    Reissue,
    /// An already-used token: someone replayed it; end the session.
    Reused,
    /// Not a token of this session.
    Unknown,
    Expired,
}

impl Session {
    /// `reuse_interval`: how long after a rotation the retired token still yields the current
    /// one (zero: never).
    pub fn check_refresh(
        &self,
        presented_hash: &str,
        now: DateTime<Utc>,
        reuse_interval: chrono::Duration,
    ) -> RefreshCheck {
        if self.expires_at <= now {
            RefreshCheck::Expired
        } else if self.refresh_hash == presented_hash {
            RefreshCheck::Current
        } else if self
            .previous
            .as_ref()
            .is_some_and(|p| p.hash == presented_hash && now < p.rotated_at + reuse_interval)
        {
            RefreshCheck::Reissue
        } else if self.used_hashes.iter().any(|h| h == presented_hash) {
            RefreshCheck::Reused
        } else {
            RefreshCheck::Unknown
        }
    }

    /// The session after a rotation: the old hash joins the used ones (and is remembered as
    /// the previous token for the reuse interval), the lifetime restarts.
    pub fn rotated(mut self, new_hash: String, now: DateTime<Utc>, ttl: chrono::Duration) -> Self {
        let old = std::mem::replace(&mut self.refresh_hash, new_hash);
        self.previous = Some(RetiredRefresh {
            hash: old.clone(),
            rotated_at: now,
        });
        self.used_hashes.push(old);
        if self.used_hashes.len() > REMEMBERED_REFRESH_HASHES {
            let excess = self.used_hashes.len() - REMEMBERED_REFRESH_HASHES;
            self.used_hashes.drain(..excess);
        }
        self.last_used_at = now;
        self.expires_at = now + ttl;
        self
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn session() -> Session {
        let now = Utc.timestamp_opt(1_700_000_000, 0).single().expect("time");
        Session {
            id: SessionId::from_random([7; 16]),
            user: UserId::new_v7(1, [1; 10]),
            created_at: now,
            last_used_at: now,
            user_agent: None,
            expires_at: now + chrono::Duration::days(30),
            refresh_hash: "h1".into(),
            used_hashes: vec![],
            previous: None,
        }
    }

    const NO_REUSE: chrono::Duration = chrono::Duration::zero();

    #[test]
    fn rotation_retires_the_old_token_and_detects_its_reuse() {
        let s = session();
        let now = s.created_at;
        assert_eq!(s.check_refresh("h1", now, NO_REUSE), RefreshCheck::Current);
        let s = s.rotated("h2".into(), now, chrono::Duration::days(30));
        assert_eq!(s.check_refresh("h2", now, NO_REUSE), RefreshCheck::Current);
        assert_eq!(s.check_refresh("h1", now, NO_REUSE), RefreshCheck::Reused);
        assert_eq!(
            s.check_refresh("other", now, NO_REUSE),
            RefreshCheck::Unknown
        );
        assert_eq!(
            s.check_refresh("h2", now + chrono::Duration::days(31), NO_REUSE),
            RefreshCheck::Expired
        );
    }

    #[test]
    fn the_retired_token_is_reissued_only_within_the_reuse_interval() {
        let s = session();
        let now = s.created_at;
        let window = chrono::Duration::seconds(10);
        let s = s.rotated("h2".into(), now, chrono::Duration::days(30));
        assert_eq!(s.check_refresh("h1", now, window), RefreshCheck::Reissue);
        let later = now + chrono::Duration::seconds(9);
        assert_eq!(s.check_refresh("h1", later, window), RefreshCheck::Reissue);
        let after = now + window;
        assert_eq!(s.check_refresh("h1", after, window), RefreshCheck::Reused);
        // Only the token the last rotation retired: an older one is a replay at once.
        let s = s.rotated("h3".into(), now, chrono::Duration::days(30));
        assert_eq!(s.check_refresh("h2", now, window), RefreshCheck::Reissue);
        assert_eq!(s.check_refresh("h1", now, window), RefreshCheck::Reused);
    }

    #[test]
    fn remembers_a_bounded_number_of_used_hashes() {
        let mut s = session();
        let now = s.created_at;
        for i in 0..20 {
            s = s.rotated(format!("n{i}"), now, chrono::Duration::days(1));
        }
        assert_eq!(s.used_hashes.len(), REMEMBERED_REFRESH_HASHES);
        assert_eq!(s.check_refresh("n17", now, NO_REUSE), RefreshCheck::Reused);
        assert_eq!(
            s.check_refresh("n18", now, chrono::Duration::seconds(5)),
            RefreshCheck::Reissue
        );
    }

    #[test]
    fn session_ids_parse_only_our_shape() {
        let id = SessionId::from_random([0xab; 16]);
        assert_eq!(SessionId::parse(id.as_str()), Some(id));
        assert_eq!(SessionId::parse("USER#x"), None);
        assert_eq!(SessionId::parse(&"g".repeat(32)), None);
    }
}

#[cfg(test)]
mod profile_tests {
    use super::*;

    fn user() -> User {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("time");
        User {
            id: UserId::new_v7(1, [1; 10]),
            open_id: "open".into(),
            username: Some("old_user".into()),
            display_name: Some("Old Name".into()),
            avatar_url: Some("https://old/avatar".into()),
            scopes: vec!["user.info.basic".into()],
            tiktok: TikTokLink::Disconnected,
            created_at: at,
            updated_at: at,
            deletion_requested_at: None,
        }
    }

    #[test]
    fn a_profile_update_replaces_what_tiktok_said_and_keeps_the_rest() {
        let later = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        let u = user().with_profile(
            Profile {
                username: None,
                display_name: Some("New Name".into()),
                avatar_url: None,
            },
            later,
        );
        assert_eq!(u.display_name.as_deref(), Some("New Name"));
        assert_eq!(
            u.username.as_deref(),
            Some("old_user"),
            "not returned: kept"
        );
        assert_eq!(u.avatar_url.as_deref(), Some("https://old/avatar"));
        assert_eq!(u.tiktok, TikTokLink::Connected);
        assert_eq!(u.updated_at, later);
    }
}
