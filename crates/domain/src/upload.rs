use serde::{Deserialize, Serialize};

use crate::VideoSize;

/// S3's smallest allowed part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest number of parts in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;
const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// At most this many parts per upload (parts grow instead, in whole MiB): every part is one
/// presigned URL in the create response and one line of the completion, so the API's work for
/// an upload stays flat from 100 MiB to the largest file (docs/benchmarks.md). Ten parts keep a
/// failed part's resend to a tenth of the file, and a browser still sends several at once.
pub const PLANNED_PARTS: u64 = 10;
const MIB: u64 = 1024 * 1024;

/// How uploads are shaped: sizes from configuration, limits from S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadPolicy {
    /// Largest declared size accepted at all.
    pub max_size: u64,
    /// Declared sizes above this use a multipart upload.
    pub multipart_threshold: u64,
    /// Preferred part size; raised when the file would need more than [`PLANNED_PARTS`] parts.
    pub part_size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadPlanError {
    #[error("part size must be between 5 MiB and 5 GiB")]
    PartSize,
    #[error("the multipart threshold must be at least the part size")]
    Threshold,
}

impl UploadPolicy {
    pub fn validate(self) -> Result<Self, UploadPlanError> {
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return Err(UploadPlanError::PartSize);
        }
        if self.multipart_threshold < self.part_size {
            return Err(UploadPlanError::Threshold);
        }
        Ok(self)
    }

    /// One presigned PUT up to the threshold, parts above it.
    pub fn plan(&self, size: VideoSize) -> UploadPlan {
        let bytes = size.bytes();
        if bytes <= self.multipart_threshold {
            return UploadPlan::Single;
        }
        let spread = bytes.div_ceil(PLANNED_PARTS).div_ceil(MIB) * MIB;
        let part_size = self
            .part_size
            .max(spread.min(MAX_PART_SIZE))
            .max(bytes.div_ceil(MAX_PARTS));
        UploadPlan::Multipart {
            part_size,
            part_count: bytes.div_ceil(part_size),
        }
    }
}

/// The shape of one video's upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UploadPlan {
    Single,
    Multipart { part_size: u64, part_count: u64 },
}

impl UploadPlan {
    /// The byte length of part `number` (1-based), or `None` outside the plan.
    pub fn part_len(&self, size: VideoSize, number: u64) -> Option<u64> {
        match *self {
            UploadPlan::Single => None,
            UploadPlan::Multipart {
                part_size,
                part_count,
            } => {
                if number == 0 || number > part_count {
                    return None;
                }
                let start = (number - 1) * part_size;
                Some((size.bytes() - start).min(part_size))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> UploadPolicy {
        UploadPolicy {
            max_size: 4 * 1024 * MIB,
            multipart_threshold: 64 * MIB,
            part_size: 16 * MIB,
        }
        .validate()
        .expect("valid policy")
    }

    #[test]
    fn small_files_are_one_put() {
        let size = VideoSize::parse(64 * MIB, u64::MAX).expect("size");
        assert_eq!(policy().plan(size), UploadPlan::Single);
    }

    #[test]
    fn large_files_are_split_and_parts_add_up() {
        let size = VideoSize::parse(100 * MIB + 3, u64::MAX).expect("size");
        let plan = policy().plan(size);
        assert_eq!(
            plan,
            UploadPlan::Multipart {
                part_size: 16 * MIB,
                part_count: 7
            }
        );
        let total: u64 = (1..=7).map(|n| plan.part_len(size, n).expect("part")).sum();
        assert_eq!(total, size.bytes());
        assert_eq!(plan.part_len(size, 7), Some(4 * MIB + 3));
        assert_eq!(plan.part_len(size, 0), None);
        assert_eq!(plan.part_len(size, 8), None);
    }

    #[test]
    fn big_files_get_bigger_parts_not_more_of_them() {
        for (size, part_size, part_count) in [
            (200 * MIB + 3, 21 * MIB, 10),
            (1024 * MIB, 103 * MIB, 10),
            (4096 * MIB, 410 * MIB, 10),
        ] {
            let size = VideoSize::parse(size, u64::MAX).expect("size");
            let plan = policy().plan(size);
            assert_eq!(
                plan,
                UploadPlan::Multipart {
                    part_size,
                    part_count
                },
                "{size:?}"
            );
            let total: u64 = (1..=part_count)
                .map(|n| plan.part_len(size, n).expect("part"))
                .sum();
            assert_eq!(total, size.bytes());
        }
    }

    #[test]
    fn part_size_grows_to_stay_under_s3_part_limit() {
        let size = VideoSize::parse(200_000 * MIB, u64::MAX).expect("size");
        match policy().plan(size) {
            UploadPlan::Multipart {
                part_count,
                part_size,
            } => {
                assert!(part_count <= MAX_PARTS);
                assert!(part_size >= 16 * MIB);
            }
            UploadPlan::Single => panic!("expected multipart"),
        }
    }

    #[test]
    fn rejects_part_sizes_s3_would_refuse() {
        let mut p = policy();
        p.part_size = MIB;
        assert_eq!(p.validate(), Err(UploadPlanError::PartSize));
        let mut p = policy();
        p.multipart_threshold = 8 * MIB;
        assert_eq!(p.validate(), Err(UploadPlanError::Threshold));
    }
}
