//! Requests no route took: 405 with `Allow` when the path exists for other methods (known from
//! the OpenAPI document, the one list of routes), 404 otherwise.

use actix_web::dev::ResourceDef;
use actix_web::{HttpRequest, web};
use utoipa::openapi::OpenApi;

use crate::problem::{ApiError, ErrorCode};

/// Path templates and their methods, taken from the generated document.
pub struct KnownRoutes(Vec<(ResourceDef, Vec<String>)>);

impl KnownRoutes {
    pub fn from_openapi(doc: &OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods = Vec::new();
                for (m, op) in [
                    ("GET", &item.get),
                    ("POST", &item.post),
                    ("PUT", &item.put),
                    ("PATCH", &item.patch),
                    ("DELETE", &item.delete),
                ] {
                    if op.is_some() {
                        methods.push(m.to_owned());
                    }
                }
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        Self(routes)
    }

    fn allowed(&self, path: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, methods)| methods.join(", "))
    }
}

pub async fn not_found(
    req: HttpRequest,
    routes: web::Data<KnownRoutes>,
) -> Result<actix_web::HttpResponse, ApiError> {
    Err(match routes.allowed(req.path()) {
        Some(allow) => {
            let mut e =
                ApiError::new(ErrorCode::MethodNotAllowed).detail(format!("Allowed: {allow}."));
            e.allow = Some(allow);
            e
        }
        None => ApiError::new(ErrorCode::NotFound),
    })
}
