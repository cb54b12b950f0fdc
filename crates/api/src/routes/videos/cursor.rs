//! Opaque page cursors. A cursor names only the last video of a page; the storage query
//! rebuilds the key from the caller's own id, so a cursor cannot reach another user's data.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use postiqo_domain::VideoId;

use crate::problem::{ApiError, ErrorCode};

const PREFIX: &str = "v1:";

pub fn encode(after: VideoId) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PREFIX}{after}"))
}

pub fn decode(raw: &str) -> Result<VideoId, ApiError> {
    let invalid = || {
        ApiError::new(ErrorCode::InvalidCursor)
            .detail("Use the next_cursor of a previous page as is.")
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
    text.strip_prefix(PREFIX)
        .and_then(|id| id.parse().ok())
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let id = VideoId::new_v7(42, [1; 10]);
        assert_eq!(decode(&encode(id)).ok(), Some(id));
        assert!(decode("").is_err());
        assert!(decode("not base64!").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("v2:whatever")).is_err());
    }
}
