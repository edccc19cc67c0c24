//! `GET /widget.js`: the chat widget (`widget/widget.js`, docs/widget.md), built into the binary
//! so the runner and the `elbatt-api` container serve exactly the file of their commit. The
//! Functions zips never serve it (they do not contain this crate).
//!
//! elbatt.no includes it by an unversioned URL, so it is cached briefly and revalidated with a
//! strong `ETag` (a hash of the file, fixed at compile time): a revalidation costs a `304` with
//! no body.

use elbatt::config::ConfigError;
use elbatt::context::Context;
use elbatt::http::{ApiError, Body, Function, Request, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

/// The widget's source, as committed.
pub const SOURCE: &str = include_str!("../../widget/widget.js");

/// Five minutes: a release reaches every visitor that soon; after that each page load costs a
/// `304` until the file changes.
const CACHE_CONTROL: &str = "public, max-age=300";

/// FNV-1a (64 bits): enough to tell two versions of one file apart, and computable in a
/// `const`, so no hashing crate is needed for it.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The widget served at `/widget.js`.
#[derive(Debug, Clone)]
pub struct Widget {
    etag: HeaderValue,
}

impl Default for Widget {
    fn default() -> Self {
        Self::new()
    }
}

impl Widget {
    pub fn new() -> Self {
        let etag = format!("\"w{:016x}\"", fnv1a(SOURCE.as_bytes()));
        Widget {
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"w\"")),
        }
    }

    /// The `ETag` it is served with.
    pub fn etag(&self) -> &str {
        self.etag.to_str().unwrap_or_default()
    }

    /// Whether `If-None-Match` names this version (weak comparison, as RFC 9110 §13.1.2 asks
    /// for this header; `*` matches any).
    fn not_modified(&self, headers: &HeaderMap) -> bool {
        let ours = self.etag();
        headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|tag| tag.trim())
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
    }

    fn answer(&self, req: &Request) -> Result<Response, ApiError> {
        // Mounted at `/widget.js`: anything below it is not a file we have.
        if req.uri().path() != "/" {
            return Err(ApiError::not_found("no function is mounted at this path"));
        }
        let fresh = self.not_modified(req.headers());
        let mut resp = Response::new(if fresh {
            Body::empty()
        } else {
            Body::full(SOURCE)
        });
        if fresh {
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
        }
        let h = resp.headers_mut();
        h.insert(header::ETAG, self.etag.clone());
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        );
        if !fresh {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/javascript; charset=utf-8"),
            );
        }
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // elbatt.no loads it from another origin; a page with COEP may still do so.
        h.insert(
            "cross-origin-resource-policy",
            HeaderValue::from_static("cross-origin"),
        );
        Ok(resp)
    }
}

impl Function for Widget {
    const NAME: &'static str = "widget";
    const METHODS: &'static [Method] = &[Method::GET];
    type Error = ApiError;

    fn from_context(_ctx: &Context) -> Result<Self, ConfigError> {
        Ok(Widget::new())
    }

    async fn call(&self, req: Request) -> Result<Response, ApiError> {
        self.answer(&req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_follows_the_content() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        let w = Widget::new();
        assert!(
            w.etag().starts_with("\"w") && w.etag().len() == 19,
            "{}",
            w.etag()
        );
    }

    #[test]
    fn if_none_match_is_compared_weakly_and_in_lists() {
        let w = Widget::new();
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
            w.not_modified(&h)
        };
        assert!(with(w.etag()));
        assert!(with(&format!("W/{}", w.etag())));
        assert!(with(&format!("\"other\", {}", w.etag())));
        assert!(with("*"));
        assert!(!with("\"other\""));
        assert!(!w.not_modified(&HeaderMap::new()));
    }
}
