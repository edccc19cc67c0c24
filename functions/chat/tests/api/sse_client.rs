//! Reading `/chat`'s Server-Sent Events the way the widget does: named events with JSON data,
//! comments skipped. Shared with the runner's tests (`local-dev/tests/api/chat.rs`).

use serde_json::Value;

/// One event of our stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    /// The frame's `id:` (`<turn>:<seq>`), what a reconnect sends back as `Last-Event-ID`.
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    pub(crate) data: Value,
}

/// Parses a whole SSE body. Panics on a frame without `event:` or with data that is not JSON:
/// every frame we send has both.
pub(crate) fn parse(body: &str) -> Vec<Event> {
    body.split("\n\n")
        .filter_map(|frame| {
            let mut name = None;
            let mut id = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(i) = line.strip_prefix("id: ") {
                    id = Some(i.to_owned());
                } else if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                } else {
                    assert!(
                        line.is_empty() || line.starts_with(':'),
                        "unexpected SSE line {line:?} in {body}"
                    );
                }
            }
            if name.is_none() && data.is_empty() {
                return None;
            }
            let name = name.unwrap_or_else(|| panic!("frame without a name: {frame:?}"));
            let data = serde_json::from_str(&data)
                .unwrap_or_else(|e| panic!("data of {name} is not JSON ({e}): {data}"));
            Some(Event { id, name, data })
        })
        .collect()
}

/// The event names in order.
pub(crate) fn names(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

/// The text of each `delta` event, in order.
pub(crate) fn deltas(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.name == "delta")
        .map(|e| e.data["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The whole answer text.
pub(crate) fn text(events: &[Event]) -> String {
    deltas(events).concat()
}

/// The data of every event called `name`.
pub(crate) fn all<'a>(events: &'a [Event], name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e.name == name)
        .map(|e| &e.data)
        .collect()
}

/// The data of the one event called `name`; panics unless there is exactly one.
pub(crate) fn only<'a>(events: &'a [Event], name: &str) -> &'a Value {
    match all(events, name).as_slice() {
        [one] => one,
        other => panic!(
            "expected one {name} event, got {}: {:?}",
            other.len(),
            names(events)
        ),
    }
}
