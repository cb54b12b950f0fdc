//! The credentials a request carries: our access tokens (JWT), session cookies, CSRF, the
//! extractor that proves them (`AuthenticatedUser`), and the cache of sessions found alive.

pub mod cookies;
mod extractor;
pub(crate) mod jwt;
pub mod secrets;
pub mod session_cache;
mod verified;

pub use extractor::{AuthenticatedUser, check_csrf};
pub use jwt::{AccessClaims, JwtCodec, TokenError};
