//! The user's rights over their data: `GET /v1/me/export`, `DELETE /v1/me` and
//! `POST /v1/auth/tiktok/disconnect`. Handlers are thin; the rules are in
//! `services::account`.

mod delete;
mod disconnect;
pub mod dto;
mod export;

use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(export::export_me)
        .service(delete::delete_me)
        .service(disconnect::disconnect);
}
