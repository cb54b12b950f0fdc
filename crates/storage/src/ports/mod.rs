//! The ports the domain's use cases need from storage, one module per concern. Adapters:
//! `dynamo` and `s3` (production), `memory` (in-process tests).

mod account;
mod blobs;
mod publish;
mod sessions;
mod users;
mod videos;
mod webhooks;

pub use account::*;
pub use blobs::*;
pub use publish::*;
pub use sessions::*;
pub use users::*;
pub use videos::*;
pub use webhooks::*;
