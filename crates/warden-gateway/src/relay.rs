//! The response body on its way back: passed through chunk by chunk as the
//! upstream sends it, watched for usage, guarded by the idle timeout, and
//! recorded when it ends.
//!
//! A broken or stalled upstream body is passed on as a broken body (hyper
//! aborts the response, so the caller sees a truncated stream, never a clean
//! end and never a `data: [DONE]` Warden made up).
//!
//! With durable audit on, the answer's last part waits for its record's
//! commit: for SSE, the chunk that carries the terminal event (`data:
//! [DONE]`, `response.completed` / `failed` / `incomplete`); otherwise the
//! end of the body (Warden answers chunked, so the caller's response is not
//! complete before it). If the commit does not come within
//! `audit.commit_timeout`, the body ends broken: no call completes
//! unrecorded.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use std::sync::Arc;
use tokio::time::{Instant, Sleep};
use warden_config::Price;

use crate::owners::{Created, ObjectKind, ObjectOwners};
use warden_core::{FindingSummary, Outcome};
use warden_limits::Ticket;
use warden_pii::stream::{Answer, SseRewriter};

use crate::exchange::RecordGuard;
use crate::records::Committed;
use crate::usage::UsageTap;
use crate::usage_strip::UsageStrip;

fn body_kind(content_type: Option<&str>) -> BodyKind {
    match content_type.map(str::to_ascii_lowercase) {
        Some(t) if t.starts_with("text/event-stream") => BodyKind::Sse,
        Some(t) if t.starts_with("application/json") => BodyKind::Json,
        Some(t)
            if [
                "audio/",
                "image/",
                "video/",
                "application/octet-stream",
                "application/zip",
            ]
            .iter()
            .any(|b| t.starts_with(b)) =>
        {
            BodyKind::Binary
        }
        _ => BodyKind::Text,
    }
}

/// A text answer rewritten; one that is not UTF-8 passes unchanged when
/// only pseudonyms are restored, and is refused when it must be masked.
fn text_or_refuse(answer: &mut Answer, buf: Vec<u8>) -> Vec<u8> {
    match String::from_utf8(buf) {
        Ok(text) => answer.text(&text).into_bytes(),
        Err(_) if answer.masks_output() => UNREADABLE.to_vec(),
        Err(e) => e.into_bytes(),
    }
}

/// Sent in place of an answer that output masking could not read.
const UNREADABLE: &[u8] = br#"{"error":{"message":"Warden could not read the upstream's answer to mask it, so it was not passed on.","type":"upstream_error","code":"unreadable_answer"}}"#;

type Upstream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("upstream body broke: {0}")]
    Upstream(#[from] reqwest::Error),
    #[error("upstream sent nothing for {0:?}")]
    Idle(Duration),
    #[error("answer larger than {0} bytes cannot be rewritten")]
    TooLarge(usize),
    #[error("the audit record was not committed in time; the answer is cut")]
    AuditUnavailable,
}

/// Where the relay is in the answer. Whether the record is still open is
/// whether the relay still holds its guard.
enum State {
    /// Passing the upstream's body on (after a terminal event was recorded,
    /// whatever the upstream still sends passes through).
    Relaying,
    /// The record is written; `held` (the terminal chunk, or the tail) waits
    /// for its commit, then the body ends if `last`.
    Committing {
        commit: Committed,
        held: Bytes,
        last: bool,
    },
    Done,
}

pub struct Relay {
    upstream: Upstream,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    tap: UsageTap,
    guard: Option<RecordGuard>,
    ticket: Option<Ticket>,
    price: Option<Price>,
    content_type: BodyKind,
    rewrite: Option<Rewrite>,
    /// Removes the usage chunk Warden asked for on the caller's behalf.
    strip: Option<UsageStrip>,
    /// For a call that creates a Responses API object: where to note its
    /// creator once the id is seen.
    owns: Option<(Arc<ObjectOwners>, Created, ObjectKind)>,
    /// For its owner's read of a batch: who the batch's output and error
    /// files (made by the upstream) belong to.
    batch_files: Option<(Arc<ObjectOwners>, warden_store::Owner)>,
    state: State,
    commit_timeout: Duration,
    /// Body chunks of the answer so far (stream timings), counted as they
    /// leave the rewrite, so a terminal chunk held for the commit counts.
    chunks: u64,
    /// Whether a chunk reached the caller yet (time to first byte).
    relayed: bool,
}

/// What the body is, for rewriting the model's text in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Sse,
    Json,
    /// Plain text, and anything not known to be binary: output masking must
    /// not be skipped because an upstream labelled text oddly.
    Text,
    /// Audio, images, archives: no text of the model's to rewrite.
    Binary,
}

/// How the answer's text is rewritten on its way (see `warden_pii::stream`).
enum Rewrite {
    /// Event by event.
    Sse(SseRewriter),
    /// A whole JSON or plain-text answer, read to its end first (bounded by
    /// [`MAX_BUFFERED`]).
    Whole {
        answer: Answer,
        buf: Vec<u8>,
        json: bool,
    },
}

/// A non-streamed answer Warden must rewrite is read whole first; one
/// larger than this is refused rather than passed unread.
const MAX_BUFFERED: usize = 64 * 1024 * 1024;

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl Relay {
    pub fn new(
        response: reqwest::Response,
        idle: Duration,
        guard: RecordGuard,
        ticket: Option<Ticket>,
        price: Option<Price>,
    ) -> Relay {
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let tap = UsageTap::for_content_type(content_type);
        let content_type = body_kind(content_type);
        Relay {
            upstream: Box::pin(response.bytes_stream()),
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            tap,
            guard: Some(guard),
            ticket,
            price,
            content_type,
            rewrite: None,
            strip: None,
            owns: None,
            batch_files: None,
            state: State::Relaying,
            commit_timeout: Duration::from_secs(5),
            chunks: 0,
            relayed: false,
        }
    }

    /// How long the answer's end waits for the record's commit.
    pub fn committing(mut self, timeout: Duration) -> Relay {
        self.commit_timeout = timeout;
        self
    }

    /// Warden asked for the stream's usage chunk and the caller did not:
    /// it is read for limits and the record, and not passed on.
    pub fn stripping_usage(mut self, strip: bool) -> Relay {
        if strip && self.content_type == BodyKind::Sse {
            self.strip = Some(UsageStrip::default());
        }
        self
    }

    pub fn batch_files(mut self, files: Option<(Arc<ObjectOwners>, warden_store::Owner)>) -> Relay {
        self.batch_files = files;
        self
    }

    pub fn owning(mut self, owns: Option<(Arc<ObjectOwners>, Created, ObjectKind)>) -> Relay {
        self.owns = owns;
        self
    }

    /// A stored file's content (`GET /files/{id}/content`) is read as text
    /// whatever type the upstream labels it with (batch output files hold
    /// model answers): masked when it is UTF-8, refused when output masking
    /// applies and it is not.
    pub fn file_content(mut self, is: bool) -> Relay {
        if is && self.content_type == BodyKind::Binary {
            self.content_type = BodyKind::Text;
        }
        self
    }

    /// Restore pseudonyms and mask the model's output on the way to the
    /// caller. Bodies with no text of the model's (audio, images) pass as
    /// they are.
    pub fn answering(mut self, answer: Option<Answer>) -> Relay {
        if let (Some(answer), Some(guard)) = (&answer, self.guard.as_mut()) {
            guard.restores(answer.pseudonyms());
        }
        if answer.is_some() && self.content_type == BodyKind::Json {
            // The answer is read whole and parsed to be rewritten: usage is
            // taken from that parse, not from a second copy (see rewrite_end).
            self.tap = UsageTap::Off;
        }
        self.rewrite = answer.and_then(|answer| match self.content_type {
            BodyKind::Sse => Some(Rewrite::Sse(SseRewriter::new(answer))),
            BodyKind::Json | BodyKind::Text => Some(Rewrite::Whole {
                answer,
                buf: Vec::new(),
                json: self.content_type == BodyKind::Json,
            }),
            BodyKind::Binary => None,
        });
        self
    }

    /// Passes a chunk through the rewrite; an error when a whole answer
    /// grows past what Warden will read.
    fn rewrite(&mut self, chunk: Bytes) -> Result<Bytes, RelayError> {
        let chunk = self.rewrite_text(chunk)?;
        Ok(match &mut self.strip {
            Some(strip) => strip.push(chunk),
            None => chunk,
        })
    }

    fn rewrite_text(&mut self, chunk: Bytes) -> Result<Bytes, RelayError> {
        match &mut self.rewrite {
            None => Ok(chunk),
            Some(Rewrite::Sse(rw)) => Ok(Bytes::from(rw.push(&chunk))),
            Some(Rewrite::Whole { buf, .. }) => {
                if buf.len() + chunk.len() > MAX_BUFFERED {
                    return Err(RelayError::TooLarge(MAX_BUFFERED));
                }
                buf.extend_from_slice(&chunk);
                Ok(Bytes::new())
            }
        }
    }

    /// The rest of a rewritten body once the upstream's has ended.
    fn rewrite_end(&mut self) -> Vec<u8> {
        let tail = self.rewrite_text_end();
        match &mut self.strip {
            Some(strip) => {
                let mut out = strip.push(Bytes::from(tail)).to_vec();
                out.extend_from_slice(&strip.finish());
                out
            }
            None => tail,
        }
    }

    fn rewrite_text_end(&mut self) -> Vec<u8> {
        match &mut self.rewrite {
            None => Vec::new(),
            Some(Rewrite::Sse(rw)) => rw.finish(),
            Some(Rewrite::Whole { answer, buf, json }) => {
                let buf = std::mem::take(buf);
                if *json {
                    match serde_json::from_slice::<serde_json::Value>(&buf) {
                        Ok(mut v) => {
                            self.tap = UsageTap::parsed(&v);
                            answer.json_body(&mut v);
                            serde_json::to_vec(&v).unwrap_or_default()
                        }
                        // Not JSON after all (an error page): with output
                        // masking it does not pass unread; pseudonyms alone
                        // are restored as text.
                        Err(_) => text_or_refuse(answer, buf),
                    }
                } else {
                    text_or_refuse(answer, buf)
                }
            }
        }
    }

    /// What output masking replaced, for the record.
    fn output_findings(&self) -> Vec<FindingSummary> {
        let answer = match &self.rewrite {
            Some(Rewrite::Sse(rw)) => rw.answer(),
            Some(Rewrite::Whole { answer, .. }) => answer,
            None => return Vec::new(),
        };
        let mut counts: Vec<FindingSummary> = Vec::new();
        for m in answer.findings() {
            match counts
                .iter_mut()
                .find(|c| c.kind == m.kind && c.action == m.action.as_str())
            {
                Some(c) => c.count += 1,
                None => counts.push(FindingSummary {
                    kind: m.kind.to_owned(),
                    action: m.action.as_str().to_owned(),
                    path: "output".to_owned(),
                    count: 1,
                }),
            }
        }
        counts
    }

    /// Writes the record; what to wait for before the answer completes.
    fn end(&mut self, outcome: Outcome) -> Option<Committed> {
        let mut guard = self.guard.take()?;
        let usage = self.tap.finish();
        // Estimates become actuals; without usage (a cut stream) they stay.
        let cost = match self.ticket.take() {
            Some(ticket) => ticket.settle(usage.as_ref()),
            None => None,
        }
        .or_else(|| {
            let (price, usage) = (self.price?, usage.as_ref()?);
            Some(warden_limits::estimate::cost_micros(price, usage))
        });
        guard.set_cost(cost);
        guard.set_chunks(self.chunks);
        if let Some((owners, owner)) = self.batch_files.take() {
            let files = self.tap.batch_files();
            // The record names the first, so the owner outlives the map.
            if let Some(first) = files.iter().flatten().next() {
                guard.set_response_id(first.clone());
            }
            for id in files.into_iter().flatten() {
                owners.insert(id, (owner.clone(), None));
            }
        }
        if let Some((owners, (owner, session), kind)) = self.owns.take()
            && let Some(id) = self.tap.created_id(kind)
        {
            guard.set_response_id(id.clone());
            if kind == ObjectKind::Response {
                // A response that starts a chain names its session.
                let session = session.unwrap_or_else(|| id.clone());
                guard.set_session(session.clone());
                owners.insert(id, (owner, Some(session)));
            } else {
                owners.insert(id, (owner, None));
            }
        }
        let found = self.output_findings();
        if !found.is_empty() {
            guard.add_findings(found);
        }
        guard.finish(outcome, usage)
    }

    /// Ends a failed answer: recorded, and nobody waits for the commit
    /// (the caller gets a broken body either way).
    fn fail(&mut self, outcome: Outcome) {
        drop(self.end(outcome));
        self.state = State::Done;
    }

    /// Holds `held` until the record `end` wrote is committed.
    fn hold(&mut self, commit: Option<Committed>, held: Bytes, last: bool) -> Option<Bytes> {
        let Some(commit) = commit else {
            if last {
                self.state = State::Done;
            }
            return Some(held);
        };
        self.timer
            .as_mut()
            .reset(Instant::now() + self.commit_timeout);
        self.state = State::Committing { commit, held, last };
        None
    }
}

impl Stream for Relay {
    type Item = Result<Bytes, RelayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = this.poll_relay(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled
            && !chunk.is_empty()
            && !this.relayed
        {
            this.relayed = true;
            if let Some(guard) = this.guard.as_mut() {
                guard.first_byte();
            }
        }
        polled
    }
}

impl Relay {
    fn poll_relay(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, RelayError>>> {
        loop {
            match &mut self.state {
                State::Done => return Poll::Ready(None),
                State::Committing { commit, held, last } => {
                    let committed = match Pin::new(commit).poll(cx) {
                        Poll::Ready(result) => result.is_ok(),
                        Poll::Pending => {
                            ready!(self.timer.as_mut().poll(cx));
                            false
                        }
                    };
                    if !committed {
                        tracing::error!("audit record not committed in time; cutting the answer");
                        self.state = State::Done;
                        return Poll::Ready(Some(Err(RelayError::AuditUnavailable)));
                    }
                    let held = std::mem::take(held);
                    self.state = if *last { State::Done } else { State::Relaying };
                    if !held.is_empty() {
                        return Poll::Ready(Some(Ok(held)));
                    }
                    continue;
                }
                State::Relaying => {}
            }
            let open = self.guard.is_some();
            match self.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if open {
                        self.tap.observe(&chunk);
                    }
                    let deadline = Instant::now() + self.idle;
                    self.timer.as_mut().reset(deadline);
                    let chunk = match self.rewrite(chunk) {
                        Ok(chunk) => chunk,
                        Err(e) => {
                            tracing::warn!(error = %e, "answer too large to rewrite");
                            self.fail(Outcome::UpstreamBroken);
                            return Poll::Ready(Some(Err(e)));
                        }
                    };
                    if !chunk.is_empty()
                        && let Some(guard) = self.guard.as_mut()
                    {
                        self.chunks += 1;
                        guard.record_chunk(&chunk);
                    }
                    if open && self.tap.ended() {
                        let commit = self.end(Outcome::Completed);
                        match self.hold(commit, chunk, false) {
                            Some(chunk) if !chunk.is_empty() => {
                                return Poll::Ready(Some(Ok(chunk)));
                            }
                            _ => continue,
                        }
                    }
                    // An empty chunk could read as the end of the body: wait
                    // for more instead (a held-back placeholder prefix).
                    if chunk.is_empty() {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(chunk)));
                }
                Poll::Ready(Some(Err(e))) => {
                    if !open {
                        // The answer was complete and recorded already.
                        self.state = State::Done;
                        return Poll::Ready(None);
                    }
                    tracing::warn!(error = %e, "upstream body broke mid-response");
                    self.fail(Outcome::UpstreamBroken);
                    return Poll::Ready(Some(Err(RelayError::Upstream(e))));
                }
                Poll::Ready(None) => {
                    let tail = Bytes::from(self.rewrite_end());
                    if !tail.is_empty()
                        && let Some(guard) = self.guard.as_mut()
                    {
                        self.chunks += 1;
                        guard.record_chunk(&tail);
                    }
                    let commit = if open {
                        self.end(Outcome::Completed)
                    } else {
                        None
                    };
                    match self.hold(commit, tail, true) {
                        Some(tail) if !tail.is_empty() => return Poll::Ready(Some(Ok(tail))),
                        Some(_) => return Poll::Ready(None),
                        None => continue,
                    }
                }
                Poll::Pending => {
                    ready!(self.timer.as_mut().poll(cx));
                    if !open {
                        self.state = State::Done;
                        return Poll::Ready(None);
                    }
                    tracing::warn!(idle = ?self.idle, "upstream body stalled");
                    self.fail(Outcome::UpstreamBroken);
                    return Poll::Ready(Some(Err(RelayError::Idle(self.idle))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use warden_pii::mask::{Action, KINDS, Profile};

    use super::*;

    #[test]
    fn only_known_binary_bodies_skip_rewriting() {
        assert_eq!(
            body_kind(Some("text/event-stream; charset=utf-8")),
            BodyKind::Sse
        );
        assert_eq!(body_kind(Some("Application/JSON")), BodyKind::Json);
        assert_eq!(body_kind(Some("audio/mpeg")), BodyKind::Binary);
        assert_eq!(body_kind(Some("image/png")), BodyKind::Binary);
        // Unknown or missing: read as text, so output masking still applies.
        assert_eq!(body_kind(Some("application/x-ndjson")), BodyKind::Text);
        assert_eq!(body_kind(None), BodyKind::Text);
    }

    #[test]
    fn text_that_must_be_masked_and_cannot_be_read_is_refused() {
        let redact = Arc::new(Profile {
            name: "out".into(),
            actions: KINDS.iter().map(|k| (*k, Action::Redact)).collect(),
            ..Profile::default()
        });
        let mut masking = Answer::new([], Some(redact));
        assert_eq!(
            text_or_refuse(&mut masking, b"card 4111 1111 1111 1111".to_vec()),
            b"card [PAYMENT_CARD]".to_vec()
        );
        assert_eq!(
            text_or_refuse(&mut masking, vec![0xff, b'4']),
            UNREADABLE.to_vec()
        );
        let mut restoring = Answer::new([("<EMAIL_1>", "j@x.io")], None);
        assert_eq!(
            text_or_refuse(&mut restoring, vec![0xff, b'<']),
            vec![0xff, b'<']
        );
    }

    /// An SSE answer of `events`, relayed with a durable record whose commit
    /// the test controls.
    fn relay(
        events: &[&'static str],
    ) -> (Relay, tokio::sync::mpsc::Receiver<crate::records::Item>) {
        let chunks: Vec<Result<Bytes, std::io::Error>> = events
            .iter()
            .map(|e| Ok(Bytes::from_static(e.as_bytes())))
            .collect();
        let upstream = http::Response::builder()
            .header(http::header::CONTENT_TYPE, "text/event-stream")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .expect("response");
        let (sink, queued) = crate::records::RecordSink::detached(true);
        let record = crate::new_record(
            "r1".into(),
            &http::Method::POST,
            "/v1/chat/completions",
            None,
        );
        let guard = RecordGuard::new(sink, record, std::time::Instant::now());
        let relay = Relay::new(upstream.into(), Duration::from_secs(5), guard, None, None)
            .committing(Duration::from_millis(200));
        (relay, queued)
    }

    const DELTA: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
    const DONE: &str = "data: [DONE]\n\n";

    #[tokio::test]
    async fn the_terminal_event_waits_for_the_records_commit() {
        use futures_util::StreamExt as _;
        let (mut relay, mut queued) = relay(&[DELTA, DONE]);
        assert_eq!(relay.next().await.expect("delta").expect("ok"), DELTA);
        // [DONE] is not released before the record's commit is answered.
        let next = relay.next();
        tokio::pin!(next);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut next)
                .await
                .is_err(),
            "released before the commit"
        );
        let item = queued.recv().await.expect("record queued");
        let warden_store::Entry::Request(record) = &item.entry else {
            panic!("not a record");
        };
        assert_eq!(record.outcome, Outcome::Completed);
        // Both chunks count: the held [DONE] is part of the answer.
        assert!(
            record.ttft_us.is_some() && record.chunks == Some(2),
            "{record:?}"
        );
        item.ack.expect("durable").send(()).expect("ack");
        assert_eq!(next.await.expect("done").expect("ok"), DONE);
        assert!(relay.next().await.is_none());
    }

    #[tokio::test]
    async fn an_answer_whose_record_is_not_committed_in_time_is_cut() {
        use futures_util::StreamExt as _;
        let (mut relay, mut queued) = relay(&[DELTA, DONE]);
        assert!(relay.next().await.expect("delta").is_ok());
        // The record is queued but never committed (its ack waits unread in
        // the queue): the answer ends broken, [DONE] never goes out.
        assert!(matches!(
            relay.next().await,
            Some(Err(RelayError::AuditUnavailable))
        ));
        assert!(relay.next().await.is_none());
        assert!(
            queued.recv().await.is_some(),
            "the record itself was queued"
        );
    }
}
