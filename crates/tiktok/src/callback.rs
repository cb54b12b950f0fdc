use std::fmt;

use secrecy::SecretString;

use crate::{OAuthErrorCode, config::parse_scopes};

/// What TikTok appends to `redirect_uri` after the user approved (§1.3).
#[derive(Clone)]
pub struct AuthorizationCallback {
    /// Already URL-decoded, ready for [`crate::TikTokClient::exchange_code`].
    pub code: SecretString,
    /// Compare with the stored `state` before exchanging the code.
    pub state: String,
    /// Scopes the user granted; toggleable scopes may have been unticked.
    pub scopes: Vec<String>,
}

impl fmt::Debug for AuthorizationCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCallback")
            .field("code", &"[redacted]")
            .field("state", &self.state)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A callback that carries no usable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// `error=..` in the callback, e.g. `access_denied` when the user pressed "Cancel".
    #[error("authorization refused: `{error}`: {description}")]
    Refused {
        error: OAuthErrorCode,
        description: String,
        state: Option<String>,
    },
    #[error("callback query has no `{0}`")]
    Missing(&'static str),
}

/// Parses the raw query string of the redirect back from TikTok.
pub fn parse_authorization_callback(query: &str) -> Result<AuthorizationCallback, CallbackError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let (mut code, mut state, mut scopes, mut error, mut description) =
        (None, None, None, None, None);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "code" => code = Some(value),
            "state" => state = Some(value),
            "scopes" => scopes = Some(value),
            "error" => error = Some(value),
            "error_description" => description = Some(value),
            _ => {}
        }
    }
    if let Some(error) = error.filter(|e| !e.is_empty()) {
        return Err(CallbackError::Refused {
            error: OAuthErrorCode::parse(&error),
            description: description.unwrap_or_default(),
            state,
        });
    }
    Ok(AuthorizationCallback {
        code: SecretString::from(
            code.filter(|c| !c.is_empty())
                .ok_or(CallbackError::Missing("code"))?,
        ),
        state: state.ok_or(CallbackError::Missing("state"))?,
        scopes: scopes.as_deref().map(parse_scopes).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn approved_callback_decodes_code() {
        let cb = parse_authorization_callback(
            "?code=abc%2A0%21def&scopes=user.info.basic%2Cvideo.publish&state=s1",
        )
        .expect("ok");
        assert_eq!(cb.code.expose_secret(), "abc*0!def");
        assert_eq!(cb.scopes, vec!["user.info.basic", "video.publish"]);
        assert_eq!(cb.state, "s1");
        assert!(!format!("{cb:?}").contains("abc"));
    }

    #[test]
    fn denied_callback() {
        let err = parse_authorization_callback(
            "error=access_denied&error_description=User+cancelled&state=s1",
        )
        .expect_err("denied");
        assert_eq!(
            err,
            CallbackError::Refused {
                error: OAuthErrorCode::AccessDenied,
                description: "User cancelled".into(),
                state: Some("s1".into()),
            }
        );
        assert_eq!(
            parse_authorization_callback("state=x").expect_err("no code"),
            CallbackError::Missing("code")
        );
    }
}
