//! Turns a request that arrived over plain HTTP (runner, container, Kubernetes) into the same
//! `lambda_http::Request` the Lambda adapter builds from an API Gateway v2 event, so a handler
//! cannot tell the platforms apart.
//!
//! Filled the way `lambda_http` fills them for API Gateway v2 (`$default` stage) on the
//! function's own endpoint — so the path, raw path and URI are the path *after* the runner's
//! mount prefix, as the function would see them deployed alone: query-string parameters (parsed with the same `QueryMap` parser), path parameters,
//! the request context; plus the headers Scaleway's ingress adds (`X-Forwarded-For`,
//! `X-Forwarded-Proto`, `X-Request-Id`).

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::Entry;
use http::{HeaderValue, header, request::Parts};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::request::RequestContext;
use lambda_http::{Body as LambdaBody, RequestExt};

use crate::http::{REQUEST_ID, X_FORWARDED_FOR, X_FORWARDED_PROTO};

/// Where a request was mounted: its prefix is stripped from the path the handler sees.
#[derive(Debug, Clone, Copy)]
pub struct Mounted<'a> {
    /// Path after the prefix, always starting with `/`.
    pub rest: &'a str,
    /// API Gateway's route key for the mount's prefix ([`route_key`], e.g.
    /// `ANY /plate-lookup/{proxy+}`), made once per mount rather than formatted per request.
    pub route_key: &'a str,
}

/// The handler's request, and the URI as the client sent it when the mount removed a prefix
/// (for [`crate::http::dispatch_sent`]; no platform gives a function this, so it is not in the
/// request).
#[derive(Debug)]
pub struct Adapted {
    pub request: lambda_http::Request,
    pub sent: Option<http::Uri>,
    /// The request's `X-Request-Id` (kept or made by [`add_ingress_headers`]).
    pub request_id: HeaderValue,
}

/// Builds the handler's request. `body` has already been read within the size limit.
pub fn to_lambda_request(
    mut parts: Parts,
    body: Vec<u8>,
    peer: SocketAddr,
    mounted: Mounted<'_>,
) -> Adapted {
    let raw_query = parts
        .uri
        .query()
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    let ingress = add_ingress_headers(&mut parts.headers, peer);

    // Rebuild the URI only when the mount strips a prefix; parsing one costs more than the
    // rest of this function, and `/` (a function's own root, e.g. `/health`) needs none.
    let original_path = if mounted.rest == parts.uri.path() {
        None
    } else {
        let rest = match &raw_query {
            None if mounted.rest == "/" => Ok(http::Uri::from_static("/")),
            None => mounted.rest.parse(),
            Some(q) => format!("{}?{q}", mounted.rest).parse(),
        }
        // The rest of an already valid URI path is a valid path; fall back to "/" defensively.
        .unwrap_or_else(|_| http::Uri::from_static("/"));
        Some(std::mem::replace(&mut parts.uri, rest))
    };
    let raw_path = mounted.rest.to_owned();

    let request_id = ingress.request_id.to_str().unwrap_or_default().to_owned();
    let source_ip = Some(ingress.source_ip);

    let mut http_desc = ApiGatewayV2httpRequestContextHttpDescription::default();
    http_desc.method = parts.method.clone();
    http_desc.path = Some(raw_path.clone());
    http_desc.protocol = Some(
        match parts.version {
            http::Version::HTTP_10 => "HTTP/1.0",
            http::Version::HTTP_2 => "HTTP/2.0",
            http::Version::HTTP_3 => "HTTP/3.0",
            _ => "HTTP/1.1",
        }
        .to_owned(),
    );
    http_desc.source_ip = source_ip;
    http_desc.user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.route_key = Some(mounted.route_key.to_owned());
    ctx.stage = Some("$default".to_owned());
    ctx.request_id = Some(request_id);
    ctx.domain_name = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    ctx.time_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    ctx.http = http_desc;

    let query: Option<QueryMap> = raw_query
        .as_deref()
        .and_then(|q| q.parse().ok())
        .filter(|q: &QueryMap| !q.is_empty());
    let proxy = mounted.rest.trim_start_matches('/');
    let path_params = (!proxy.is_empty()).then(|| {
        let mut params = std::collections::HashMap::with_capacity(1);
        params.insert("proxy".to_owned(), vec![crate::http::percent_decode(proxy)]);
        QueryMap::from(params)
    });

    let body = if body.is_empty() {
        LambdaBody::Empty
    } else {
        // API Gateway hands text bodies over as text and binary ones base64-encoded, which
        // lambda_http decodes to `Binary`; UTF-8 decides it here the same way.
        match String::from_utf8(body) {
            Ok(text) => LambdaBody::Text(text),
            Err(e) => LambdaBody::Binary(e.into_bytes()),
        }
    };

    let mut req = http::Request::from_parts(parts, body)
        .with_raw_http_path(raw_path)
        .with_request_context(RequestContext::ApiGatewayV2(ctx));
    // An empty map is left out: `RequestExt` answers the same for an empty map and for none
    // (its `_ref` accessors give `None` for both, the others an empty map), and the types it
    // stores them under are private to lambda_http, so a handler cannot tell. Each insert cost
    // two allocations and a share of the extension map's growth (callgrind).
    if let Some(query) = query {
        req = req.with_query_string_parameters(query);
    }
    if let Some(params) = path_params {
        req = req.with_path_parameters(params);
    }
    Adapted {
        request: req,
        sent: original_path,
        request_id: ingress.request_id,
    }
}

/// API Gateway's route key for a proxy mount, e.g. `ANY /plate-lookup/{proxy+}`.
pub fn route_key(prefix: &str) -> String {
    if prefix == "/" {
        "ANY /{proxy+}".to_owned()
    } else {
        format!("ANY {prefix}/{{proxy+}}")
    }
}

/// What the ingress headers say once [`add_ingress_headers`] has set them, so that the adapter
/// does not look them up again.
#[derive(Debug, Clone)]
pub struct Ingress {
    /// `X-Request-Id`.
    pub request_id: HeaderValue,
    /// The first `X-Forwarded-For` entry, as API Gateway's `sourceIp`.
    pub source_ip: String,
}

/// What Scaleway's ingress adds in front of every function and container.
pub fn add_ingress_headers(headers: &mut http::HeaderMap, peer: SocketAddr) -> Ingress {
    // Room for the three headers at once: the map hyper builds holds the client's headers
    // only, and growing it once per header cost an allocation each.
    headers.reserve(3);
    // A client may send the header several times; proxies treat the lines as one list
    // (RFC 9110 §5.3), so the limiter must too, or the first line alone would pick its key.
    // Behind another proxy (nginx in Kubernetes) the client is already first; append the hop.
    let mut peer_text = IpText::default();
    push_ip(&mut peer_text, peer.ip());
    let peer_text = peer_text.as_str();
    // Entries rather than a lookup and an insert: each names the header once, and hashing a
    // name that is not a standard header's is most of what a lookup costs.
    let xff_entry = headers.entry(X_FORWARDED_FOR);
    let xff = {
        let lines = || {
            let sent = match &xff_entry {
                Entry::Occupied(e) => Some(e.iter()),
                Entry::Vacant(_) => None,
            };
            sent.into_iter()
                .flatten()
                .filter_map(|line| line.to_str().ok())
                .map(str::trim)
                .filter(|line| !line.is_empty())
        };
        let len = lines().map(|line| line.len() + 2).sum::<usize>() + peer_text.len();
        // Exactly as long as the value, so the header takes the buffer without copying it.
        let mut xff = bytes::BytesMut::with_capacity(len);
        for line in lines() {
            xff.extend_from_slice(line.as_bytes());
            xff.extend_from_slice(b", ");
        }
        xff.extend_from_slice(peer_text.as_bytes());
        xff
    };
    let source_ip = std::str::from_utf8(&xff)
        .ok()
        .and_then(|v| v.split(',').next())
        .map_or_else(String::new, |first| first.trim().to_owned());
    if let Ok(v) = HeaderValue::from_maybe_shared(xff.freeze()) {
        match xff_entry {
            // Replaces every line the client sent with the one joined value.
            Entry::Occupied(mut e) => drop(e.insert(v)),
            Entry::Vacant(e) => drop(e.insert(v)),
        }
    }
    headers
        .entry(X_FORWARDED_PROTO)
        .or_insert(HeaderValue::from_static("http"));
    Ingress {
        request_id: ensure_request_id(headers),
        source_ip,
    }
}

/// An address as text, on the stack: 45 bytes hold the longest IPv6 text
/// (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl Default for IpText {
    fn default() -> Self {
        IpText {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl IpText {
    fn as_str(&self) -> &str {
        // Only `write_str` fills it, with whole `str`s.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends `ip` as text. IPv4, every request's case, without the formatting machinery (which
/// cost more than the rest of this function together, measured with callgrind).
fn push_ip(out: &mut impl std::fmt::Write, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    let _ = out.write_char('.');
                }
                if octet >= 100 {
                    let _ = out.write_char(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    let _ = out.write_char(char::from(b'0' + octet / 10 % 10));
                }
                let _ = out.write_char(char::from(b'0' + octet % 10));
            }
        }
        std::net::IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Keeps a sane client-supplied id (so a trace can be followed across hops), else makes one;
/// gives the id back.
pub fn ensure_request_id(headers: &mut http::HeaderMap) -> HeaderValue {
    let sane = |v: &&HeaderValue| {
        let v = v.as_bytes();
        !v.is_empty()
            && v.len() <= 128
            && v.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    };
    match headers.entry(REQUEST_ID) {
        Entry::Occupied(e) if sane(&e.get()) => e.get().clone(),
        Entry::Occupied(mut e) => {
            let id = new_request_id_value();
            e.insert(id.clone());
            id
        }
        Entry::Vacant(e) => e.insert(new_request_id_value()).clone(),
    }
}

/// A new id as a header value whose clones count references: its bytes live with their count
/// in one allocation ([`bytes::Bytes::from_owner`]), where a copied slice took one allocation
/// and its first clone a second.
fn new_request_id_value() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    new_request_id().hyphenated().encode_lower(&mut text);
    // A UUID's text is always a valid header value.
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(text))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// A UUID-shaped id unique within the process: one random seed per thread plus a counter.
/// `Uuid::new_v4` per request costs a `getrandom` system call each time (measured at 0.5–0.9 µs
/// of a 15 µs `/health` request); ids need to be unique, not unguessable. Per thread rather than
/// one shared counter, which both cores wrote on every request; two threads' ids differ in their
/// 60 random high bits.
fn new_request_id() -> uuid::Uuid {
    use std::cell::Cell;
    thread_local! {
        static NEXT: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
    }
    let (high, low) = NEXT.with(|next| {
        let (high, low) = next
            .get()
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair());
        next.set(Some((high, low.wrapping_add(1))));
        (high, low)
    });
    // Keep the version-4 and variant bits; the counter runs in the low 62 bits.
    let low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    let high = (high & !0xF000) | 0x4000;
    uuid::Uuid::from_u64_pair(high, low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids_unique_across_threads() {
        let ids: Vec<uuid::Uuid> = (0..4)
            .map(|_| std::thread::spawn(|| (0..1000).map(|_| new_request_id()).collect::<Vec<_>>()))
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "an id repeated");
        for id in &ids {
            assert_eq!(id.get_version_num(), 4);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        }
        let value = new_request_id_value();
        assert_eq!(value.len(), 36);
        assert_eq!(value.clone(), value, "a clone is the same id");
    }

    fn parts(uri: &str) -> Parts {
        http::Request::get(uri)
            .header("host", "localhost:8000")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn the_handler_sees_the_path_without_the_mount_prefix_and_the_extensions_filled() {
        let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        let Adapted {
            request: req,
            sent,
            request_id,
        } = to_lambda_request(
            parts("/plate-lookup/EC47213?plate=DN%2061834&x=1&x=2"),
            Vec::new(),
            peer,
            Mounted {
                rest: "/EC47213",
                route_key: &route_key("/plate-lookup"),
            },
        );
        assert_eq!(req.uri().path(), "/EC47213");
        assert_eq!(req.raw_http_path(), "/EC47213");
        assert_eq!(
            sent.unwrap(),
            "/plate-lookup/EC47213?plate=DN%2061834&x=1&x=2"
        );
        let q = req.query_string_parameters();
        assert_eq!(q.first("plate"), Some("DN 61834"));
        assert_eq!(q.all("x"), Some(vec!["1", "2"]));
        assert_eq!(req.path_parameters().first("proxy"), Some("EC47213"));
        assert_eq!(req.headers()["x-forwarded-for"], "127.0.0.1");
        assert_eq!(req.headers()["x-forwarded-proto"], "http");
        let id = req.headers()[REQUEST_ID].to_str().unwrap().to_owned();
        assert_eq!(request_id, id, "the id handed on is the header's");
        match req.request_context() {
            RequestContext::ApiGatewayV2(ctx) => {
                assert_eq!(ctx.request_id.as_deref(), Some(id.as_str()));
                assert_eq!(ctx.http.source_ip.as_deref(), Some("127.0.0.1"));
                assert_eq!(ctx.route_key.as_deref(), Some("ANY /plate-lookup/{proxy+}"));
            }
            other => panic!("unexpected context {other:?}"),
        }
        assert!(matches!(req.body(), LambdaBody::Empty));
    }

    #[test]
    fn an_existing_forwarded_for_keeps_the_client_first() {
        let mut h = http::HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        h.insert(REQUEST_ID, HeaderValue::from_static("abc-123"));
        add_ingress_headers(&mut h, "10.0.0.2:1".parse().unwrap());
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 10.0.0.2");
        assert_eq!(h[REQUEST_ID], "abc-123");
    }

    #[test]
    fn generated_ids_are_distinct_uuid_v4s() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        for id in [a, b] {
            let u = uuid::Uuid::parse_str(&id.to_string()).unwrap();
            assert_eq!(u.get_version_num(), 4, "{id}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }

    #[test]
    fn a_hostile_request_id_is_replaced() {
        let mut h = http::HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_static("a b\"c"));
        ensure_request_id(&mut h);
        assert_ne!(h[REQUEST_ID], "a b\"c");
        assert_eq!(h[REQUEST_ID].len(), 36);
    }

    #[test]
    fn binary_bodies_stay_binary_and_text_stays_text() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let key = route_key("/");
        let m = Mounted {
            rest: "/",
            route_key: &key,
        };
        let t = to_lambda_request(parts("/"), b"hei".to_vec(), peer, m).request;
        assert!(matches!(t.body(), LambdaBody::Text(s) if s == "hei"));
        let b = to_lambda_request(parts("/"), vec![0xff, 0xfe], peer, m).request;
        assert!(matches!(b.body(), LambdaBody::Binary(v) if v == &[0xff, 0xfe]));
    }
}

#[cfg(test)]
mod ip_tests {
    use super::{IpText, push_ip};

    #[test]
    fn addresses_are_written_as_std_writes_them() {
        for ip in [
            "0.0.0.0",
            "9.10.99.100",
            "255.255.255.255",
            "127.0.0.1",
            "::1",
            "2001:db8::7",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:255.255.255.255",
        ] {
            let mut out = String::new();
            push_ip(&mut out, ip.parse().unwrap());
            assert_eq!(out, ip);
            let mut text = IpText::default();
            push_ip(&mut text, ip.parse().unwrap());
            assert_eq!(text.as_str(), ip);
        }
    }
}
