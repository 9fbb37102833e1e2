//! What a call said, beyond its record: the masked request body Warden
//! forwarded, the (output-masked) answer it relayed, each cut at the
//! configured size, and when each chunk of the answer went out. Kept for
//! session replay (`[audit] record_bodies = "full"`; chunk times alone with
//! `"metadata"`).
//!
//! Bodies are large and have their own retention, so they are not entries
//! of the trail. Their digest is: the record carries `body_sha256`, so an
//! edited body is caught ([`crate::trail::verify_bodies`]) and a pruned one
//! is only missing.

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use crate::StoreError;

/// One call's recorded bodies and chunk times.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallBody {
    pub request_id: String,
    /// When the call arrived (Unix ms), for retention.
    pub time_ms: i64,
    /// The body as forwarded (masked), when recorded; `None` for calls
    /// without a JSON body or when only metadata is recorded.
    #[serde(serialize_with = "text_or_base64")]
    pub request: Option<Vec<u8>>,
    pub request_truncated: bool,
    /// The answer as relayed to the caller (output-masked), when recorded.
    #[serde(serialize_with = "text_or_base64")]
    pub response: Option<Vec<u8>>,
    pub response_truncated: bool,
    /// Microseconds from the call's arrival to each answer chunk relayed
    /// (at most [`MAX_CHUNK_TIMES`]).
    pub chunk_us: Vec<u64>,
}

/// Chunk times kept per call; a longer answer keeps its first ones.
pub const MAX_CHUNK_TIMES: usize = 10_000;

/// Bodies as JSON: UTF-8 text as a string, anything else as
/// `{"base64": "..."}`.
fn text_or_base64<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine as _;
    use serde::Serialize as _;
    match v {
        None => s.serialize_none(),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => s.serialize_str(text),
            Err(_) => serde_json::json!({
                "base64": base64::engine::general_purpose::STANDARD.encode(bytes)
            })
            .serialize(s),
        },
    }
}

impl CallBody {
    /// SHA-256 (hex) of a fixed encoding of everything recorded: what the
    /// call's record holds as `body_sha256`.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"warden.body.v1\n");
        for (part, truncated) in [
            (&self.request, self.request_truncated),
            (&self.response, self.response_truncated),
        ] {
            match part {
                None => h.update([0u8]),
                Some(bytes) => {
                    h.update([1u8]);
                    h.update((bytes.len() as u64).to_be_bytes());
                    h.update(bytes);
                }
            }
            h.update([u8::from(truncated)]);
        }
        h.update((self.chunk_us.len() as u64).to_be_bytes());
        for t in &self.chunk_us {
            h.update(t.to_be_bytes());
        }
        hex(&h.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A stored body with the digest its record holds (`None`: the record has
/// none, or is gone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyRow {
    /// The record's seq; `None` when no record has this request id.
    pub seq: Option<i64>,
    pub recorded_digest: Option<String>,
    pub body: CallBody,
}

#[async_trait]
pub trait BodyStore: Send + Sync + std::fmt::Debug {
    /// Keeps the bodies (one transaction; a request id already kept is
    /// left as it is).
    async fn put_bodies(&self, bodies: &[CallBody]) -> Result<(), StoreError>;
    /// Appends `entries` to the trail and keeps `bodies` in the same
    /// transaction: one commit (one fsync) for a batch and its bodies.
    async fn append_with_bodies(
        &self,
        entries: &[crate::Entry],
        bodies: &[CallBody],
    ) -> Result<(), StoreError>;
    async fn body(&self, request_id: &str) -> Result<Option<CallBody>, StoreError>;
    /// Deletes bodies of calls that arrived before `before_ms`; how many.
    async fn prune_bodies(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// Up to `limit` kept bodies ordered by request id after `after_id`,
    /// with what their records say (for [`crate::trail::verify_bodies`]).
    async fn body_page(&self, after_id: &str, limit: i64) -> Result<Vec<BodyRow>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_covers_every_part() {
        let body = CallBody {
            request_id: "r".into(),
            time_ms: 1,
            request: Some(b"{\"a\":1}".to_vec()),
            request_truncated: false,
            response: Some(b"data: x\n\n".to_vec()),
            response_truncated: true,
            chunk_us: vec![10, 20],
        };
        let d = body.digest();
        let changed = [
            CallBody {
                request: Some(b"{\"a\":2}".to_vec()),
                ..body.clone()
            },
            CallBody {
                request: None,
                ..body.clone()
            },
            CallBody {
                response_truncated: false,
                ..body.clone()
            },
            CallBody {
                chunk_us: vec![10, 21],
                ..body.clone()
            },
            // Bytes moved from one part to the other.
            CallBody {
                request: Some(b"{\"a\":1}d".to_vec()),
                response: Some(b"ata: x\n\n".to_vec()),
                ..body.clone()
            },
        ];
        for c in &changed {
            assert_ne!(c.digest(), d, "{c:?}");
        }
        // What is not recorded content (id, time) is held by the record.
        let same = CallBody {
            request_id: "other".into(),
            time_ms: 2,
            ..body.clone()
        };
        assert_eq!(same.digest(), d);
        assert_eq!(d.len(), 64);
    }

    #[test]
    fn bodies_serialize_as_text_or_base64() {
        let body = CallBody {
            request: Some(b"hello".to_vec()),
            response: Some(vec![0xff, 0x00]),
            ..CallBody::default()
        };
        let v = serde_json::to_value(&body).expect("json");
        assert_eq!(v["request"], "hello");
        assert_eq!(v["response"]["base64"], "/wA=");
    }
}
