//! The video bucket on S3.

mod blobs;
mod bootstrap;

pub use blobs::S3Blobs;
pub use bootstrap::{BucketSetup, bootstrap_bucket};
