//! Classification of LLM provider errors, from an HTTP error response or from an error payload
//! inside a 200 stream, into a kind the caller can act on (retry, fall back, or give up).
//!
//! Error bodies differ between providers (docs/upstreams/llm-providers.md#errors-and-retries),
//! so they are read as loose JSON:
//! OpenAI's `{"error":{message,type,param,code}}` with a string `code`, OpenRouter's numeric
//! `code`, Gemini's one-element array, the vLLM/Scaleway legacy `{"object":"error",…}`, and
//! plain text or HTML from proxies. The HTTP status decides the kind; the body refines it.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use serde_json::Value;

/// How many characters of a provider's message are kept. Messages go to logs, and some providers
/// echo fragments of the request (and of the key) in them, so they are kept short and
/// redacted ([`elbatt::outbound::redact`]).
const MAX_MESSAGE_CHARS: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// 429, including OpenAI's `slow_down` and Gemini's `RESOURCE_EXHAUSTED`.
    RateLimited,
    /// Out of credit: `insufficient_quota` (OpenAI, on a 429) or 402 (OpenRouter).
    QuotaExhausted,
    /// 5xx, such as 503 `server_is_overloaded` or an OpenRouter 502 from a failed upstream.
    Overloaded,
    /// 400, 404, 422 and other 4xx: the request itself is wrong (e.g. an unknown model).
    InvalidRequest,
    /// The prompt does not fit the model's context window.
    ContextTooLong,
    /// 401 or 403: bad key, missing permission, unsupported region, or moderation (OpenRouter).
    Auth,
    Other,
}

impl fmt::Display for ProviderErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RateLimited => "rate limited",
            Self::QuotaExhausted => "quota exhausted",
            Self::Overloaded => "overloaded",
            Self::InvalidRequest => "invalid request",
            Self::ContextTooLong => "context too long",
            Self::Auth => "not authorised",
            Self::Other => "error",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub kind: ProviderErrorKind,
    /// The HTTP status; `None` for an error that arrived inside a 200 stream.
    pub status: Option<u16>,
    /// The provider's message, whitespace-collapsed, key-like text redacted and cut to about
    /// 300 characters, for logs.
    pub message: String,
    /// The provider's machine-readable reason: its `code` (numbers as text), else Gemini's
    /// `status`, else the error `type`; redacted like the message.
    pub code: Option<String>,
    /// The server's requested delay, uncapped: the caller applies its own cap.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    pub fn new(kind: ProviderErrorKind, message: &str) -> Self {
        Self {
            kind,
            status: None,
            message: for_log(message),
            code: None,
            retry_after: None,
        }
    }

    /// Classifies a non-2xx response.
    pub fn from_http(status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        let fields = match serde_json::from_slice::<Value>(body) {
            Ok(json) => ErrorFields::from_body(&json),
            Err(_) => ErrorFields::from_text(&String::from_utf8_lossy(body)),
        };
        let mut message = fields.message.clone().unwrap_or_default();
        if message.is_empty() {
            message = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|code| code.canonical_reason())
                .unwrap_or("no message")
                .to_owned();
        }
        Self {
            kind: classify(Some(status), &fields),
            status: Some(status),
            message: for_log(&message),
            code: fields.code(),
            retry_after: elbatt::outbound::retry_after::requested_delay(headers, SystemTime::now()),
        }
    }

    /// Returns the error carried by one JSON data payload of a 200 response, if it carries one:
    /// `{"error":…}` with a non-null value (OpenAI, OpenRouter, Scaleway), `{"object":"error",…}`
    /// (vLLM, Scaleway legacy models), or either of them wrapped in an array (Gemini).
    pub fn from_stream_payload(value: &Value) -> Option<Self> {
        let value = match value {
            Value::Array(items) => items.first()?,
            other => other,
        };
        let error = match value.get("error") {
            Some(Value::Null | Value::Bool(false)) | None => None,
            Some(Value::String(text)) if text.is_empty() => None,
            Some(error) => Some(error),
        };
        let fields = match error {
            Some(error) => ErrorFields::from_error_value(error),
            None if value.get("object").and_then(Value::as_str) == Some("error") => {
                ErrorFields::from_error_value(value)
            }
            None => return None,
        };
        Some(Self::from_fields(&fields))
    }

    /// Classifies an `event: error` SSE event, whose data may be JSON of any shape or plain text.
    pub(crate) fn from_error_event(data: &str) -> Self {
        match serde_json::from_str::<Value>(data) {
            Ok(json) => Self::from_stream_payload(&json)
                .unwrap_or_else(|| Self::from_fields(&ErrorFields::from_error_value(&json))),
            Err(_) => Self::from_fields(&ErrorFields::from_text(data)),
        }
    }

    fn from_fields(fields: &ErrorFields) -> Self {
        Self {
            kind: classify(None, fields),
            status: None,
            message: for_log(
                fields
                    .message
                    .as_deref()
                    .unwrap_or("error in the response stream"),
            ),
            code: fields.code(),
            retry_after: None,
        }
    }

    /// Whether the same request may succeed if sent again. The caller must still not retry once
    /// output has reached the user.
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            ProviderErrorKind::RateLimited | ProviderErrorKind::Overloaded => true,
            // Request timeout and conflict, which the OpenAI SDK also retries.
            ProviderErrorKind::Other => matches!(self.status, Some(408 | 409)),
            _ => false,
        }
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LLM provider {}", self.kind)?;
        match (self.status, &self.code) {
            (Some(status), Some(code)) => write!(f, " (HTTP {status}, {code})")?,
            (Some(status), None) => write!(f, " (HTTP {status})")?,
            (None, Some(code)) => write!(f, " ({code})")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ProviderError {}

/// The parts of an error body that classification and logging use.
#[derive(Debug, Default)]
struct ErrorFields {
    message: Option<String>,
    error_type: Option<String>,
    code_text: Option<String>,
    code_number: Option<i64>,
    /// Gemini's canonical status name, e.g. `RESOURCE_EXHAUSTED`.
    status_name: Option<String>,
}

impl ErrorFields {
    fn from_body(body: &Value) -> Self {
        let body = match body {
            Value::Array(items) => items.first().unwrap_or(&Value::Null),
            other => other,
        };
        match body.get("error") {
            Some(error) if !error.is_null() => Self::from_error_value(error),
            // Legacy `{"object":"error",…}`, or a top-level `message`/`detail` (FastAPI servers).
            _ => Self::from_error_value(body),
        }
    }

    fn from_error_value(error: &Value) -> Self {
        let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_owned);
        match error {
            Value::String(message) => Self {
                message: Some(message.clone()),
                ..Self::default()
            },
            Value::Object(_) => Self {
                message: text("message").or_else(|| text("detail")),
                error_type: text("type"),
                code_text: text("code"),
                code_number: error.get("code").and_then(Value::as_i64),
                status_name: text("status"),
            },
            _ => Self::default(),
        }
    }

    fn from_text(text: &str) -> Self {
        // Proxies answer with HTML error pages; their title is the useful part.
        let title = text
            .find("<title>")
            .map(|start| &text[start + "<title>".len()..])
            .and_then(|rest| rest.find("</title>").map(|end| &rest[..end]));
        Self {
            message: Some(title.unwrap_or(text).to_owned()),
            ..Self::default()
        }
    }

    fn code(&self) -> Option<String> {
        self.code_text
            .clone()
            .or_else(|| self.status_name.clone())
            .or_else(|| self.code_number.map(|n| n.to_string()))
            .or_else(|| self.error_type.clone())
            .map(|code| for_log(&code))
    }

    /// The lower-cased machine-readable names, for matching.
    fn names(&self) -> impl Iterator<Item = String> + '_ {
        [&self.error_type, &self.code_text, &self.status_name]
            .into_iter()
            .flatten()
            .map(|name| name.to_ascii_lowercase())
    }

    fn mentions_context_length(&self) -> bool {
        if self.names().any(|name| name == "context_length_exceeded") {
            return true;
        }
        let message = self.message.as_deref().unwrap_or_default().to_lowercase();
        [
            "context length",
            "context_length",
            "context window",
            "maximum context",
            "maximum number of tokens",
        ]
        .iter()
        .any(|phrase| message.contains(phrase))
    }
}

fn classify(status: Option<u16>, fields: &ErrorFields) -> ProviderErrorKind {
    use ProviderErrorKind as Kind;

    if status == Some(402) || fields.names().any(|name| name == "insufficient_quota") {
        return Kind::QuotaExhausted;
    }
    // A numeric `code` in an in-stream error is usually the HTTP status the provider would have
    // sent (OpenRouter, vLLM).
    let status = status.or_else(|| {
        fields
            .code_number
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| (400..=599).contains(n))
    });
    match status {
        Some(401 | 403) => Kind::Auth,
        Some(429) => Kind::RateLimited,
        Some(413) => Kind::ContextTooLong,
        Some(400..=499) if fields.mentions_context_length() => Kind::ContextTooLong,
        Some(408 | 409) => Kind::Other,
        Some(400..=499) => Kind::InvalidRequest,
        Some(500..=599) => Kind::Overloaded,
        Some(_) => Kind::Other,
        None if fields.mentions_context_length() => Kind::ContextTooLong,
        None => classify_by_name(fields),
    }
}

/// Classifies an error without a status from its `type`/`code` names: the first hint found in
/// any of them wins.
fn classify_by_name(fields: &ErrorFields) -> ProviderErrorKind {
    use ProviderErrorKind as Kind;

    const HINTS: [(&str, ProviderErrorKind); 14] = [
        ("rate_limit", Kind::RateLimited),
        ("resource_exhausted", Kind::RateLimited),
        ("too_many_requests", Kind::RateLimited),
        ("slow_down", Kind::RateLimited),
        ("overloaded", Kind::Overloaded),
        ("server_error", Kind::Overloaded),
        ("unavailable", Kind::Overloaded),
        ("internal", Kind::Overloaded),
        ("timeout", Kind::Overloaded),
        ("auth", Kind::Auth),
        ("permission", Kind::Auth),
        ("invalid", Kind::InvalidRequest),
        ("bad_request", Kind::InvalidRequest),
        ("not_found", Kind::InvalidRequest),
    ];
    let names: Vec<String> = fields.names().collect();
    HINTS
        .iter()
        .find(|(hint, _)| names.iter().any(|name| name.contains(hint)))
        .map_or(Kind::Other, |&(_, kind)| kind)
}

/// Collapses whitespace, redacts key-like text (providers echo the key's last characters) and
/// cuts to [`MAX_MESSAGE_CHARS`] on a character boundary.
fn for_log(message: &str) -> String {
    // Redacted before the cut, so a key cut in half is still recognised.
    let collapsed =
        elbatt::outbound::redact::redact(&message.split_whitespace().collect::<Vec<_>>().join(" "));
    match collapsed.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &collapsed[..cut]),
        None => collapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn from_body(status: u16, body: &str) -> ProviderError {
        ProviderError::from_http(status, &HeaderMap::new(), body.as_bytes())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn an_openai_rate_limit_is_retryable_and_keeps_its_string_code() {
        let error = from_body(
            429,
            r#"{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on tokens per min (TPM): Limit 200000, Used 199000, Requested 2000.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(error.kind, ProviderErrorKind::RateLimited);
        assert_eq!(error.status, Some(429));
        assert_eq!(error.code.as_deref(), Some("rate_limit_exceeded"));
        assert!(
            error
                .message
                .starts_with("Rate limit reached for gpt-4o-mini")
        );
        assert!(error.is_retryable());
    }

    #[test]
    fn insufficient_quota_on_a_429_is_not_retryable() {
        let error = from_body(
            429,
            r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
        );
        assert_eq!(error.kind, ProviderErrorKind::QuotaExhausted);
        assert!(!error.is_retryable());
    }

    #[test]
    fn insufficient_quota_is_recognised_from_the_type_alone() {
        let error = from_body(
            429,
            r#"{"error":{"message":"quota","type":"insufficient_quota","code":null}}"#,
        );
        assert_eq!(error.kind, ProviderErrorKind::QuotaExhausted);
        assert_eq!(error.code.as_deref(), Some("insufficient_quota"));
    }

    #[test]
    fn an_openrouter_numeric_code_is_stringified() {
        let error = from_body(
            402,
            r#"{"error":{"code":402,"message":"Insufficient credits. Add more using https://openrouter.ai/credits","metadata":{}}}"#,
        );
        assert_eq!(error.kind, ProviderErrorKind::QuotaExhausted);
        assert_eq!(error.code.as_deref(), Some("402"));
        assert!(!error.is_retryable());
    }

    #[test]
    fn an_openrouter_bad_gateway_is_retryable() {
        let error = from_body(
            502,
            r#"{"error":{"code":502,"message":"Provider returned error","metadata":{"provider_name":"Fireworks","raw":"upstream timeout"}}}"#,
        );
        assert_eq!(error.kind, ProviderErrorKind::Overloaded);
        assert!(error.is_retryable());
    }

    #[test]
    fn a_gemini_array_body_is_read_and_its_status_name_used_as_the_code() {
        let error = from_body(
            429,
            r#"[{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}]"#,
        );
        assert_eq!(error.kind, ProviderErrorKind::RateLimited);
        assert_eq!(error.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(
            error.message,
            "Resource has been exhausted (e.g. check quota)."
        );
    }

    #[test]
    fn a_scaleway_legacy_body_for_an_unknown_model_is_an_invalid_request() {
        let error = from_body(
            422,
            r#"{"object":"error","message":"The model `mistral-nemo` does not exist.","type":"NotFoundError","param":null,"code":404}"#,
        );
        assert_eq!(error.kind, ProviderErrorKind::InvalidRequest);
        assert_eq!(error.code.as_deref(), Some("404"));
        assert!(error.message.contains("does not exist"));
        assert!(!error.is_retryable());
    }

    #[test]
    fn an_overloaded_503_is_retryable() {
        let error = from_body(
            503,
            r#"{"error":{"message":"That model is currently overloaded with other requests.","type":"server_error","param":null,"code":"server_is_overloaded"}}"#,
        );
        assert_eq!(error.kind, ProviderErrorKind::Overloaded);
        assert_eq!(error.code.as_deref(), Some("server_is_overloaded"));
        assert!(error.is_retryable());
    }

    #[test]
    fn auth_failures_are_not_retryable() {
        for status in [401, 403] {
            let error = from_body(
                status,
                r#"{"error":{"message":"Incorrect API key provided: sk-...","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            );
            assert_eq!(error.kind, ProviderErrorKind::Auth);
            assert!(!error.is_retryable());
        }
    }

    #[test]
    fn a_key_echoed_by_the_provider_is_redacted_from_message_and_code() {
        // Split so that no key-shaped literal is tracked.
        const KEY: &str = concat!("sk", "-proj-errtest-Hq3Zp9Lw");
        elbatt::outbound::redact::register_secret(KEY);
        let error = from_body(
            401,
            &format!(
                r#"{{"error":{{"message":"Incorrect API key provided: sk-proj-****{tail}. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","code":"{KEY}"}}}}"#,
                tail = &KEY[KEY.len() - 4..]
            ),
        );
        let shown = error.to_string();
        assert!(!shown.contains(KEY) && !shown.contains("p9Lw"), "{shown}");
        assert!(
            shown.contains("Incorrect API key provided: [redacted]"),
            "{shown}"
        );
        assert_eq!(error.kind, ProviderErrorKind::Auth);
    }

    #[test]
    fn a_context_length_error_is_told_apart_from_other_bad_requests() {
        let too_long = from_body(
            400,
            r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
        );
        assert_eq!(too_long.kind, ProviderErrorKind::ContextTooLong);
        let unknown_parameter = from_body(
            400,
            r#"{"error":{"message":"Unknown name \"web_search_options\": Cannot find field.","status":"INVALID_ARGUMENT","code":400}}"#,
        );
        assert_eq!(unknown_parameter.kind, ProviderErrorKind::InvalidRequest);
        assert!(!too_long.is_retryable() && !unknown_parameter.is_retryable());
    }

    #[test]
    fn request_timeout_and_conflict_are_retryable_but_other_4xx_are_not() {
        assert!(from_body(408, "").is_retryable());
        assert!(from_body(409, "").is_retryable());
        assert!(!from_body(404, "").is_retryable());
        assert!(!from_body(422, "").is_retryable());
    }

    #[test]
    fn an_html_error_page_is_reduced_to_its_title() {
        let error = from_body(
            502,
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
        );
        assert_eq!(error.message, "502 Bad Gateway");
        assert_eq!(error.kind, ProviderErrorKind::Overloaded);
        assert_eq!(error.code, None);
    }

    #[test]
    fn a_plain_text_body_is_kept_collapsed_and_truncated() {
        let body = format!("upstream   connect error\n{}", "x".repeat(1000));
        let error = from_body(500, &body);
        assert!(error.message.starts_with("upstream connect error x"));
        assert_eq!(error.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(error.message.ends_with('…'));
    }

    #[test]
    fn truncation_never_splits_a_multibyte_character() {
        let message = for_log(&"æøå".repeat(200));
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn an_empty_body_falls_back_to_the_status_reason() {
        let error = from_body(503, "");
        assert_eq!(error.message, "Service Unavailable");
        assert_eq!(error.kind, ProviderErrorKind::Overloaded);
    }

    #[test]
    fn from_http_reads_the_retry_after_header() {
        let error = ProviderError::from_http(429, &headers(&[("retry-after", "7")]), b"{}");
        assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn a_stream_error_object_is_classified_from_its_code() {
        let payload = json!({"id": "gen-1", "object": "chat.completion.chunk", "provider": "openai",
            "error": {"code": "server_error", "message": "Provider disconnected unexpectedly"},
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]});
        let error = ProviderError::from_stream_payload(&payload).unwrap();
        assert_eq!(error.kind, ProviderErrorKind::Overloaded);
        assert_eq!(error.status, None);
        assert_eq!(error.message, "Provider disconnected unexpectedly");
        assert!(error.is_retryable());
    }

    #[test]
    fn a_vllm_legacy_stream_error_uses_its_numeric_code_as_a_status() {
        let payload = json!({"object": "error", "message": "Internal server error", "type": "InternalServerError", "param": null, "code": 500});
        let error = ProviderError::from_stream_payload(&payload).unwrap();
        assert_eq!(error.kind, ProviderErrorKind::Overloaded);
        assert_eq!(error.code.as_deref(), Some("500"));
    }

    #[test]
    fn a_string_error_in_a_stream_is_an_error() {
        let error = ProviderError::from_stream_payload(&json!({"error": "model crashed"})).unwrap();
        assert_eq!(error.message, "model crashed");
        assert_eq!(error.kind, ProviderErrorKind::Other);
    }

    #[test]
    fn an_ordinary_chunk_is_not_an_error() {
        for payload in [
            json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hei"}}]}),
            json!({"choices": [], "error": null}),
            json!([{"choices": []}]),
            json!("text"),
        ] {
            assert_eq!(
                ProviderError::from_stream_payload(&payload),
                None,
                "{payload}"
            );
        }
    }

    #[test]
    fn the_display_names_kind_status_code_and_message() {
        let error = from_body(
            429,
            r#"{"error":{"message":"slow down","code":"slow_down"}}"#,
        );
        assert_eq!(
            error.to_string(),
            "LLM provider rate limited (HTTP 429, slow_down): slow down"
        );
    }
}
