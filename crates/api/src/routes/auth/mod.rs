//! `/v1/auth`: TikTok sign-in and our sessions.

mod callback;
pub mod dto;
mod login;
mod session;

use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(login::login)
        .service(callback::callback)
        .service(session::token)
        .service(session::refresh)
        .service(session::logout)
        .service(session::csrf);
}

fn user_agent(req: &actix_web::HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
