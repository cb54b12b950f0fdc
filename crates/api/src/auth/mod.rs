//! Who is calling: our access JWTs, session cookies, CSRF, and the extractor handlers use.

pub mod cookies;
mod extractor;
pub(crate) mod jwt;
pub mod secrets;
pub mod session_cache;

pub use extractor::{AuthenticatedUser, check_csrf};
pub use jwt::{AccessClaims, JwtCodec, TokenError};
