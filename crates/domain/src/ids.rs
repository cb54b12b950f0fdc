use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct IdParseError {
    pub kind: &'static str,
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
        pub struct $name(Uuid);

        impl $name {
            /// A new id. UUIDv7: time-ordered (so keys sort by creation) with 74 random bits
            /// (so ids cannot be guessed from a neighbour).
            pub fn new_v7(unix_millis: u64, random: [u8; 10]) -> Self {
                Self(uuid::Builder::from_unix_timestamp_millis(unix_millis, &random).into_uuid())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Hyphenated lower case: the one spelling we store, sort and compare.
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only the canonical hyphenated form: two spellings of one id would defeat
                // key-based isolation checks and caching.
                if s.len() != 36 {
                    return Err(IdParseError { kind: $kind });
                }
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| IdParseError { kind: $kind })
            }
        }
    };
}

uuid_id!(
    /// Postiqo's own id for a user (never TikTok's open_id, which is per app and may change
    /// owner semantics if TikTok says so).
    UserId,
    "user"
);
uuid_id!(
    /// A video's id: time-sortable and unguessable.
    VideoId,
    "video"
);

/// Where a video's bytes live in the bucket. Chosen by the server from ids only, never from
/// user input, and always under the owner's prefix so an account's objects can be listed and
/// deleted together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn for_video(owner: UserId, video: VideoId) -> Self {
        Self(format!("{}{}/source", Self::user_prefix(owner), video))
    }

    /// Prefix holding every video object of one user.
    pub fn user_prefix(owner: UserId) -> String {
        format!("{}videos/", Self::account_prefix(owner))
    }

    /// Prefix holding every object of one user, whatever it is: deleting an account deletes
    /// everything under it. The trailing slash keeps it from matching another id that merely
    /// starts the same way.
    pub fn account_prefix(owner: UserId) -> String {
        format!("users/{owner}/")
    }

    /// Rebuilds a key read back from storage; only keys of the shape we write are accepted:
    /// both ids hyphenated, as `for_video` writes them. Fixed offsets, no substring search:
    /// every item of a video list passes here.
    pub fn parse_stored(s: &str) -> Option<Self> {
        const ID: usize = 36;
        let rest = s.strip_prefix("users/")?;
        let user = rest.get(..ID)?;
        let rest = rest.get(ID..)?.strip_prefix("/videos/")?;
        let video = rest.get(..ID)?;
        (rest.get(ID..)? == "/source"
            && user.parse::<UserId>().is_ok()
            && video.parse::<VideoId>().is_ok())
        .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ObjectKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_ids_sort_by_time() {
        let a = VideoId::new_v7(1_000, [9; 10]);
        let b = VideoId::new_v7(2_000, [0; 10]);
        assert!(a < b);
        assert!(
            a.to_string() < b.to_string(),
            "string order must match time order"
        );
    }

    #[test]
    fn parse_accepts_only_canonical_form() {
        let id = VideoId::new_v7(1_700_000_000_000, [7; 10]);
        assert_eq!(id.to_string().parse::<VideoId>(), Ok(id));
        let simple = id.as_uuid().simple().to_string();
        assert!(simple.parse::<VideoId>().is_err());
        assert!("not-an-id".parse::<VideoId>().is_err());
        let braced = format!("{{{id}}}");
        assert!(braced.parse::<VideoId>().is_err());
    }

    #[test]
    fn object_key_is_under_the_owner_prefix_and_round_trips() {
        let owner = UserId::new_v7(1, [1; 10]);
        let video = VideoId::new_v7(2, [2; 10]);
        let key = ObjectKey::for_video(owner, video);
        assert!(key.as_str().starts_with(&ObjectKey::user_prefix(owner)));
        assert!(key.as_str().starts_with(&ObjectKey::account_prefix(owner)));
        assert!(ObjectKey::account_prefix(owner).ends_with('/'));
        assert_eq!(ObjectKey::parse_stored(key.as_str()), Some(key.clone()));
        assert_eq!(ObjectKey::parse_stored("users/x/videos/y/source"), None);
        assert_eq!(ObjectKey::parse_stored("../etc/passwd"), None);
        for bad in [
            format!("{}x", key.as_str()),
            key.as_str().replace("/source", "/sourc"),
            key.as_str().replace("/videos/", "/video/"),
            format!("users/{owner}/videos/{video}/source/extra"),
            format!("users/{owner}é/videos/{video}/source"),
            format!("users/é{}/videos/{video}/source", &owner.to_string()[1..]),
        ] {
            assert_eq!(ObjectKey::parse_stored(&bad), None, "{bad}");
        }
    }
}
