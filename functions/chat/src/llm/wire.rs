//! OpenAI Chat Completions wire types: the request we send and the non-streaming response we read.
//!
//! Requests are ours, so they serialise exactly and leave out anything unset: several
//! "compatible" providers reject fields they do not know
//! (docs/upstreams/llm-providers.md#wire-format). Responses come from many
//! providers, so every response field is optional or defaulted, `null` is read as "absent" and
//! unknown fields are ignored.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The body of `POST {base}/chat/completions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default)]
    pub stream: bool,
    /// Mistral (2025) and Groq rejected this field, so the caller sets it per provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Serialised as `max_tokens` or `max_completion_tokens`, whichever the provider accepts.
    #[serde(flatten)]
    pub token_limit: Option<TokenLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    pub include_usage: bool,
}

/// The output cap. Newer OpenAI models reject `max_tokens`; Scaleway's older docs list only it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenLimit {
    MaxTokens(u32),
    MaxCompletionTokens(u32),
}

/// The `type` field of tools and tool calls; `"function"` is the only value in the API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FunctionType {
    #[default]
    Function,
}

/// One chat message. The role is the serde tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    System {
        content: String,
    },
    User {
        content: String,
    },
    Assistant {
        /// Left out rather than sent as `null` when only tools were called: the spec allows
        /// both, but some servers (Ollama, LM Studio) reject a `null` content.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        tool_call_id: String,
        content: String,
    },
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self::System {
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::User {
            content: content.into(),
        }
    }

    pub fn assistant_text(content: impl Into<String>) -> Self {
        Self::Assistant {
            content: Some(content.into()),
            tool_calls: Vec::new(),
        }
    }

    pub fn assistant_tool_calls(tool_calls: Vec<ToolCall>) -> Self {
        Self::Assistant {
            content: None,
            tool_calls,
        }
    }

    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self::Tool {
            tool_call_id: tool_call_id.into(),
            content: content.into(),
        }
    }
}

/// A tool call as replayed in an assistant message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: FunctionType,
    pub function: FunctionCall,
    /// Gemini 3 returns `extra_content.google.thought_signature` on a tool call and expects it
    /// echoed back on the next request (docs/upstreams/llm-providers.md#gemini). Other providers
    /// never send it; drop it before replaying history to a different provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<Value>,
}

impl ToolCall {
    pub fn function(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            kind: FunctionType::Function,
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
            extra_content: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// A JSON document encoded as a string, as the API requires.
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    #[serde(rename = "type", default)]
    pub kind: FunctionType,
    pub function: FunctionSpec,
}

impl ToolSpec {
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
    ) -> Self {
        Self {
            kind: FunctionType::Function,
            function: FunctionSpec {
                name: name.into(),
                description: description.into(),
                parameters,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionSpec {
    pub name: String,
    pub description: String,
    /// A JSON Schema object.
    pub parameters: Value,
}

/// `tool_choice`. Ollama does not support the field at all, so it is optional in the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(ToolChoiceMode),
    Named(NamedToolChoice),
}

impl ToolChoice {
    pub const AUTO: Self = Self::Mode(ToolChoiceMode::Auto);
    pub const NONE: Self = Self::Mode(ToolChoiceMode::None);
    pub const REQUIRED: Self = Self::Mode(ToolChoiceMode::Required);

    /// Forces the named function.
    pub fn function(name: impl Into<String>) -> Self {
        Self::Named(NamedToolChoice {
            kind: FunctionType::Function,
            function: FunctionName { name: name.into() },
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    None,
    Auto,
    Required,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedToolChoice {
    #[serde(rename = "type", default)]
    pub kind: FunctionType,
    pub function: FunctionName,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionName {
    pub name: String,
}

/// Token counts. Providers add nested detail objects and costs; those are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default, deserialize_with = "null_as_default")]
    pub prompt_tokens: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub completion_tokens: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_tokens: u64,
}

/// A non-streaming (`stream: false`) response.
///
/// A 200 body can still be an error object; check it with
/// [`ProviderError::from_stream_payload`](crate::llm::error::ProviderError::from_stream_payload)
/// first, or use [`Completion::from_response_body`](crate::llm::stream::Completion::from_response_body),
/// which does both.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ChatResponse {
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    /// The model that answered, which on OpenRouter may be a fallback model.
    #[serde(default, deserialize_with = "lenient")]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<ResponseChoice>,
    #[serde(default, deserialize_with = "lenient")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ResponseChoice {
    #[serde(default, deserialize_with = "null_as_default")]
    pub index: u32,
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: ResponseMessage,
    /// A free string: `""` and provider-specific values occur
    /// (docs/upstreams/llm-providers.md#compatibility-quirks).
    #[serde(default, deserialize_with = "lenient")]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ResponseMessage {
    /// Plain text. Content given as an array of parts (Mistral's reasoning models) is reduced
    /// to its text parts; thinking parts are dropped.
    #[serde(default, deserialize_with = "content_text")]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_calls: Vec<ResponseToolCall>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ResponseToolCall {
    /// Missing on some servers; the caller generates one ([`generate_tool_call_id`]).
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub function: ResponseFunction,
    #[serde(default)]
    pub extra_content: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ResponseFunction {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Kept as a string; a server that sends a JSON object here gets it re-encoded.
    #[serde(default, deserialize_with = "arguments_string")]
    pub arguments: String,
}

/// Returns the text of a message `content`, which is a string, `null`, or an array of parts.
pub(crate) fn text_of_content(content: &Value) -> Option<String> {
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => {
            let text: String = parts
                .iter()
                .filter(|part| part.get("type").is_none_or(|kind| kind == "text"))
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect();
            Some(text)
        }
        _ => None,
    }
}

/// Encodes tool-call `arguments` as the string the API defines: a string is kept, `null` is
/// nothing, and any other JSON value (sent by a few servers) is re-encoded.
pub(crate) fn arguments_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A fresh tool-call id: 9 ASCII alphanumerics, the only form Mistral accepts
/// (docs/upstreams/llm-providers.md#mistral),
/// and valid for every other provider.
///
/// Ids only have to be unique within one conversation, so the shared pseudo-random source mixed
/// with a counter is enough; no RNG crate is needed.
pub fn generate_tool_call_id() -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    // An odd multiplier spreads consecutive counts over all bits before mixing them in.
    let mut bits = elbatt::outbound::random_u64() ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..9)
        .map(|_| {
            let digit = ALPHABET[(bits % 62) as usize];
            bits /= 62;
            char::from(digit)
        })
        .collect()
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads an optional field that is `None` when absent, `null` or of an unexpected shape, so one
/// odd field does not fail the whole response.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

fn content_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(text_of_content(&Value::deserialize(deserializer)?))
}

fn arguments_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(arguments_of(&Value::deserialize(deserializer)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookup_plate_tool() -> ToolSpec {
        ToolSpec::function(
            "lookup_plate",
            "Look up a Norwegian vehicle by plate",
            json!({"type": "object", "properties": {"plate": {"type": "string"}}, "required": ["plate"]}),
        )
    }

    #[test]
    fn a_minimal_request_leaves_out_every_unset_field() {
        let request = ChatRequest {
            model: "gpt-4o-mini".into(),
            messages: vec![Message::user("Hei")],
            ..ChatRequest::default()
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hei"}], "stream": false})
        );
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(serde_json::from_str::<ChatRequest>(&text).unwrap(), request);
    }

    #[test]
    fn a_full_streaming_request_has_the_openai_shape() {
        let request = ChatRequest {
            model: "mistral-small-3.2-24b-instruct-2506".into(),
            messages: vec![
                Message::system("Svar på bokmål."),
                Message::user("Hva er AB12345?"),
            ],
            tools: vec![lookup_plate_tool()],
            tool_choice: Some(ToolChoice::AUTO),
            stream: true,
            stream_options: Some(StreamOptions {
                include_usage: true,
            }),
            token_limit: Some(TokenLimit::MaxCompletionTokens(800)),
            temperature: Some(0.5),
        };
        let value = serde_json::to_value(&request).unwrap();
        assert_eq!(value["tools"][0]["type"], "function");
        assert_eq!(value["tools"][0]["function"]["name"], "lookup_plate");
        assert_eq!(
            value["tools"][0]["function"]["parameters"]["required"][0],
            "plate"
        );
        assert_eq!(value["tool_choice"], "auto");
        assert_eq!(value["stream"], true);
        assert_eq!(value["stream_options"], json!({"include_usage": true}));
        assert_eq!(value["max_completion_tokens"], 800);
        assert!(value.get("max_tokens").is_none());
        assert_eq!(value["temperature"], 0.5);
        assert_eq!(
            value["messages"][0],
            json!({"role": "system", "content": "Svar på bokmål."})
        );
    }

    #[test]
    fn the_legacy_token_limit_is_sent_as_max_tokens() {
        let request = ChatRequest {
            token_limit: Some(TokenLimit::MaxTokens(256)),
            ..ChatRequest::default()
        };
        let value = serde_json::to_value(&request).unwrap();
        assert_eq!(value["max_tokens"], 256);
        assert!(value.get("max_completion_tokens").is_none());
    }

    #[test]
    fn a_request_survives_a_round_trip_through_json() {
        let request = ChatRequest {
            model: "gpt-oss-120b".into(),
            messages: vec![
                Message::user("AB12345"),
                Message::assistant_tool_calls(vec![ToolCall::function(
                    "aB3dE5gH7",
                    "lookup_plate",
                    r#"{"plate":"AB12345"}"#,
                )]),
                Message::tool_result("aB3dE5gH7", r#"{"make":"TESLA"}"#),
                Message::assistant_text("Det er en Tesla."),
            ],
            tools: vec![lookup_plate_tool()],
            tool_choice: Some(ToolChoice::function("lookup_plate")),
            token_limit: Some(TokenLimit::MaxTokens(100)),
            ..ChatRequest::default()
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(serde_json::from_str::<ChatRequest>(&text).unwrap(), request);
    }

    #[test]
    fn tool_choice_forms_serialise_as_the_api_expects() {
        assert_eq!(
            serde_json::to_value(ToolChoice::NONE).unwrap(),
            json!("none")
        );
        assert_eq!(
            serde_json::to_value(ToolChoice::REQUIRED).unwrap(),
            json!("required")
        );
        assert_eq!(
            serde_json::to_value(ToolChoice::function("lookup_plate")).unwrap(),
            json!({"type": "function", "function": {"name": "lookup_plate"}})
        );
    }

    #[test]
    fn an_assistant_tool_call_turn_has_string_arguments_and_no_content_key() {
        let message = Message::assistant_tool_calls(vec![ToolCall::function(
            "call1abcd",
            "lookup_plate",
            r#"{"plate":"AB12345"}"#,
        )]);
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            json!({"role": "assistant", "tool_calls": [{
                "id": "call1abcd", "type": "function",
                "function": {"name": "lookup_plate", "arguments": "{\"plate\":\"AB12345\"}"}
            }]})
        );
    }

    #[test]
    fn a_tool_result_carries_the_call_id() {
        assert_eq!(
            serde_json::to_value(Message::tool_result("call1abcd", "{}")).unwrap(),
            json!({"role": "tool", "tool_call_id": "call1abcd", "content": "{}"})
        );
    }

    #[test]
    fn a_gemini_thought_signature_is_echoed_back() {
        let mut call = ToolCall::function("fc1", "lookup_plate", "{}");
        call.extra_content = Some(json!({"google": {"thought_signature": "c2ln"}}));
        let value = serde_json::to_value(Message::assistant_tool_calls(vec![call])).unwrap();
        assert_eq!(
            value["tool_calls"][0]["extra_content"]["google"]["thought_signature"],
            "c2ln"
        );
    }

    #[test]
    fn an_openai_response_with_tool_calls_and_detailed_usage_is_read() {
        let body = json!({
            "id": "chatcmpl-abc", "object": "chat.completion", "created": 1_700_000_000,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_1", "service_tier": "default",
            "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null, "refusal": null,
                "tool_calls": [{"id": "call_Xy", "type": "function",
                    "function": {"name": "lookup_plate", "arguments": "{\"plate\":\"AB12345\"}"}}]}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 18, "total_tokens": 138,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0}, "cost": 0.0001}
        });
        let response: ChatResponse = serde_json::from_value(body).unwrap();
        assert_eq!(response.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
        let choice = &response.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(choice.message.content, None);
        assert_eq!(choice.message.tool_calls[0].id.as_deref(), Some("call_Xy"));
        assert_eq!(
            choice.message.tool_calls[0].function.arguments,
            r#"{"plate":"AB12345"}"#
        );
        assert_eq!(
            response.usage,
            Some(Usage {
                prompt_tokens: 120,
                completion_tokens: 18,
                total_tokens: 138
            })
        );
    }

    #[test]
    fn odd_response_fields_do_not_fail_the_response() {
        let body = json!({
            "choices": [{"finish_reason": "", "message": {"content": "Hei!", "tool_calls": null}}],
            "usage": "unavailable"
        });
        let response: ChatResponse = serde_json::from_value(body).unwrap();
        assert_eq!(response.choices[0].finish_reason.as_deref(), Some(""));
        assert_eq!(response.choices[0].message.content.as_deref(), Some("Hei!"));
        assert_eq!(response.usage, None);
    }

    #[test]
    fn usage_reads_null_counts_as_zero() {
        let usage: Usage =
            serde_json::from_value(json!({"prompt_tokens": null, "completion_tokens": 7})).unwrap();
        assert_eq!(usage.prompt_tokens, 0);
        assert_eq!(usage.completion_tokens, 7);
        assert_eq!(usage.total_tokens, 0);
    }

    #[test]
    fn content_parts_are_reduced_to_their_text() {
        let body = json!({"choices": [{"message": {"content": [
            {"type": "thinking", "thinking": [{"type": "text", "text": "hidden"}]},
            {"type": "text", "text": "Synlig "},
            {"type": "text", "text": "svar"}
        ]}}]});
        let response: ChatResponse = serde_json::from_value(body).unwrap();
        assert_eq!(
            response.choices[0].message.content.as_deref(),
            Some("Synlig svar")
        );
    }

    #[test]
    fn object_arguments_are_re_encoded_as_a_string() {
        let body = json!({"choices": [{"message": {"tool_calls": [
            {"function": {"name": "lookup_plate", "arguments": {"plate": "AB12345"}}}
        ]}}]});
        let response: ChatResponse = serde_json::from_value(body).unwrap();
        let call = &response.choices[0].message.tool_calls[0];
        assert_eq!(call.id, None);
        assert_eq!(
            serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
            json!({"plate": "AB12345"})
        );
    }

    #[test]
    fn generated_tool_call_ids_are_nine_alphanumerics_and_distinct() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| generate_tool_call_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        );
    }
}
