//! The video bucket on S3.

mod blobs;
mod bootstrap;
mod credentials;
mod presign;

pub use blobs::S3Blobs;
pub use bootstrap::{BucketSetup, bootstrap_bucket};
