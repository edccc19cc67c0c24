//! Turn events kept for resumable streams (`docs/state.md`, "Resumable streams"): each event a
//! chat turn streamed, numbered from 1 within the turn, so a client that lost its connection can
//! ask any instance sharing the database for the events after the last one it saw.
//!
//! A turn is a head row (`turns`: when it started and ended, when its events expire, how many
//! were dropped over the bounds) and its events (`turn_events`). The writer sends them in
//! batches ([`TurnWrite`]: the head with whatever events arrived since the last write), one
//! transaction each, so a streamed answer costs a few writes, not one per token.
//!
//! No foreign key to `conversations`: a new conversation's row is written when its first turn
//! is done, while its events are written from the start. Events go with their conversation
//! (`delete`, retention) and on their own when they expire.

use serde::Serialize;

/// One stored event: its number within the turn, its name (`delta`, `vehicle`, `done`,
/// `error`) and its JSON data exactly as streamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TurnEventRecord {
    pub seq: i64,
    pub name: String,
    pub data: String,
}

/// A turn's head row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TurnHead {
    pub turn: String,
    pub started_at_ms: i64,
    /// Set when the turn's last event (`done` or `error`) is written.
    pub ended_at_ms: Option<i64>,
    /// After this the events are gone (readers treat them as gone at once; retention erases
    /// them at its next run).
    pub expires_at_ms: i64,
    /// The highest sequence number written.
    pub last_seq: i64,
    /// Events not kept because the turn passed its bounds: a turn with any cannot be replayed.
    pub dropped: i64,
}

/// One batched write: the head as it now is, and the events since the previous write.
#[derive(Debug, Clone, Copy)]
pub struct TurnWrite<'a> {
    pub conversation_id: &'a str,
    pub turn: &'a str,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub expires_at_ms: i64,
    pub dropped: i64,
    pub events: &'a [TurnEventRecord],
}

impl TurnWrite<'_> {
    /// The highest sequence number this write leaves (events only grow).
    pub(crate) fn last_seq(&self) -> i64 {
        self.events.last().map_or(0, |e| e.seq)
    }
}

/// What a reader gets: the head and the events after the asked number (at most the asked
/// count, oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TurnRead {
    pub head: TurnHead,
    pub events: Vec<TurnEventRecord>,
}

/// The most events one read returns; a reader that gets this many asks again.
pub const READ_PAGE: i64 = 500;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sqlite::Sqlite;
    use crate::{Backend, ConversationId, NewMessage};

    fn ev(seq: i64, name: &str) -> TurnEventRecord {
        TurnEventRecord {
            seq,
            name: name.to_owned(),
            data: format!(r#"{{"n":{seq}}}"#),
        }
    }

    fn write<'a>(conv: &'a str, events: &'a [TurnEventRecord], end: Option<i64>) -> TurnWrite<'a> {
        TurnWrite {
            conversation_id: conv,
            turn: "t1",
            started_at_ms: 1_000,
            ended_at_ms: end,
            expires_at_ms: 10_000,
            dropped: 0,
            events,
        }
    }

    #[tokio::test]
    async fn batches_read_back_in_order_from_any_point_until_they_expire() {
        let db = Sqlite::in_memory().unwrap();
        db.migrate_to(crate::schema::LATEST).await.unwrap();
        let conv = ConversationId::generate();
        let c = conv.as_str();
        db.turn_write(&write(c, &[], None)).await.unwrap();
        let head = db.turn_read(&conv, None, 0, 100, 2_000).await.unwrap();
        assert_eq!(
            head.unwrap().head.last_seq,
            0,
            "the head exists before any event"
        );
        db.turn_write(&write(c, &[ev(1, "delta"), ev(2, "delta")], None))
            .await
            .unwrap();
        // A retried batch is not a duplicate.
        db.turn_write(&write(c, &[ev(2, "delta"), ev(3, "done")], Some(3_000)))
            .await
            .unwrap();
        let all = db
            .turn_read(&conv, Some("t1"), 0, 100, 2_000)
            .await
            .unwrap();
        let all = all.unwrap();
        assert_eq!(
            all.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(all.head.ended_at_ms, Some(3_000));
        assert_eq!(all.head.last_seq, 3);
        let tail = db.turn_read(&conv, None, 1, 1, 2_000).await.unwrap();
        assert_eq!(
            tail.unwrap().events,
            [ev(2, "delta")],
            "after 1, one page of 1"
        );
        assert!(
            db.turn_read(&conv, Some("t2"), 0, 100, 2_000)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            db.turn_read(&conv, None, 0, 100, 10_001)
                .await
                .unwrap()
                .is_none(),
            "expired: gone for readers before retention runs"
        );
        db.purge(0, 10_001).await.unwrap();
        assert!(
            db.turn_read(&conv, None, 0, 100, 0)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn deleting_the_conversation_erases_its_turn_events() {
        let db = Sqlite::in_memory().unwrap();
        db.migrate_to(crate::schema::LATEST).await.unwrap();
        let conv = ConversationId::generate();
        db.append(&conv, true, &[NewMessage::user("hei", 1)], 1)
            .await
            .unwrap();
        db.turn_write(&write(conv.as_str(), &[ev(1, "delta")], None))
            .await
            .unwrap();
        assert!(db.delete(&conv).await.unwrap());
        assert!(
            db.turn_read(&conv, None, 0, 100, 0)
                .await
                .unwrap()
                .is_none()
        );
    }
}
