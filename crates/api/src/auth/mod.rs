//! Who is calling: our access JWTs and the extractor handlers use.

mod extractor;
mod jwt;

pub use extractor::AuthenticatedUser;
pub use jwt::{AccessClaims, JwtCodec, TokenError};
