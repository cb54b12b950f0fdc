//! Identifiers TikTok hands out. Kept as strings: post ids exceed 2^53 (§3.6), so a float
//! anywhere on the way would corrupt them, and TikTok may send any of them as text.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// Per-app user id (`open_id`).
    OpenId
);
string_id!(
    /// Id of one Content Posting task, e.g. `v_pub_url~v2.123456789` (max 64 chars).
    PublishId
);
string_id!(
    /// Id of a public TikTok post (~19 digits), kept as its decimal text.
    PostId
);
