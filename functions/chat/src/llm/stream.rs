//! The streaming accumulator: turns the `data` of each SSE event of a streamed Chat Completions
//! response into text deltas to forward, and at the end into one [`Completion`] (text, tool
//! calls, usage). Pure: no I/O; the caller does the HTTP and the SSE framing.
//!
//! Chunks are read as loose JSON rather than typed structs, because "compatible" providers break
//! the OpenAI shape in many small ways (docs/upstreams/llm-providers.md#compatibility-quirks):
//! tool-call fragments without `index`, ids
//! repeated in every fragment, parallel calls sharing `index: 0`, whole calls in one chunk, odd
//! `finish_reason` values, usage in every chunk, and error objects after the 200.

use serde::Deserialize;
use serde_json::Value;

use crate::llm::error::{ProviderError, ProviderErrorKind};
use crate::llm::wire::{self, ChatResponse, ToolCall, Usage};

/// What the caller forwards while the stream runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    TextDelta(String),
    /// The `[DONE]` sentinel arrived; nothing after it is read.
    Done,
}

/// The result of one model call, streamed or not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    pub text: String,
    /// Any tool calls the model made. Decide "tool call or not" from this, never from
    /// `finish_reason`, which is `"stop"` or `""` on some providers even when tools were called.
    pub tool_calls: Vec<AccumulatedToolCall>,
    pub usage: Option<Usage>,
    /// A free string, as the provider sent it (`stop`, `length`, `tool_calls`, `""`, …).
    pub finish_reason: Option<String>,
    /// The model that answered, which on OpenRouter may be a fallback model.
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccumulatedToolCall {
    /// The provider's id, or one we generated when it sent none.
    pub id: String,
    pub name: String,
    /// The JSON arguments as a string, not yet validated. Never empty: no arguments is `{}`.
    pub arguments: String,
    /// Gemini's thought signature, to be echoed back (see [`ToolCall::extra_content`]).
    pub extra_content: Option<Value>,
}

impl From<&AccumulatedToolCall> for ToolCall {
    fn from(call: &AccumulatedToolCall) -> Self {
        let mut replayed = ToolCall::function(&call.id, &call.name, &call.arguments);
        replayed.extra_content = call.extra_content.clone();
        replayed
    }
}

impl Completion {
    /// Reads a non-streaming response body, which may be an error object despite the 200.
    pub fn from_response_body(body: &[u8]) -> Result<Self, ProviderError> {
        let value: Value = serde_json::from_slice(body).map_err(|_| {
            ProviderError::new(ProviderErrorKind::Other, "the response body is not JSON")
        })?;
        if let Some(error) = ProviderError::from_stream_payload(&value) {
            return Err(error);
        }
        let response = ChatResponse::deserialize(&value).map_err(|error| {
            ProviderError::new(
                ProviderErrorKind::Other,
                &format!("the response has an unexpected shape: {error}"),
            )
        })?;
        Ok(Self::from(response))
    }
}

impl From<ChatResponse> for Completion {
    fn from(response: ChatResponse) -> Self {
        let mut choices = response.choices;
        // We never ask for more than one choice; take the first if index 0 is missing.
        let position = choices.iter().position(|c| c.index == 0).unwrap_or(0);
        let choice = (position < choices.len()).then(|| choices.swap_remove(position));
        let (message, finish_reason) = choice
            .map(|c| (c.message, c.finish_reason))
            .unwrap_or_default();
        Self {
            text: message.content.unwrap_or_default(),
            tool_calls: message
                .tool_calls
                .into_iter()
                .filter_map(|call| {
                    finished_call(
                        call.id,
                        call.function.name,
                        call.function.arguments,
                        call.extra_content,
                    )
                })
                .collect(),
            usage: response.usage,
            finish_reason,
            model: response.model,
        }
    }
}

/// Accumulates one streamed response.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    text: String,
    calls: Vec<PartialCall>,
    /// Position in `calls` of the call the last fragment went to.
    current: Option<usize>,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    model: Option<String>,
    done: bool,
}

#[derive(Debug, Default)]
struct PartialCall {
    /// The provider's `index`, when it sent one.
    index: Option<u64>,
    id: Option<String>,
    name: String,
    arguments: String,
    extra_content: Option<Value>,
}

impl StreamAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one SSE event. Returns the events to forward now (text deltas as they arrive).
    ///
    /// Keep-alives, empty data and data that is not JSON are skipped. JSON carrying an error
    /// object, or an `error` event, is returned as `Err`; what was accumulated before it stays
    /// available through [`finish`](Self::finish).
    pub fn push(
        &mut self,
        event_name: &str,
        data: &str,
    ) -> Result<Vec<StreamEvent>, ProviderError> {
        if self.done {
            return Ok(Vec::new());
        }
        match event_name {
            "keepalive" | "ping" => return Ok(Vec::new()),
            "error" => return Err(ProviderError::from_error_event(data)),
            _ => {}
        }
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(vec![StreamEvent::Done]);
        }
        // Gateways send `data:` keep-alives and other non-JSON lines; they carry nothing.
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return Ok(Vec::new());
        };
        // The error check comes before chunk decoding: an OpenRouter error chunk also carries an
        // ordinary-looking `choices` array.
        if let Some(error) = ProviderError::from_stream_payload(&chunk) {
            return Err(error);
        }
        Ok(self.apply_chunk(&chunk).into_iter().collect())
    }

    pub fn saw_done(&self) -> bool {
        self.done
    }

    /// Whether any text or tool call has arrived; once it has, the call must not be retried.
    pub fn has_output(&self) -> bool {
        !self.text.is_empty() || !self.calls.is_empty()
    }

    /// Returns what was accumulated, whether or not the stream ended cleanly.
    pub fn finish(self) -> Completion {
        Completion {
            text: self.text,
            tool_calls: self
                .calls
                .into_iter()
                .filter_map(|call| {
                    finished_call(call.id, call.name, call.arguments, call.extra_content)
                })
                .collect(),
            usage: self.usage,
            finish_reason: self.finish_reason,
            model: self.model,
        }
    }

    fn apply_chunk(&mut self, chunk: &Value) -> Option<StreamEvent> {
        if let Some(model) = chunk
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            self.model = Some(model.to_owned());
        }
        // Usage may come in every chunk (cumulative), only in a last chunk with empty `choices`,
        // or never: keep the last value that is there.
        if let Some(usage) = chunk.get("usage").and_then(|u| Usage::deserialize(u).ok()) {
            self.usage = Some(usage);
        }
        let mut new_text = String::new();
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            // We never ask for more than one choice; never mix another one into the answer.
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(reason.to_owned());
            }
            let Some(delta) = choice.get("delta") else {
                continue;
            };
            // `role`, `refusal`, `reasoning` and `reasoning_content` are not read: reasoning is
            // not shown to the user.
            if let Some(text) = delta.get("content").and_then(wire::text_of_content) {
                new_text.push_str(&text);
            }
            let fragments = delta.get("tool_calls").and_then(Value::as_array);
            for fragment in fragments.into_iter().flatten() {
                self.apply_tool_call(fragment);
            }
        }
        if new_text.is_empty() {
            return None;
        }
        self.text.push_str(&new_text);
        Some(StreamEvent::TextDelta(new_text))
    }

    fn apply_tool_call(&mut self, fragment: &Value) {
        let index = fragment.get("index").and_then(Value::as_u64);
        let id = fragment
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty());
        let function = fragment.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty());
        let arguments = function
            .and_then(|f| f.get("arguments"))
            .map(wire::arguments_of)
            .unwrap_or_default();

        let position = self.call_for(index, id, name);
        let Some(call) = self.calls.get_mut(position) else {
            return;
        };
        // The id and name are set once, never appended: some providers repeat them in every
        // fragment (docs/upstreams/llm-providers.md#compatibility-quirks).
        if call.id.is_none() {
            call.id = id.map(str::to_owned);
        }
        if let (true, Some(name)) = (call.name.is_empty(), name) {
            call.name = name.to_owned();
        }
        call.arguments.push_str(&arguments);
        if let Some(extra) = fragment.get("extra_content").filter(|v| !v.is_null()) {
            call.extra_content = Some(extra.clone());
        }
        self.current = Some(position);
    }

    /// Returns the position of the call a fragment belongs to, starting a new call if needed.
    fn call_for(&mut self, index: Option<u64>, id: Option<&str>, name: Option<&str>) -> usize {
        if let Some(id) = id {
            if let Some(position) = self.calls.iter().position(|c| c.id.as_deref() == Some(id)) {
                return position;
            }
        }
        // The call the fragment continues: the latest one at its index, or, when it has no
        // index (Gemini), the one the previous fragment went to.
        let continued = match index {
            Some(index) => self.calls.iter().rposition(|c| c.index == Some(index)),
            None => self.current,
        };
        let continued = continued.and_then(|position| Some((position, self.calls.get(position)?)));
        if let Some((position, call)) = continued {
            // A different id or function name means a new call that reuses the index: parallel
            // calls all sent with `index: 0`, or index-less ones. A new call always starts with
            // its name, so a changed id without one is taken as noise, not a new call.
            let new_id = id.is_some() && call.id.is_some() && name.is_some();
            let new_name = name.is_some_and(|name| !call.name.is_empty() && call.name != name);
            if !new_id && !new_name {
                return position;
            }
        }
        self.calls.push(PartialCall {
            index,
            ..PartialCall::default()
        });
        self.calls.len() - 1
    }
}

/// Finishes one tool call, or drops it if it never got a name: it can be neither executed nor
/// replayed in history.
fn finished_call(
    id: Option<String>,
    name: String,
    arguments: String,
    extra_content: Option<Value>,
) -> Option<AccumulatedToolCall> {
    if name.is_empty() {
        return None;
    }
    Some(AccumulatedToolCall {
        id: id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(wire::generate_tool_call_id),
        name,
        // Some servers send "" for a call without arguments; `{}` is what it means.
        arguments: if arguments.trim().is_empty() {
            "{}".to_owned()
        } else {
            arguments
        },
        extra_content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An OpenAI-style chunk carrying one choice.
    fn openai_chunk(delta: Value, finish_reason: Value) -> String {
        json!({
            "id": "chatcmpl-AbC123", "object": "chat.completion.chunk", "created": 1_731_000_000,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0ba0d124f1",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
            "usage": null
        })
        .to_string()
    }

    fn tool_delta(fragment: Value) -> String {
        openai_chunk(json!({"tool_calls": [fragment]}), Value::Null)
    }

    /// Feeds unnamed events and returns everything forwarded plus the completion.
    fn run(data: &[String]) -> (Vec<StreamEvent>, Completion) {
        let mut accumulator = StreamAccumulator::new();
        let mut events = Vec::new();
        for item in data {
            events.extend(accumulator.push("", item).unwrap());
        }
        (events, accumulator.finish())
    }

    fn texts(events: &[StreamEvent]) -> Vec<&str> {
        events
            .iter()
            .filter_map(|event| match event {
                StreamEvent::TextDelta(text) => Some(text.as_str()),
                StreamEvent::Done => None,
            })
            .collect()
    }

    fn names_and_arguments(completion: &Completion) -> Vec<(&str, Value)> {
        completion
            .tool_calls
            .iter()
            .map(|call| {
                (
                    call.name.as_str(),
                    serde_json::from_str(&call.arguments).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn a_plain_openai_text_stream_forwards_each_delta_and_ends_with_done() {
        let (events, completion) = run(&[
            openai_chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null),
            openai_chunk(json!({"content": "Hei"}), Value::Null),
            openai_chunk(json!({"content": "! Hva"}), Value::Null),
            openai_chunk(json!({"content": " gjelder det?"}), Value::Null),
            openai_chunk(json!({}), json!("stop")),
            r#"{"id":"chatcmpl-AbC123","object":"chat.completion.chunk","created":1731000000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":42,"completion_tokens":6,"total_tokens":48,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#.into(),
            "[DONE]".into(),
        ]);
        assert_eq!(texts(&events), ["Hei", "! Hva", " gjelder det?"]);
        assert_eq!(events.last(), Some(&StreamEvent::Done));
        assert_eq!(completion.text, "Hei! Hva gjelder det?");
        assert_eq!(completion.finish_reason.as_deref(), Some("stop"));
        assert_eq!(completion.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
        assert_eq!(completion.usage.map(|u| u.total_tokens), Some(48));
        assert!(completion.tool_calls.is_empty());
    }

    #[test]
    fn a_tool_call_split_across_many_deltas_is_joined_in_order() {
        let mut data = vec![
            openai_chunk(json!({"role": "assistant", "content": null}), Value::Null),
            tool_delta(
                json!({"index": 0, "id": "call_q1W2e3R4", "type": "function",
                "function": {"name": "lookup_plate", "arguments": ""}}),
            ),
        ];
        let pieces = [
            "{\"", "pl", "ate", "\":", " \"", "AB", "12", "3", "45", "\"", "}",
        ];
        for piece in pieces {
            data.push(tool_delta(
                json!({"index": 0, "function": {"arguments": piece}}),
            ));
        }
        data.push(openai_chunk(json!({}), json!("tool_calls")));
        data.push("[DONE]".into());

        let (events, completion) = run(&data);
        assert!(texts(&events).is_empty());
        assert_eq!(completion.tool_calls.len(), 1);
        assert_eq!(completion.tool_calls[0].id, "call_q1W2e3R4");
        assert_eq!(completion.tool_calls[0].arguments, pieces.concat());
        assert_eq!(
            names_and_arguments(&completion),
            [("lookup_plate", json!({"plate": "AB12345"}))]
        );
    }

    #[test]
    fn two_calls_with_interleaved_indices_are_kept_apart() {
        let (_, completion) = run(&[
            tool_delta(
                json!({"index": 0, "id": "call_A", "type": "function", "function": {"name": "lookup_plate", "arguments": ""}}),
            ),
            tool_delta(
                json!({"index": 1, "id": "call_B", "type": "function", "function": {"name": "lookup_plate", "arguments": ""}}),
            ),
            tool_delta(json!({"index": 0, "function": {"arguments": "{\"plate\":"}})),
            tool_delta(json!({"index": 1, "function": {"arguments": "{\"plate\":"}})),
            tool_delta(json!({"index": 1, "function": {"arguments": "\"EL98765\"}"}})),
            tool_delta(json!({"index": 0, "function": {"arguments": "\"AB12345\"}"}})),
        ]);
        let ids: Vec<&str> = completion
            .tool_calls
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ids, ["call_A", "call_B"]);
        assert_eq!(
            names_and_arguments(&completion),
            [
                ("lookup_plate", json!({"plate": "AB12345"})),
                ("lookup_plate", json!({"plate": "EL98765"}))
            ]
        );
    }

    #[test]
    fn fragments_without_index_continue_the_current_call() {
        // Gemini's compatibility layer: no `index` on any fragment.
        let (_, completion) = run(&[
            r#"{"choices":[{"delta":{"role":"assistant","tool_calls":[{"id":"function-call-1234","type":"function","function":{"name":"lookup_plate","arguments":"{\"plate\":"}}]},"index":0}],"created":1731000000,"model":"gemini-2.5-flash","object":"chat.completion.chunk"}"#.into(),
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"\"AB12345\"}"}}]},"index":0}],"object":"chat.completion.chunk"}"#.into(),
            r#"{"choices":[{"delta":{},"finish_reason":"stop","index":0}],"object":"chat.completion.chunk"}"#.into(),
        ]);
        assert_eq!(completion.tool_calls.len(), 1);
        assert_eq!(completion.tool_calls[0].id, "function-call-1234");
        assert_eq!(
            names_and_arguments(&completion),
            [("lookup_plate", json!({"plate": "AB12345"}))]
        );
        assert_eq!(completion.model.as_deref(), Some("gemini-2.5-flash"));
    }

    #[test]
    fn a_first_fragment_without_index_or_id_starts_call_zero() {
        let (_, completion) = run(&[
            tool_delta(json!({"function": {"name": "lookup_plate", "arguments": "{\"plate\""}})),
            tool_delta(json!({"function": {"arguments": ":\"AB12345\"}"}})),
        ]);
        assert_eq!(
            names_and_arguments(&completion),
            [("lookup_plate", json!({"plate": "AB12345"}))]
        );
    }

    #[test]
    fn an_id_repeated_in_every_fragment_is_set_once() {
        // LiteLLM proxy / Fireworks / DeepSeek: the id, type and name come again in every fragment.
        let (_, completion) = run(&[
            tool_delta(
                json!({"index": 0, "id": "call_7xYz", "type": "function", "function": {"name": "lookup_plate", "arguments": ""}}),
            ),
            tool_delta(
                json!({"index": 0, "id": "call_7xYz", "type": "function", "function": {"name": "lookup_plate", "arguments": "{\"plate\":"}}),
            ),
            tool_delta(
                json!({"index": 0, "id": "call_7xYz", "type": "function", "function": {"name": "lookup_plate", "arguments": "\"AB12345\"}"}}),
            ),
        ]);
        assert_eq!(completion.tool_calls.len(), 1);
        assert_eq!(completion.tool_calls[0].id, "call_7xYz");
        assert_eq!(
            names_and_arguments(&completion),
            [("lookup_plate", json!({"plate": "AB12345"}))]
        );
    }

    #[test]
    fn an_id_that_changes_mid_call_without_a_name_continues_the_call() {
        let (_, completion) = run(&[
            tool_delta(
                json!({"index": 0, "id": "call_first", "function": {"name": "lookup_plate", "arguments": "{\"plate\":"}}),
            ),
            tool_delta(
                json!({"index": 0, "id": "call_other", "function": {"arguments": "\"AB12345\"}"}}),
            ),
        ]);
        assert_eq!(completion.tool_calls.len(), 1);
        assert_eq!(completion.tool_calls[0].id, "call_first");
        assert_eq!(
            names_and_arguments(&completion),
            [("lookup_plate", json!({"plate": "AB12345"}))]
        );
    }

    #[test]
    fn a_repeated_name_does_not_start_a_new_call() {
        let (_, completion) = run(&[
            tool_delta(
                json!({"index": 0, "id": "call_1", "function": {"name": "lookup_plate", "arguments": "{\"plate\":"}}),
            ),
            tool_delta(
                json!({"index": 0, "function": {"name": "lookup_plate", "arguments": "\"AB12345\"}"}}),
            ),
        ]);
        assert_eq!(
            names_and_arguments(&completion),
            [("lookup_plate", json!({"plate": "AB12345"}))]
        );
    }

    #[test]
    fn parallel_calls_all_at_index_zero_are_split_by_id() {
        let (_, completion) = run(&[
            tool_delta(
                json!({"index": 0, "id": "call_one", "type": "function", "function": {"name": "lookup_plate", "arguments": "{\"plate\":"}}),
            ),
            tool_delta(json!({"index": 0, "function": {"arguments": "\"AB12345\"}"}})),
            tool_delta(
                json!({"index": 0, "id": "call_two", "type": "function", "function": {"name": "lookup_plate", "arguments": "{\"plate\":"}}),
            ),
            tool_delta(json!({"index": 0, "function": {"arguments": "\"EL98765\"}"}})),
        ]);
        let ids: Vec<&str> = completion
            .tool_calls
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ids, ["call_one", "call_two"]);
        assert_eq!(
            names_and_arguments(&completion),
            [
                ("lookup_plate", json!({"plate": "AB12345"})),
                ("lookup_plate", json!({"plate": "EL98765"}))
            ]
        );
    }

    #[test]
    fn index_less_calls_to_different_functions_are_split_by_name() {
        let (_, completion) = run(&[
            tool_delta(
                json!({"function": {"name": "lookup_plate", "arguments": "{\"plate\":\"AB12345\"}"}}),
            ),
            tool_delta(json!({"function": {"name": "get_time", "arguments": "{}"}})),
        ]);
        let names: Vec<&str> = completion
            .tool_calls
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["lookup_plate", "get_time"]);
    }

    #[test]
    fn a_whole_call_in_one_chunk_is_applied_once() {
        // Mistral: id, name and complete arguments in a single fragment.
        let (_, completion) = run(&[
            r#"{"id":"7c0f1a","object":"chat.completion.chunk","created":1731000000,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#.into(),
            r#"{"id":"7c0f1a","object":"chat.completion.chunk","created":1731000000,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"content":"","tool_calls":[{"id":"D681PevKs","function":{"name":"lookup_plate","arguments":"{\"plate\": \"AB12345\"}"},"index":0}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":90,"total_tokens":112,"completion_tokens":22}}"#.into(),
            "[DONE]".into(),
        ]);
        assert_eq!(completion.tool_calls.len(), 1);
        assert_eq!(completion.tool_calls[0].id, "D681PevKs");
        assert_eq!(
            completion.tool_calls[0].arguments,
            r#"{"plate": "AB12345"}"#
        );
        assert_eq!(completion.usage.map(|u| u.completion_tokens), Some(22));
    }

    #[test]
    fn tool_calls_count_whatever_the_finish_reason_says() {
        for reason in ["stop", "", "function_call_done_custom"] {
            let (_, completion) = run(&[
                tool_delta(
                    json!({"index": 0, "id": "call_1", "function": {"name": "lookup_plate", "arguments": "{\"plate\":\"AB12345\"}"}}),
                ),
                openai_chunk(json!({}), json!(reason)),
            ]);
            assert_eq!(completion.tool_calls.len(), 1, "{reason:?}");
            assert_eq!(completion.finish_reason.as_deref(), Some(reason));
        }
    }

    #[test]
    fn cumulative_usage_in_every_chunk_keeps_the_last_value() {
        // Scaleway dedicated deployments.
        let chunk = |content: &str, completion_tokens: u64, finish: Value| {
            json!({"id": "chatcmpl-sc", "object": "chat.completion.chunk", "model": "mistral-small-3.2-24b-instruct-2506",
                "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
                "usage": {"prompt_tokens": 30, "completion_tokens": completion_tokens,
                    "total_tokens": 30 + completion_tokens, "prompt_tokens_details": null}})
            .to_string()
        };
        let (_, completion) = run(&[
            chunk("Hei", 1, Value::Null),
            chunk(" der", 2, Value::Null),
            chunk("!", 3, json!("stop")),
            openai_chunk(json!({}), Value::Null),
        ]);
        assert_eq!(
            completion.usage,
            Some(Usage {
                prompt_tokens: 30,
                completion_tokens: 3,
                total_tokens: 33
            })
        );
    }

    #[test]
    fn a_stream_without_usage_reports_none() {
        let (_, completion) = run(&[
            openai_chunk(json!({"content": "Hei"}), Value::Null),
            openai_chunk(json!({}), json!("stop")),
            "[DONE]".into(),
        ]);
        assert_eq!(completion.usage, None);
    }

    #[test]
    fn an_error_object_after_the_200_is_an_error_and_keeps_what_came_before() {
        let mut accumulator = StreamAccumulator::new();
        accumulator
            .push(
                "",
                &openai_chunk(json!({"content": "Bilen er"}), Value::Null),
            )
            .unwrap();
        let error = accumulator
            .push("", r#"{"id":"gen-17","object":"chat.completion.chunk","created":1731000000,"model":"openai/gpt-oss-120b","provider":"Groq","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#)
            .unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Overloaded);
        assert!(accumulator.has_output());
        assert_eq!(accumulator.finish().text, "Bilen er");
    }

    #[test]
    fn a_legacy_object_error_in_the_stream_is_an_error() {
        let mut accumulator = StreamAccumulator::new();
        let error = accumulator
            .push("", r#"{"object":"error","message":"The server had an error while processing your request.","type":"InternalServerError","param":null,"code":500}"#)
            .unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Overloaded);
        assert!(error.message.starts_with("The server had an error"));
    }

    #[test]
    fn an_error_event_is_an_error_even_without_an_error_key() {
        let mut accumulator = StreamAccumulator::new();
        let json = accumulator
            .push(
                "error",
                r#"{"message":"Rate limited","type":"rate_limit_error"}"#,
            )
            .unwrap_err();
        assert_eq!(json.kind, ProviderErrorKind::RateLimited);
        let text = accumulator.push("error", "upstream went away").unwrap_err();
        assert_eq!(text.message, "upstream went away");
    }

    #[test]
    fn a_missing_tool_id_is_replaced_by_a_mistral_safe_one() {
        let (_, completion) = run(&[tool_delta(
            json!({"index": 0, "type": "function", "function": {"name": "lookup_plate", "arguments": "{\"plate\":\"AB12345\"}"}}),
        )]);
        let id = &completion.tool_calls[0].id;
        assert_eq!(id.len(), 9);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn null_empty_and_role_only_deltas_forward_nothing() {
        let mut accumulator = StreamAccumulator::new();
        for delta in [
            json!({"role": "assistant"}),
            json!({"role": "assistant", "content": null}),
            json!({"content": ""}),
            json!({}),
        ] {
            let events = accumulator
                .push("", &openai_chunk(delta, Value::Null))
                .unwrap();
            assert!(events.is_empty());
        }
        assert!(!accumulator.has_output());
    }

    #[test]
    fn reasoning_fields_are_not_shown_to_the_user() {
        let (events, completion) = run(&[
            openai_chunk(
                json!({"role": "assistant", "content": "", "reasoning": "The user asks about"}),
                Value::Null,
            ),
            openai_chunk(
                json!({"content": null, "reasoning_content": " a plate."}),
                Value::Null,
            ),
            openai_chunk(json!({"content": "Hei!", "reasoning": null}), Value::Null),
        ]);
        assert_eq!(texts(&events), ["Hei!"]);
        assert_eq!(completion.text, "Hei!");
    }

    #[test]
    fn keep_alives_and_junk_data_are_skipped() {
        let mut accumulator = StreamAccumulator::new();
        for (event, data) in [
            ("keepalive", ""),
            ("ping", r#"{"type":"ping"}"#),
            ("", ""),
            ("", "   "),
            ("", ": OPENROUTER PROCESSING"),
            ("", "keep-alive"),
            ("message", "42"),
        ] {
            assert_eq!(
                accumulator.push(event, data).unwrap(),
                [],
                "{event}: {data}"
            );
        }
        assert!(!accumulator.has_output() && !accumulator.saw_done());
    }

    #[test]
    fn nothing_after_done_is_read() {
        let mut accumulator = StreamAccumulator::new();
        assert_eq!(
            accumulator.push("", " [DONE] ").unwrap(),
            [StreamEvent::Done]
        );
        assert!(accumulator.saw_done());
        assert_eq!(
            accumulator
                .push("", &openai_chunk(json!({"content": "late"}), Value::Null))
                .unwrap(),
            []
        );
        assert_eq!(accumulator.push("", "[DONE]").unwrap(), []);
        assert_eq!(accumulator.finish().text, "");
    }

    #[test]
    fn other_choices_are_not_mixed_into_the_answer() {
        let chunk = json!({"choices": [
            {"index": 0, "delta": {"content": "Ja"}},
            {"index": 1, "delta": {"content": "Nei"}}
        ]});
        let (_, completion) = run(&[chunk.to_string()]);
        assert_eq!(completion.text, "Ja");
    }

    #[test]
    fn an_empty_or_nameless_call_is_normalised_or_dropped() {
        let (_, completion) = run(&[
            tool_delta(
                json!({"index": 0, "id": "call_1", "function": {"name": "get_time", "arguments": ""}}),
            ),
            tool_delta(json!({"index": 1, "id": "call_2", "function": {"arguments": "{}"}})),
        ]);
        assert_eq!(completion.tool_calls.len(), 1);
        assert_eq!(completion.tool_calls[0].arguments, "{}");
    }

    #[test]
    fn a_gemini_thought_signature_is_kept_for_replay() {
        let (_, completion) = run(&[tool_delta(json!({
            "id": "function-call-9", "type": "function",
            "function": {"name": "lookup_plate", "arguments": "{\"plate\":\"AB12345\"}"},
            "extra_content": {"google": {"thought_signature": "CiQB0e2Kb"}}
        }))]);
        let replayed = ToolCall::from(&completion.tool_calls[0]);
        assert_eq!(replayed.id, "function-call-9");
        assert_eq!(replayed.function.name, "lookup_plate");
        assert_eq!(
            replayed.extra_content,
            Some(json!({"google": {"thought_signature": "CiQB0e2Kb"}}))
        );
    }

    #[test]
    fn a_non_streaming_body_becomes_a_completion() {
        let body = br#"{"id":"chatcmpl-9","object":"chat.completion","model":"qwen3-235b-a22b-instruct-2507","choices":[{"index":0,"message":{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"lookup_plate","arguments":"{\"plate\":\"AB12345\"}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":80,"completion_tokens":12,"total_tokens":92}}"#;
        let completion = Completion::from_response_body(body).unwrap();
        assert_eq!(completion.text, "");
        assert_eq!(completion.tool_calls.len(), 1);
        assert_eq!(completion.tool_calls[0].id.len(), 9);
        assert_eq!(completion.finish_reason.as_deref(), Some("stop"));
        assert_eq!(completion.usage.map(|u| u.total_tokens), Some(92));
        assert_eq!(
            completion.model.as_deref(),
            Some("qwen3-235b-a22b-instruct-2507")
        );
    }

    #[test]
    fn a_non_streaming_error_body_or_junk_is_an_error() {
        let error = Completion::from_response_body(
            br#"{"error":{"message":"Rate limit exceeded","code":429}}"#,
        )
        .unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::RateLimited);
        let junk = Completion::from_response_body(b"<html>oops</html>").unwrap_err();
        assert_eq!(junk.kind, ProviderErrorKind::Other);
        let empty = Completion::from_response_body(b"{}").unwrap();
        assert_eq!(empty, Completion::default());
    }
}
