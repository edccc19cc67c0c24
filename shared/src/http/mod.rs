//! The handler contract shared by every function, and what wraps each call on every platform.
//!
//! A function is a value implementing [`Function`]: a `lambda_http::Request` in, a
//! [`Response`] or its own error type out, dependencies built once (by the one constructor every
//! function has, [`Function::from_context`]) and borrowed. Route tables hold functions of
//! different types as [`Handler`]s. [`dispatch`] wraps every call the same way whichever adapter
//! delivered the request (runner, container, Lambda, Scaleway Functions): request id, CORS,
//! `OPTIONS`, `405` with `Allow`, `HEAD` as `GET` without a body, the error body, one span and
//! one access-log line.

mod body;
mod cors;
mod error;

use std::borrow::Cow;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::time::Instant;

use futures_util::future::Either;
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;

pub use body::Body;
pub use error::{ApiError, HttpError, error_json, error_response};
/// The request body as `lambda_http` delivers it (`Empty`, `Text` or `Binary`).
pub use lambda_http::Body as RequestBody;
/// Handlers read query and path parameters through this, exactly as on Lambda.
pub use lambda_http::RequestExt;
pub use lambda_http::aws_lambda_events::query_map::QueryMap;
pub use lambda_http::request::RequestContext;

use crate::config::{ConfigError, CorsConfig, VarSpec};
use crate::context::Context;

/// What a handler receives: exactly what `lambda_http` would give it on AWS.
pub type Request = lambda_http::Request;
/// What a handler returns.
pub type Response = http::Response<Body>;
/// The future a [`Function`] returns (boxed so functions of different types can share a table).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Scaleway Functions refuse request payloads above 6 MiB; every target enforces the same.
pub const BODY_LIMIT: usize = 6 * 1024 * 1024;

/// The header carrying the request id (Scaleway's ingress sets it; adapters fill it when absent).
/// Header names are constants so that a lookup does not parse the name on every request.
pub const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");
/// The client and every proxy on the way, left to right.
pub const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: http::HeaderName = http::HeaderName::from_static("x-forwarded-proto");

/// Public paths (`/chat/{conversation_id}/events`), each with the methods it takes.
pub type Routes = &'static [(&'static str, &'static [Method])];

/// One serverless function.
pub trait Function: Send + Sync + Sized + 'static {
    /// Its name: its crate, its mount (`/<name>`) and its log field, e.g. `plate-lookup`.
    const NAME: &'static str;
    /// Methods it serves. `HEAD` is implied by `GET`; `OPTIONS` is answered by [`dispatch`].
    const METHODS: &'static [Method];
    /// Every public path it answers, as the runner serves it (`/plate-lookup/{plate}`, path
    /// parameters in braces), with the methods each takes: what `docs/openapi.json` must
    /// describe. The route table only knows mount prefixes, so local-dev's OpenAPI test checks
    /// the spec against these, these against the mounts and [`Function::METHODS`], and probes
    /// each on the running runner.
    const ROUTES: Routes = &[];
    /// Whether it may answer with a stream. A Scaleway Functions zip cannot deliver one, so its
    /// handler asks such a function for a whole answer instead.
    const STREAMS: bool = false;
    /// The variables it reads, beyond those every binary reads ([`crate::config::VARIABLES`]):
    /// for the runner's start-up report and `docs/configuration.md`.
    const VARIABLES: &'static [&'static [VarSpec]] = &[];
    /// Every expected failure of a call; [`dispatch`] turns it into the one JSON error body.
    type Error: HttpError + Send + 'static;

    /// The one constructor: everything the function needs, read once at start.
    ///
    /// # Errors
    /// A variable it reads is malformed (a missing key is not an error where the function can
    /// answer without it).
    fn from_context(ctx: &Context) -> Result<Self, ConfigError>;
    /// Handles one request. Not boxed here: [`Handler::handle`] boxes the future once, where
    /// a boxed future in each of the two traits cost a second allocation per request.
    fn call(&self, req: Request) -> impl Future<Output = Result<Response, Self::Error>> + Send;
    /// The path as it may appear in logs. Plates are personal data, so a function whose paths
    /// carry one overrides this to mask it.
    fn loggable_path<'a>(&self, path: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(path)
    }
    /// One line for the runner's start-up report, e.g. "ready" or what to set to enable it.
    fn status(&self) -> String {
        "ready".to_owned()
    }
    /// The largest request body it takes; the router refuses more (`413`) while reading, and
    /// reads none at all for a function that takes none (`0`: the default for functions that
    /// serve only methods without a body).
    fn body_limit(&self) -> BodyLimit {
        let bytes = if Self::METHODS.iter().any(takes_body) {
            BODY_LIMIT
        } else {
            0
        };
        BodyLimit {
            bytes,
            setting: None,
        }
    }
}

/// A function's request-body limit, and the variable that sets it (named in the `413`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    pub bytes: usize,
    pub setting: Option<&'static str>,
}

impl BodyLimit {
    /// The `413` for a body over this limit.
    pub fn refusal(&self) -> ApiError {
        let mut err = ApiError::payload_too_large(self.bytes);
        if let Some(name) = self.setting {
            err.message = format!("{} (set by {name})", err.message);
        }
        err
    }
}

fn takes_body(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// Whether a function serving `methods` answers `method` itself (`OPTIONS` and a `405` are
/// answered by [`dispatch`]).
pub fn serves(methods: &[Method], method: &Method) -> bool {
    methods.contains(method) || (*method == Method::HEAD && methods.contains(&Method::GET))
}

/// A [`Function`] with its types erased, so functions of different types share a route table.
/// Every `Function` is one; nothing else needs to implement it.
pub trait Handler: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn methods(&self) -> &'static [Method];
    fn routes(&self) -> Routes;
    /// Calls the function and completes its answer with `finish`, inside the request's scope
    /// (its log lines carry the request id). One allocation holds the function's future and
    /// what the response still needs, so the futures above it stay small.
    fn handle(&self, req: Request, finish: Finish) -> BoxFuture<'_, Response>;
    fn loggable_path<'a>(&self, path: &'a str) -> Cow<'a, str>;
    fn status(&self) -> String;
    fn body_limit(&self) -> BodyLimit;
}

impl<F: Function> Handler for F {
    fn name(&self) -> &'static str {
        F::NAME
    }
    fn methods(&self) -> &'static [Method] {
        F::METHODS
    }
    fn routes(&self) -> Routes {
        F::ROUTES
    }
    fn handle(&self, req: Request, finish: Finish) -> BoxFuture<'_, Response> {
        let call = self.call(req);
        let id = finish.request_id.clone();
        Box::pin(crate::telemetry::in_request(id, async move {
            let result = call.await;
            // Inside the request's scope: a failure's log line carries the request id.
            let resp = match result {
                Ok(resp) => resp,
                Err(e) => error_response(&e, Some(finish.id())),
            };
            finish.finish(resp)
        }))
    }
    fn loggable_path<'a>(&self, path: &'a str) -> Cow<'a, str> {
        Function::loggable_path(self, path)
    }
    fn status(&self) -> String {
        Function::status(self)
    }
    fn body_limit(&self) -> BodyLimit {
        Function::body_limit(self)
    }
}

/// A `200` (or other status) JSON response.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => json_bytes(status, bytes.into()),
        Err(e) => {
            tracing::error!(error = %e, "response did not serialise");
            error_response(
                &ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                ),
                None,
            )
        }
    }
}

/// A JSON response from a body already serialised (e.g. one kept for reuse).
pub fn json_bytes(status: StatusCode, body: bytes::Bytes) -> Response {
    let mut resp = Response::new(Body::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Decodes `%XX` escapes (invalid UTF-8 becomes U+FFFD, which no parser downstream accepts).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The request id the adapter put on the request.
pub fn request_id(req: &Request) -> Option<&str> {
    req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok())
}

/// The methods `routes` declares for `path`, where `{name}` stands for one non-empty segment.
fn route_methods(routes: Routes, path: &str) -> Option<&'static [Method]> {
    let matches = |template: &str| {
        let (mut t, mut p) = (template.split('/'), path.split('/'));
        loop {
            match (t.next(), p.next()) {
                (None, None) => return true,
                (Some(want), Some(got))
                    if want == got || (want.starts_with('{') && !got.is_empty()) => {}
                _ => return false,
            }
        }
    };
    routes
        .iter()
        .find(|(template, _)| matches(template))
        .map(|(_, methods)| *methods)
}

/// The methods `path` takes. Matching it against the declared routes (about 500 instructions)
/// is needed only by a function whose routes differ in their methods (`chat`'s `POST /chat` and
/// `GET …/events`); for every other one, such as `health`, it could only give `methods()` back.
fn methods_for(function: &dyn Handler, path: &str) -> &'static [Method] {
    let all = function.methods();
    let routes = function.routes();
    if routes.iter().all(|(_, methods)| *methods == all) {
        return all;
    }
    route_methods(routes, path).unwrap_or(all)
}

/// A response made at once (a preflight, a `405`, a refusal) or on its way from a function:
/// what [`dispatch`] and the router give back. Only a function's call is boxed, so the future
/// hyper keeps for a request holds this rather than every layer's copy of the request (which
/// came to 3 KiB, past the allocator's per-thread cache, and was copied at each layer).
pub type Answer<'a> = Either<Ready<Response>, BoxFuture<'a, Response>>;

/// An answer that is already made.
pub fn answered<'a>(resp: Response) -> Answer<'a> {
    Either::Left(std::future::ready(resp))
}

/// Calls `function` with everything every platform must do around it.
pub fn dispatch<'a>(function: &'a dyn Handler, cors: &CorsConfig, req: Request) -> Answer<'a> {
    dispatch_sent(function, cors, req, None, None)
}

/// [`dispatch`] for a request whose URI a router changed: `sent` is the URI as the client sent
/// it (before the mount prefix was removed), for the access line and per-path methods only,
/// since no platform gives a function this.
///
/// `request_id`: the request's `X-Request-Id` when the caller has it at hand (the router's
/// adapter set it), so that it is not looked up again.
///
/// Everything up to the function's call happens here, at once; what the response needs after
/// it travels in a [`Finish`].
pub fn dispatch_sent<'a>(
    function: &'a dyn Handler,
    cors: &CorsConfig,
    req: Request,
    sent: Option<http::Uri>,
    request_id: Option<HeaderValue>,
) -> Answer<'a> {
    // The adapters put a valid id on every request; `-` only for a request built by hand.
    let request_id = request_id
        .or_else(|| req.headers().get(REQUEST_ID).cloned())
        .filter(|v| v.to_str().is_ok())
        .unwrap_or_else(|| HeaderValue::from_static("-"));
    crate::telemetry::in_request_sync(request_id.clone(), || {
        begin(function, cors, req, sent, request_id)
    })
}

/// What an answer still needs once the function has given its response: `HEAD` without a body,
/// CORS, the request id header and the access line.
pub struct Finish {
    started: Instant,
    function: &'static str,
    method: Method,
    is_head: bool,
    /// The URI as the client sent it.
    sent: http::Uri,
    /// The path for the access line where the function masks it (`Function::loggable_path`);
    /// `None`: `sent`'s own path.
    logged_path: Option<String>,
    origin: Option<HeaderValue>,
    request_id: HeaderValue,
}

impl Finish {
    fn id(&self) -> &str {
        self.request_id.to_str().unwrap_or("-")
    }

    fn finish(self, mut resp: Response) -> Response {
        if self.is_head {
            // Keep the headers (and the length the GET would have had), drop the body.
            if let Some(len) = http_body::Body::size_hint(resp.body()).exact() {
                resp.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            *resp.body_mut() = Body::empty();
        }
        cors::decorate(&mut resp, self.origin.as_ref());
        resp.headers_mut().insert(REQUEST_ID, self.request_id);
        crate::telemetry::access(&crate::telemetry::Access {
            function: self.function,
            method: self.method.as_str(),
            path: self.logged_path.as_deref().unwrap_or(self.sent.path()),
            status: resp.status().as_u16(),
            duration_ms: (self.started.elapsed().as_secs_f64() * 1e5).round() / 100.0,
        });
        resp
    }
}

impl std::fmt::Debug for Finish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finish")
            .field("function", &self.function)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// [`dispatch_sent`] inside the request's scope.
fn begin<'a>(
    function: &'a dyn Handler,
    cors: &CorsConfig,
    mut req: Request,
    sent: Option<http::Uri>,
    request_id: HeaderValue,
) -> Answer<'a> {
    let started = Instant::now();
    let method = req.method().clone();
    // The full path as the client sent it. A URI shares its bytes: cloning one counts a
    // reference.
    let sent = sent.unwrap_or_else(|| req.uri().clone());
    let full = sent.path();
    // `Allow`, preflights and `405` per path (`OPTIONS /ready` must not offer `DELETE`): the
    // methods of the declared route this is, else all the function serves.
    let methods = methods_for(function, full);
    let logged_path = match function.loggable_path(full) {
        Cow::Borrowed(path) if path == full => None,
        path => Some(path.into_owned()),
    };
    let origin = cors::allowed_origin(cors, req.headers()).cloned();
    let is_head = method == Method::HEAD && !methods.contains(&Method::HEAD);
    let finish = Finish {
        started,
        function: function.name(),
        method,
        is_head,
        sent,
        logged_path,
        origin,
        request_id,
    };
    let method = &finish.method;
    // Only preflights and 405s name the methods: the served path does not build the list.
    let allow = || cors::allow_header(methods);

    if *method == Method::OPTIONS && !methods.contains(&Method::OPTIONS) {
        let resp = cors::preflight(req.headers(), finish.origin.as_ref(), &allow());
        answered(finish.finish(resp))
    } else if !(methods.contains(method) || is_head && methods.contains(&Method::GET)) {
        let allow = allow();
        let mut resp = error_response(
            &ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed here; use {allow}"),
            ),
            Some(finish.id()),
        );
        if let Ok(v) = HeaderValue::from_str(&allow) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        answered(finish.finish(resp))
    } else {
        if is_head {
            *req.method_mut() = Method::GET;
        }
        Either::Right(function.handle(req, finish))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Routed<const UNIFORM: bool>;

    impl<const UNIFORM: bool> Function for Routed<UNIFORM> {
        const NAME: &'static str = "routed";
        const METHODS: &'static [Method] = if UNIFORM {
            &[Method::GET]
        } else {
            &[Method::POST, Method::GET]
        };
        const ROUTES: Routes = if UNIFORM {
            &[("/a", &[Method::GET]), ("/a/{id}", &[Method::GET])]
        } else {
            &[("/a", &[Method::POST]), ("/a/{id}/events", &[Method::GET])]
        };
        type Error = ApiError;

        fn from_context(_: &Context) -> Result<Self, ConfigError> {
            Ok(Routed)
        }

        async fn call(&self, _: Request) -> Result<Response, ApiError> {
            Err(ApiError::not_found("unused"))
        }
    }

    #[tokio::test]
    async fn the_access_line_writes_method_and_path_as_display_unquoted() {
        // Recorded with `%`, the text line reads `method=GET path=/a/x`; recorded as `str`
        // fields they would be quoted (`method="GET"`), which changed the line once.
        #[derive(Clone, Default)]
        struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Logs {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let req = http::Request::get("/a/x")
            .header(REQUEST_ID, "rid-access-1")
            .body(RequestBody::Empty)
            .unwrap();
        let cors = CorsConfig {
            origins: vec![],
            allow_localhost: false,
        };
        let resp = dispatch(&Routed::<true>, &cors, req).await;
        assert_eq!(resp.headers()[REQUEST_ID], "rid-access-1");
        let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
        let line = text
            .lines()
            .find(|l| l.contains(" access ") || l.ends_with(" access"))
            .unwrap_or_else(|| panic!("no access line in {text}"));
        assert!(
            line.contains("function=\"routed\" method=GET path=/a/x status=404"),
            "{line}"
        );
    }

    #[test]
    fn a_path_takes_its_declared_routes_methods() {
        let f = Routed::<false>;
        assert_eq!(methods_for(&f, "/a"), &[Method::POST]);
        assert_eq!(methods_for(&f, "/a/x/events"), &[Method::GET]);
        // Undeclared: what the function serves.
        assert_eq!(methods_for(&f, "/b"), &[Method::POST, Method::GET]);
    }

    #[test]
    fn routes_that_all_take_the_functions_methods_give_those_methods_for_any_path() {
        let f = Routed::<true>;
        for path in ["/a", "/a/x", "/b", "/"] {
            assert_eq!(methods_for(&f, path), &[Method::GET]);
            assert_eq!(
                route_methods(Routed::<true>::ROUTES, path).unwrap_or(&[Method::GET]),
                &[Method::GET]
            );
        }
    }
}
