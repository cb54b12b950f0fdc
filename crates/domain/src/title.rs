use std::fmt;

use serde::{Deserialize, Serialize};

/// TikTok's caption limit, counted in UTF-16 code units as TikTok counts it.
pub const TITLE_MAX_UTF16_UNITS: usize = 2200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    #[error("title is {units} UTF-16 code units long; the maximum is {max}")]
    TooLong { units: usize, max: usize },
    #[error("title contains a control character (U+{code:04X}) that is not allowed")]
    ControlCharacter { code: u32 },
}

/// A video's caption as TikTok will receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct Title(String);

impl Title {
    pub fn parse(raw: impl Into<String>) -> Result<Self, TitleError> {
        let raw = raw.into();
        // NUL and other C0/C1 controls break logs, captions and some clients; line breaks and
        // tabs are legitimate in captions. Bidi controls are allowed: right-to-left captions
        // need them, and we never render titles as trusted markup.
        if let Some(c) = raw
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(TitleError::ControlCharacter { code: c as u32 });
        }
        let units = raw.encode_utf16().count();
        if units > TITLE_MAX_UTF16_UNITS {
            return Err(TitleError::TooLong {
                units,
                max: TITLE_MAX_UTF16_UNITS,
            });
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Title {
    type Error = TitleError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<Title> for String {
    fn from(t: Title) -> Self {
        t.0
    }
}

impl AsRef<str> for Title {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Title {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_utf16_units_not_bytes_or_chars() {
        // U+1F600 is one char, 4 UTF-8 bytes, 2 UTF-16 units.
        let emoji_limit = "😀".repeat(TITLE_MAX_UTF16_UNITS / 2);
        assert!(Title::parse(emoji_limit.clone()).is_ok());
        let over = format!("{emoji_limit}a");
        assert_eq!(
            Title::parse(over),
            Err(TitleError::TooLong {
                units: 2201,
                max: 2200
            })
        );
        // 2200 two-byte chars are 4400 bytes but 2200 units: allowed.
        assert!(Title::parse("é".repeat(2200)).is_ok());
    }

    #[test]
    fn rejects_nul_and_controls_but_keeps_newlines_and_bidi() {
        assert_eq!(
            Title::parse("a\0b"),
            Err(TitleError::ControlCharacter { code: 0 })
        );
        assert!(Title::parse("a\u{1b}[31m").is_err());
        assert!(Title::parse("line one\nline two\t#tag").is_ok());
        assert!(Title::parse("\u{202e}txet\u{202c}").is_ok());
        assert!(Title::parse("").is_ok(), "TikTok captions are optional");
    }
}
