//! `/v1/videos`: create with presigned uploads, read, list, edit, delete, complete uploads.

mod create;
mod cursor;
mod delete;
pub mod dto;
mod read;
mod update;
mod upload;

use postiqo_domain::VideoId;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::problem::{ApiError, ErrorCode};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create::create_video)
        .service(read::list_videos)
        .service(read::get_video)
        .service(update::update_video)
        .service(delete::delete_video)
        .service(upload::complete_upload)
        .service(upload::part_urls)
        .service(upload::upload_url);
}

/// A malformed id cannot name one of the caller's videos: same answer as an unknown one.
pub(crate) fn parse_id(raw: &str) -> Result<VideoId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(ErrorCode::VideoNotFound).detail("No video with this id belongs to you.")
    })
}
