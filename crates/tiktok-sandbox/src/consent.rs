//! HTML of the consent and error pages. Self-contained (no scripts, images or external
//! styles) so the strict CSP can forbid everything but inline styles and the form posts.

use std::fmt::Write as _;

use actix_web::{HttpResponse, http::StatusCode};

use crate::{model::TestUser, oauth::AuthorizeRequest};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;\
padding:0 1rem;color:#161823}h1{font-size:1.4rem}fieldset{margin:1rem 0;border:1px solid #ccc;\
border-radius:6px}label{display:block;margin:.3rem 0}input[type=text]{width:100%;box-sizing:\
border-box;padding:.3rem}button{padding:.5rem 1.2rem;margin-right:.5rem;border-radius:4px;\
border:0;font-size:1rem}.approve{background:#fe2c55;color:#fff}.deny{background:#eee}\
code{background:#f4f4f4;padding:0 .2rem}.error{color:#b00020}";

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Browsers apply `form-action` to every redirect that follows the form post: the app's
/// callback, and then wherever the app sends the user next (an origin the sandbox cannot
/// know). So forms may go to this page and to any http(s) URL; scripts, frames and everything
/// else stay forbidden.
fn csp(redirect_origin: Option<&str>) -> String {
    let extra = redirect_origin.map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'{extra} http: https:; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

fn html(
    status: StatusCode,
    redirect_origin: Option<&str>,
    title: &str,
    body: &str,
) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", csp(redirect_origin)))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cache-Control", "no-store"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
            escape(title)
        ))
}

/// Like TikTok's "Something went wrong — correct the following: <param>" page; no redirect,
/// because the redirect URI itself may be what is wrong.
pub(crate) fn error_page(param: &str, detail: &str) -> HttpResponse {
    let body = format!(
        "<h1>Something went wrong</h1><p class=\"error\">We couldn't log in with TikTok. \
         This may be due to specific app settings.</p><p>If you're a developer, correct the \
         following and try again: <code>{}</code></p><p>{}</p>",
        escape(param),
        escape(detail)
    );
    html(
        StatusCode::BAD_REQUEST,
        None,
        "TikTok sandbox: error",
        &body,
    )
}

fn hidden(out: &mut String, name: &str, value: &str) {
    let _ = write!(
        out,
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        escape(name),
        escape(value)
    );
}

pub(crate) fn page(
    req: &AuthorizeRequest,
    redirect_origin: &str,
    users: &[TestUser],
) -> HttpResponse {
    let mut f = String::new();
    let _ = write!(
        f,
        "<h1>TikTok sandbox: authorize app <code>{}</code></h1>\
         <p>Redirects to <code>{}</code>.</p><form method=\"post\" action=\"/v2/auth/authorize/\">",
        escape(&req.client_key),
        escape(&req.redirect_uri)
    );
    hidden(&mut f, "client_key", &req.client_key);
    hidden(&mut f, "response_type", "code");
    hidden(&mut f, "redirect_uri", &req.redirect_uri);
    hidden(&mut f, "scope", &req.scopes.join(","));
    if let Some(state) = &req.state {
        hidden(&mut f, "state", state);
    }
    if let Some(challenge) = &req.code_challenge {
        hidden(&mut f, "code_challenge", challenge);
        hidden(&mut f, "code_challenge_method", "S256");
    }

    f.push_str("<fieldset><legend>Log in as</legend>");
    for (i, u) in users.iter().enumerate() {
        let _ = write!(
            f,
            "<label><input type=\"radio\" name=\"user\" value=\"{}\"{}> {} \
             (<code>@{}</code>, open_id <code>{}</code>)</label>",
            escape(&u.open_id),
            if i == 0 { " checked" } else { "" },
            escape(&u.display_name),
            escape(&u.username),
            escape(&u.open_id)
        );
    }
    let _ = write!(
        f,
        "<label><input type=\"radio\" name=\"user\" value=\"__new__\"{}> New test user:</label>\
         <label>Username <input type=\"text\" name=\"new_username\"></label>\
         <label>Display name <input type=\"text\" name=\"new_display_name\"></label>\
         <label>Avatar URL <input type=\"text\" name=\"new_avatar_url\"></label>\
         <label>open_id (empty = generated) <input type=\"text\" name=\"new_open_id\"></label>\
         </fieldset>",
        if users.is_empty() { " checked" } else { "" }
    );

    f.push_str("<fieldset><legend>Permissions</legend>");
    for scope in &req.scopes {
        if scope == crate::oauth::REQUIRED_SCOPE {
            // Not toggleable on TikTok either; the hidden field keeps it in the grant.
            hidden(&mut f, "granted_scope", scope);
            let _ = write!(
                f,
                "<label><input type=\"checkbox\" checked disabled> <code>{}</code> (required)</label>",
                escape(scope)
            );
        } else {
            let _ = write!(
                f,
                "<label><input type=\"checkbox\" name=\"granted_scope\" value=\"{0}\" checked> \
                 <code>{0}</code></label>",
                escape(scope)
            );
        }
    }
    f.push_str(
        "</fieldset><button class=\"approve\" name=\"decision\" value=\"approve\">Authorize</button>\
         <button class=\"deny\" name=\"decision\" value=\"deny\">Cancel</button></form>",
    );
    html(
        StatusCode::OK,
        Some(redirect_origin),
        "TikTok sandbox: authorize",
        &f,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn csp_names_redirect_origin() {
        let c = csp(Some("https://app.example.com"));
        assert!(c.starts_with(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https://app.example.com http: https:;"
        ));
        assert!(c.contains("frame-ancestors 'none'"));
    }
}
