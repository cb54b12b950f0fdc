//! The table and the bucket as Postiqo needs them, in one place.
//!
//! `postiqo-api bootstrap` creates them from these values, and a test holds the CloudFormation
//! template (`deploy/aws/postiqo.yaml`) to the same values, so the two ways of creating storage
//! cannot drift apart. The IAM actions each program needs are listed here too, next to the
//! calls that need them.

use crate::dynamo::keys::{EXPIRES_AT, GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, GSI2SK, PK, SK};

/// A global secondary index: string hash and range keys, every attribute projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub hash_key: &'static str,
    pub range_key: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDefinition {
    /// `PAY_PER_REQUEST`: traffic is bursty (publishes, sign-ins) and small on average.
    pub billing_mode: &'static str,
    pub hash_key: &'static str,
    pub range_key: &'static str,
    /// Projection `ALL`: listings and the job queue read whole items from the index.
    pub indexes: &'static [IndexDefinition],
    /// Epoch seconds; DynamoDB deletes late, so reads check it too.
    pub ttl_attribute: &'static str,
}

impl TableDefinition {
    /// Every key attribute of the table and its indexes; all are strings.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.hash_key, self.range_key];
        for index in self.indexes {
            names.extend([index.hash_key, index.range_key]);
        }
        names
    }
}

pub const TABLE: TableDefinition = TableDefinition {
    billing_mode: "PAY_PER_REQUEST",
    hash_key: PK,
    range_key: SK,
    indexes: &[
        IndexDefinition {
            name: GSI1,
            hash_key: GSI1PK,
            range_key: GSI1SK,
        },
        IndexDefinition {
            name: GSI2,
            hash_key: GSI2PK,
            range_key: GSI2SK,
        },
    ],
    ttl_attribute: EXPIRES_AT,
};

/// The bucket's one CORS rule; its allowed origins are the deployment's
/// (`POSTIQO_ALLOWED_ORIGINS`, or the template's `AllowedOrigins` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorsDefinition {
    pub allowed_methods: &'static [&'static str],
    pub allowed_headers: &'static [&'static str],
    /// Browsers need to read the ETag of each part to complete a multipart upload.
    pub expose_headers: &'static [&'static str],
    pub max_age_secs: i32,
}

pub const CORS: CorsDefinition = CorsDefinition {
    allowed_methods: &["PUT", "GET", "HEAD"],
    allowed_headers: &["*"],
    expose_headers: &["ETag"],
    max_age_secs: 3600,
};

/// The object tag that records whether an upload was confirmed by upload-complete.
pub const UPLOAD_TAG_KEY: &str = "postiqo-upload";
pub const UPLOAD_PENDING: &str = "pending";
pub const UPLOAD_CONFIRMED: &str = "confirmed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleFilter {
    /// Every object in the bucket.
    Everything,
    /// Objects carrying this tag.
    Tag {
        key: &'static str,
        value: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleAction {
    /// Abort multipart uploads still unfinished this many days after they started.
    AbortIncompleteMultipartUpload { days: i32 },
    /// Delete objects this many days after they were created.
    Expire { days: i32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleRuleDefinition {
    pub id: &'static str,
    pub filter: LifecycleFilter,
    pub action: LifecycleAction,
}

pub const LIFECYCLE_RULES: &[LifecycleRuleDefinition] = &[
    // Parts of an abandoned multipart upload are billed until it is aborted.
    LifecycleRuleDefinition {
        id: "abort-incomplete-multipart-uploads",
        filter: LifecycleFilter::Everything,
        action: LifecycleAction::AbortIncompleteMultipartUpload { days: 1 },
    },
    // An upload never confirmed keeps its pending tag. Its video record expires after
    // POSTIQO_PENDING_VIDEO_TTL_SECS (a day by default); a day more of grace keeps a slow
    // upload-complete from racing the rule.
    LifecycleRuleDefinition {
        id: "expire-unconfirmed-uploads",
        filter: LifecycleFilter::Tag {
            key: UPLOAD_TAG_KEY,
            value: UPLOAD_PENDING,
        },
        action: LifecycleAction::Expire { days: 2 },
    },
];

/// IAM actions the API (`serve`, `worker`, `tiktok-verification-file`) needs: item access on
/// the table and its indexes, object access on the bucket. Transactions need no action of
/// their own: IAM checks each item's Put/Update/Delete. A presigned URL acts with the rights
/// of whoever signed it, so presigned PUTs (with their tag) need PutObject and
/// PutObjectTagging, and HeadBucket needs ListBucket.
pub const API_ACTIONS: &[&str] = &[
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:PutObject",
    "s3:PutObjectTagging",
];

/// IAM actions `postiqo-api bootstrap` needs to create the table and the bucket.
pub const BOOTSTRAP_ACTIONS: &[&str] = &[
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:UpdateTimeToLive",
    "s3:CreateBucket",
    "s3:PutBucketCORS",
    "s3:PutLifecycleConfiguration",
];
