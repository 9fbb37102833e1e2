//! The per-request context and its record.
//!
//! [`RecordGuard`] owns the request's [`RequestRecord`] from arrival to the
//! end of the exchange and submits it when dropped, so every exit path (a
//! refusal, an upstream failure, a finished stream, a client that hung up
//! mid-stream, a handler future cancelled because the client left) leaves
//! exactly one record. For streamed responses the guard moves into the body.

use std::time::Instant;

use bytes::Bytes;
use warden_core::{Decision, Outcome, Principal, RequestRecord, Usage};
use warden_store::bodies::{CallBody, MAX_CHUNK_TIMES};

use crate::records::{Committed, RecordSink};

#[derive(Debug)]
pub struct RecordGuard {
    record: Option<RequestRecord>,
    started: Instant,
    sink: RecordSink,
    /// Session recording (`[audit] record_bodies`); `None` when off.
    recording: Option<Box<Recording>>,
    /// The pipeline stage in progress: the record's `stage` if the caller
    /// leaves before the upstream answered (a held approval cancelled).
    at: &'static str,
}

/// What session recording keeps of this call, gathered as it goes.
#[derive(Debug, Default)]
struct Recording {
    /// Bodies too (`full`), not only chunk times (`metadata`).
    bodies: bool,
    max: usize,
    /// The forwarded (masked) request body, cut at `max` (shared, not
    /// copied).
    request: Option<Bytes>,
    request_truncated: bool,
    response: Option<Vec<u8>>,
    response_truncated: bool,
    chunk_us: Vec<u64>,
    /// (original, placeholder) of the pseudonyms restored in the answer the
    /// caller reads: the recorded answer keeps the placeholders, so nothing
    /// stored holds a value masking removed.
    restored: Vec<(String, String)>,
}

impl RecordGuard {
    pub fn new(sink: RecordSink, record: RequestRecord, started: Instant) -> RecordGuard {
        RecordGuard {
            record: Some(record),
            started,
            sink,
            recording: None,
            at: "route",
        }
    }

    /// The pipeline enters `stage` (see `at`).
    pub fn entering(&mut self, stage: &'static str) {
        self.at = stage;
    }

    /// Turns session recording on: chunk times, and with `bodies` the
    /// request and answer bodies up to `max` bytes each.
    pub fn recording(&mut self, bodies: bool, max: usize) {
        self.recording = Some(Box::new(Recording {
            bodies,
            max,
            ..Recording::default()
        }));
    }

    /// The request body as forwarded (after masking).
    pub fn record_request(&mut self, body: &Bytes) {
        if let Some(r) = self.recording.as_deref_mut()
            && r.bodies
        {
            r.request_truncated = body.len() > r.max;
            r.request = Some(body.slice(..body.len().min(r.max)));
        }
    }

    /// A chunk of the answer on its way to the caller (after masking).
    pub fn record_chunk(&mut self, chunk: &[u8]) {
        let Some(r) = self.recording.as_deref_mut() else {
            return;
        };
        if r.chunk_us.len() < MAX_CHUNK_TIMES {
            r.chunk_us
                .push(u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        if r.bodies {
            let kept = r.response.get_or_insert_with(Vec::new);
            let room = r.max.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            r.response_truncated |= chunk.len() > room;
        }
    }

    /// The pseudonyms (placeholder, original) the answer's rewrite puts
    /// back for the caller; the recorded answer is put back to
    /// placeholders when the record is finished.
    pub fn restores<'a>(&mut self, pseudonyms: impl Iterator<Item = (&'a str, &'a str)>) {
        if let Some(r) = self.recording.as_deref_mut()
            && r.bodies
        {
            r.restored = pseudonyms
                .map(|(placeholder, original)| (original.to_owned(), placeholder.to_owned()))
                .collect();
        }
    }

    /// What was recorded, as the store keeps it, its digest put in the
    /// record; `None` when nothing was (a refusal, recording off).
    fn recorded(&mut self, record: &mut RequestRecord) -> Option<CallBody> {
        let mut r = self.recording.take()?;
        if r.request.is_none() && r.response.is_none() && r.chunk_us.is_empty() {
            return None;
        }
        if let Some(response) = r.response.as_mut()
            && !r.restored.is_empty()
        {
            unrestore(response, &mut r.restored, r.response_truncated);
        }
        let body = CallBody {
            request_id: record.request_id.clone(),
            time_ms: record.started_at_ms,
            request: r.request.map(|b| b.to_vec()),
            request_truncated: r.request_truncated,
            response: r.response,
            response_truncated: r.response_truncated,
            chunk_us: r.chunk_us,
        };
        record.body_sha256 = Some(body.digest());
        Some(body)
    }

    fn with(&mut self, f: impl FnOnce(&mut RequestRecord)) {
        if let Some(r) = self.record.as_mut() {
            f(r);
        }
    }

    pub fn request_id(&self) -> &str {
        self.record.as_ref().map_or("", |r| r.request_id.as_str())
    }

    pub fn set_principal(&mut self, p: &Principal) {
        self.with(|r| {
            r.principal_kind = Some(p.kind);
            r.subject = Some(p.subject.clone());
            r.issuer.clone_from(&p.issuer);
            r.groups.clone_from(&p.groups);
            r.key_id.clone_from(&p.key_id);
        });
    }

    pub fn set_endpoint(&mut self, endpoint: &str) {
        self.with(|r| endpoint.clone_into(&mut r.endpoint));
    }

    pub fn set_model(&mut self, model: &str, stream: bool) {
        self.with(|r| {
            r.model = Some(model.to_owned());
            r.stream = stream;
        });
    }

    pub fn set_connection(&mut self, connection: &str) {
        self.with(|r| r.connection = Some(connection.to_owned()));
    }

    pub fn set_decision(&mut self, allowed: bool, policy_ids: Vec<String>) {
        self.with(|r| {
            r.decision = if allowed {
                Decision::Allow
            } else {
                Decision::Deny
            };
            r.policy_decision = Some(r.decision);
            // Marks added before the decision (`add_policy`) stay after it.
            let marks = std::mem::replace(&mut r.policy_ids, policy_ids);
            r.policy_ids.extend(marks);
        });
    }

    /// A policy beyond Cedar's that let the call through (`objects.admin`).
    pub fn add_policy(&mut self, id: &str) {
        self.with(|r| r.policy_ids.push(id.to_owned()));
    }

    /// The upstream answered with this status after `latency_us`.
    pub fn upstream_answered(&mut self, status: u16, latency_us: u64) {
        self.with(|r| {
            r.status = status;
            r.upstream_latency_us = Some(latency_us);
        });
    }

    pub fn set_findings(&mut self, findings: Vec<warden_core::FindingSummary>) {
        self.with(|r| r.findings = findings);
    }

    pub fn add_findings(&mut self, findings: Vec<warden_core::FindingSummary>) {
        self.with(|r| r.findings.extend(findings));
    }

    /// Who is calling, as audit events name them (the principal once
    /// authenticated, and the client's address).
    pub fn actor(&self) -> warden_core::Actor {
        self.record
            .as_ref()
            .map_or_else(warden_core::Actor::default, |r| warden_core::Actor {
                subject: r.subject.clone(),
                issuer: r.issuer.clone(),
                groups: r.groups.clone(),
                key_id: r.key_id.clone(),
                client_addr: r.client_addr.clone(),
            })
    }

    pub fn set_session(&mut self, id: String) {
        self.with(|r| r.session_id = Some(id));
    }

    pub fn set_response_id(&mut self, id: String) {
        self.with(|r| r.response_id = Some(id));
    }

    /// The answer's first byte goes to the caller now (once).
    pub fn first_byte(&mut self) {
        let us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.with(|r| {
            r.ttft_us.get_or_insert(us);
        });
    }

    pub fn set_chunks(&mut self, chunks: u64) {
        self.with(|r| r.chunks = Some(chunks));
    }

    pub fn set_cost(&mut self, micros: Option<u64>) {
        self.with(|r| r.cost_usd_micros = micros);
    }

    /// Warden refused or failed the request with `status` and `code`.
    /// The call was refused (or failed) at `stage`: its final verdict is
    /// deny, whatever policy said before.
    pub fn refused(&mut self, status: u16, code: &str, outcome: Outcome, stage: &str) {
        self.with(|r| {
            r.status = status;
            r.reason = Some(code.to_owned());
            r.outcome = outcome;
            r.decision = Decision::Deny;
            r.stage = Some(stage.to_owned());
        });
    }

    /// The exchange ended; write the record now. With durability on, the
    /// response must not complete before the returned commit resolves.
    #[must_use = "the response must wait for the record's commit"]
    pub fn finish(&mut self, outcome: Outcome, usage: Option<Usage>) -> Option<Committed> {
        self.with(|r| {
            r.outcome = outcome;
            r.usage = usage;
            if outcome == Outcome::UpstreamBroken {
                r.stage = Some("relay".into());
                if r.reason.is_none() {
                    r.reason = Some("upstream_stream_broken".into());
                }
            }
        });
        let mut r = self.take()?;
        let body = self.recorded(&mut r);
        self.sink.submit_durable(r, body)
    }

    /// The record, finished, for submission (once).
    fn take(&mut self) -> Option<RequestRecord> {
        let mut r = self.record.take()?;
        r.total_latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        tracing::info!(
            target: "warden::access",
            request_id = %r.request_id,
            subject = r.subject.as_deref().unwrap_or("-"),
            endpoint = %r.endpoint,
            model = r.model.as_deref().unwrap_or("-"),
            decision = r.decision.as_str(),
            reason = r.reason.as_deref().unwrap_or("-"),
            status = r.status,
            outcome = r.outcome.as_str(),
            latency_us = r.total_latency_us,
        );
        Some(r)
    }
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        // Still holding the record: nobody finished the exchange, so the
        // caller went away (the handler or the body was dropped).
        // A new record starts as `client_gone` with status 499; what was
        // learned before the caller left (principal, upstream status) stays.
        // Nobody is left to wait for its commit.
        if let Some(mut r) = self.take() {
            // Gone before the upstream answered: nothing was served, whatever
            // policy said (a held call whose caller left: its approval is
            // cancelled).
            if r.upstream_latency_us.is_none() {
                r.decision = Decision::Deny;
                r.stage = Some(self.at.to_owned());
            }
            let body = self.recorded(&mut r);
            self.sink.submit(r, body);
        }
    }
}

/// Puts placeholders back where the caller's answer has the originals they
/// stand for, as written in the text and as written inside a JSON string
/// (SSE events and JSON answers escape quotes, backslashes and controls).
/// Longest originals first, so one that contains another is replaced whole.
/// A cut answer (`truncated`) loses a tail that may be the start of an
/// original.
fn unrestore(body: &mut Vec<u8>, pairs: &mut [(String, String)], truncated: bool) {
    pairs.sort_by_key(|(original, _)| std::cmp::Reverse(original.len()));
    for (original, placeholder) in pairs.iter() {
        if original.is_empty() {
            continue;
        }
        let escaped = serde_json::to_string(original).unwrap_or_default();
        let escaped = escaped
            .strip_prefix('"')
            .and_then(|e| e.strip_suffix('"'))
            .unwrap_or(original);
        for form in [original.as_str(), escaped] {
            replace_all(body, form.as_bytes(), placeholder.as_bytes());
        }
    }
    if truncated {
        let cut = pairs
            .iter()
            .filter_map(|(original, _)| partial_tail(body, original.as_bytes()))
            .max()
            .unwrap_or(0);
        body.truncate(body.len() - cut);
    }
}

fn replace_all(body: &mut Vec<u8>, from: &[u8], to: &[u8]) {
    if memchr::memmem::find(body, from).is_none() {
        return;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = &body[..];
    while let Some(at) = memchr::memmem::find(rest, from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    *body = out;
}

/// The length of the longest tail of `body` that is a proper prefix of
/// `original`.
fn partial_tail(body: &[u8], original: &[u8]) -> Option<usize> {
    (1..original.len().min(body.len() + 1))
        .rev()
        .find(|&n| body.ends_with(&original[..n]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_answers_keep_placeholders() {
        let mut pairs = vec![
            ("alice@example.com".to_owned(), "<EMAIL_1>".to_owned()),
            ("Bob \"B\" Jones".to_owned(), "<PERSON_1>".to_owned()),
        ];
        let mut body = br#"data: {"delta":"mail alice@example.com and Bob \"B\" Jones"}"#.to_vec();
        unrestore(&mut body, &mut pairs, false);
        assert_eq!(
            String::from_utf8_lossy(&body),
            r#"data: {"delta":"mail <EMAIL_1> and <PERSON_1>"}"#
        );
        let mut cut = b"write to alice@exa".to_vec();
        unrestore(&mut cut, &mut pairs, true);
        assert_eq!(cut, b"write to ");
    }
}
