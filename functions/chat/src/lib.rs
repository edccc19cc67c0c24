//! `chat`: placeholder until its own issue lands; answers 503 "not implemented yet".

use elbatt::config::{ConfigError, Env};
use elbatt::http::{ApiError, BoxFuture, Function, Request, Response, error_response, request_id};
use http::{Method, StatusCode};

#[derive(Debug, Clone, Default)]
pub struct Chat;

impl Chat {
    /// # Errors
    /// Never yet.
    pub fn from_env(_env: &Env) -> Result<Self, ConfigError> {
        Ok(Chat)
    }
}

impl Function for Chat {
    fn name(&self) -> &'static str {
        "chat"
    }
    fn methods(&self) -> &'static [Method] {
        &[Method::POST]
    }
    fn call(&self, req: Request) -> BoxFuture<'_, Response> {
        Box::pin(async move {
            let err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_implemented",
                "not implemented yet",
            );
            error_response(&err, request_id(&req))
        })
    }
}
