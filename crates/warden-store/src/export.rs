//! The trail as JSON lines for readers outside Warden (a SIEM, a data
//! lake): what `warden audit export` prints and what the server's streaming
//! export (`[audit.export]`) POSTs. One encoding, here, so a receiver that
//! reads one reads the other.
//!
//! Each entry is one line, `{"seq", "kind", "hash", "prev_hash", "record" |
//! "event"}`, in seq order: `seq` is what a receiver de-duplicates on (the
//! streaming export delivers at least once), and `hash` / `prev_hash` let it
//! hold the lines it keeps to the chain without reading the database.
//!
//! Where a streaming exporter has got to is a named cursor in the store
//! ([`RecordStore::export_cursor`](crate::RecordStore::export_cursor)): the
//! last seq a receiver acknowledged.

use serde_json::{Value, json};

use crate::chain::{ChainRow, Entry, StoredRow, hex};

/// The media type of a body of export lines.
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// One entry as one export line (without the newline).
pub fn line(row: &ChainRow) -> Value {
    let (kind, body) = match &row.entry {
        Entry::Request(r) => ("request", json!({ "record": r })),
        Entry::Event(e) => ("event", json!({ "event": e })),
    };
    let mut line = json!({
        "seq": row.seq,
        "kind": kind,
        "hash": row.hash.as_deref().map(hex),
        "prev_hash": row.prev_hash.as_deref().map(hex),
    });
    if let (Some(line), Value::Object(body)) = (line.as_object_mut(), body) {
        line.extend(body);
    }
    line
}

/// A stored row as an export line. A row that no longer decodes (edited in
/// the database, or written by a newer Warden) is still a line, `"kind":
/// "unreadable"` with the decoding error, rather than a gap: a receiver
/// de-duplicating by seq sees every seq, and the one that was tampered with
/// is the line it should alert on.
pub fn stored_line(row: &StoredRow) -> Value {
    match &row.entry {
        Ok(entry) => line(&ChainRow {
            seq: row.seq,
            entry: entry.clone(),
            prev_hash: row.prev_hash.clone(),
            hash: row.hash.clone(),
        }),
        Err(error) => json!({
            "seq": row.seq,
            "kind": "unreadable",
            "hash": row.hash.as_deref().map(hex),
            "prev_hash": row.prev_hash.as_deref().map(hex),
            "error": error,
        }),
    }
}

/// Stored rows as one body of export lines, each ending in `\n`.
pub fn body(rows: &[StoredRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 1024);
    for row in rows {
        // A `Value` always serializes.
        let _ = serde_json::to_writer(&mut out, &stored_line(row));
        out.push(b'\n');
    }
    out
}

/// Both stores: cursors start absent, are kept by name, and never move back.
#[cfg(test)]
pub(crate) async fn cursors_are_named_and_never_move_back(store: &dyn crate::RecordStore) {
    assert_eq!(store.export_cursor("siem").await.expect("read"), None);
    store.save_export_cursor("siem", 5).await.expect("save");
    assert_eq!(store.export_cursor("siem").await.expect("read"), Some(5));
    store.save_export_cursor("siem", 3).await.expect("save");
    assert_eq!(
        store.export_cursor("siem").await.expect("read"),
        Some(5),
        "an older acknowledgement never moves the cursor back"
    );
    store.save_export_cursor("siem", 9).await.expect("save");
    assert_eq!(store.export_cursor("siem").await.expect("read"), Some(9));
    assert_eq!(
        store.export_cursor("lake").await.expect("read"),
        None,
        "each name is its own cursor"
    );
    store.save_export_cursor("lake", 1).await.expect("save");
    assert_eq!(store.export_cursor("lake").await.expect("read"), Some(1));
    assert_eq!(store.export_cursor("siem").await.expect("read"), Some(9));
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::{Actor, AuditEvent};

    fn event_row(seq: i64) -> ChainRow {
        ChainRow {
            seq,
            entry: Entry::Event(AuditEvent::new("key.create", Actor::warden(), None)),
            prev_hash: Some(vec![0; 32]),
            hash: Some(vec![0xab; 32]),
        }
    }

    #[test]
    fn a_line_names_its_seq_kind_links_and_entry() {
        let got = line(&event_row(7));
        let keys: Vec<&str> = got
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["seq", "kind", "hash", "prev_hash", "event"]);
        assert_eq!(got["seq"], 7);
        assert_eq!(got["kind"], "event");
        assert_eq!(got["hash"], "ab".repeat(32));
        assert_eq!(got["prev_hash"], "00".repeat(32));
        assert_eq!(got["event"]["action"], "key.create");

        let record = ChainRow {
            entry: Entry::Request(crate::test_records::record("r1", None)),
            ..event_row(8)
        };
        let got = line(&record);
        assert_eq!(got["kind"], "request");
        assert_eq!(got["record"]["request_id"], "r1");
    }

    #[test]
    fn an_unreadable_row_is_a_line_too() {
        let first = ChainRow {
            hash: Some(vec![1; 32]),
            ..event_row(1)
        };
        let rows = [
            StoredRow {
                seq: 1,
                entry: Ok(first.entry.clone()),
                prev_hash: first.prev_hash.clone(),
                hash: first.hash.clone(),
            },
            StoredRow {
                seq: 2,
                entry: Err("stream 5".into()),
                prev_hash: Some(vec![1; 32]),
                hash: Some(vec![2; 32]),
            },
        ];
        let text = String::from_utf8(body(&rows)).expect("utf-8");
        assert!(text.ends_with('\n'));
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], line(&first));
        assert_eq!(lines[1]["seq"], 2);
        assert_eq!(lines[1]["kind"], "unreadable");
        assert_eq!(lines[1]["error"], "stream 5");
        assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    }
}
