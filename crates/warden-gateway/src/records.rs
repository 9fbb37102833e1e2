//! Getting the audit trail's entries into the store without slowing the
//! data path, and durable before a caller's response completes.
//!
//! Each exchange hands its finished record to a [`RecordSink`] (a bounded
//! channel, no await on the hot path); one writer task drains it and appends
//! everything queued in one transaction (group commit). With durability on
//! (the default), the store fsyncs every commit and the writer answers each
//! entry's [`Committed`] after its batch commits: the relay holds the end of
//! the response until then. While one batch is being fsync'd the next one
//! queues, so a busy gateway pays one fsync per batch, not per call. With
//! durability off, the writer waits a moment to gather larger batches and
//! nobody waits for it.
//!
//! If the channel is full the entry is sent by a spawned task instead of
//! being dropped. Shutdown closes the channel and waits for the writer to
//! drain it: no entry is lost on a clean stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use warden_core::{AuditEvent, RequestRecord};
use warden_store::bodies::{BodyStore, CallBody};
use warden_store::{Entry, RecordStore};

const CHANNEL: usize = 16 * 1024;
const BATCH: usize = 512;
/// Without durability: after the first entry of a batch arrives, wait this
/// long for more, so a busy gateway writes a few large transactions instead
/// of many tiny ones. Nobody waits on those writes, so this adds no latency.
const LINGER: Duration = Duration::from_millis(2);

/// Resolves once the entry's batch has been committed (and, when durable,
/// fsync'd). An error means the writer stopped before that.
pub type Committed = oneshot::Receiver<()>;

pub(crate) struct Item {
    pub(crate) entry: Entry,
    pub(crate) ack: Option<oneshot::Sender<()>>,
    /// The call's recorded bodies (session recording), kept after the
    /// entries are appended and before the ack.
    pub(crate) body: Option<Box<CallBody>>,
}

#[derive(Debug, Clone)]
pub struct RecordSink {
    tx: mpsc::Sender<Item>,
    healthy: Arc<AtomicBool>,
    durable: bool,
    /// Entries committed since start-up (checkpoints every N entries wait
    /// on it).
    committed: Arc<tokio::sync::watch::Sender<u64>>,
}

/// Owns the writer task; `close` drains it.
#[derive(Debug)]
pub struct RecordWriter {
    handle: JoinHandle<()>,
    close: oneshot::Sender<()>,
}

impl RecordSink {
    /// `durable`: callers wait for their entry's commit (see the module
    /// docs); the store must have been opened to fsync its commits.
    pub fn start(
        store: Arc<dyn RecordStore>,
        bodies: Arc<dyn BodyStore>,
        durable: bool,
    ) -> (RecordSink, RecordWriter) {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let (close, closing) = oneshot::channel();
        let sink = RecordSink {
            tx,
            healthy: Arc::new(AtomicBool::new(true)),
            durable,
            committed: Arc::new(tokio::sync::watch::Sender::new(0)),
        };
        let handle = tokio::spawn(write_loop(store, bodies, rx, closing, sink.clone()));
        (sink, RecordWriter { handle, close })
    }

    /// A sink with no writer: the test reads what is queued and answers
    /// (or withholds) the acks itself.
    #[cfg(test)]
    pub(crate) fn detached(durable: bool) -> (RecordSink, mpsc::Receiver<Item>) {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let sink = RecordSink {
            tx,
            healthy: Arc::new(AtomicBool::new(true)),
            durable,
            committed: Arc::new(tokio::sync::watch::Sender::new(0)),
        };
        (sink, rx)
    }

    /// Queues a record; nobody waits for it (a caller who already left).
    pub fn submit(&self, record: RequestRecord, body: Option<CallBody>) {
        self.send(Entry::Request(record), None, body);
    }

    /// Queues a record; with durability on, the returned [`Committed`]
    /// resolves once it is on disk. `None` when nobody needs to wait.
    pub fn submit_durable(
        &self,
        record: RequestRecord,
        body: Option<CallBody>,
    ) -> Option<Committed> {
        if !self.durable {
            self.submit(record, body);
            return None;
        }
        let (ack, committed) = oneshot::channel();
        self.send(Entry::Request(record), Some(ack), body);
        Some(committed)
    }

    /// Queues an audit event (start, stop, checkpoint, admin actions).
    pub fn event(&self, event: AuditEvent) -> Committed {
        let (ack, committed) = oneshot::channel();
        self.send(Entry::Event(event), Some(ack), None);
        committed
    }

    fn send(&self, mut entry: Entry, ack: Option<oneshot::Sender<()>>, body: Option<CallBody>) {
        match &mut entry {
            Entry::Request(r) => r.scrub_nul(),
            Entry::Event(e) => e.scrub_nul(),
        }
        let body = body.map(Box::new);
        match self.tx.try_send(Item { entry, ack, body }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(item)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    if tx.send(item).await.is_err() {
                        tracing::error!("audit writer stopped; an audit entry was lost");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("audit writer stopped; an audit entry was lost");
            }
        }
    }

    /// False after the store has refused writes (for `/readyz`).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && !self.tx.is_closed()
    }

    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// Entries committed by this process so far, watched.
    pub fn committed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }
}

/// An audit event that is written whatever happens to its caller:
/// [`finish`](EventGuard::finish) submits it and returns its commit to wait
/// for; dropped unfinished (the caller hung up and the handler was
/// cancelled), it is submitted as it stands. The admin API's counterpart of
/// the data path's `RecordGuard`.
#[derive(Debug)]
pub struct EventGuard {
    sink: RecordSink,
    event: Option<AuditEvent>,
}

impl EventGuard {
    /// Starts with status `client_gone`, what it says if never finished.
    pub fn new(sink: RecordSink, mut event: AuditEvent) -> EventGuard {
        "client_gone".clone_into(&mut event.status);
        EventGuard {
            sink,
            event: Some(event),
        }
    }

    /// The event, to fill in as the call goes.
    pub fn event(&mut self) -> Option<&mut AuditEvent> {
        self.event.as_mut()
    }

    /// Submits the event with its final status (once).
    pub fn finish(&mut self, status: &str) -> Option<Committed> {
        let mut event = self.event.take()?;
        status.clone_into(&mut event.status);
        Some(self.sink.event(event))
    }
}

impl Drop for EventGuard {
    fn drop(&mut self) {
        if let Some(event) = self.event.take() {
            drop(self.sink.event(event));
        }
    }
}

impl RecordWriter {
    /// Stops taking entries and waits until every entry already submitted
    /// is written. Call after the server has drained its connections; an
    /// entry submitted after this is logged as lost.
    pub async fn close(self) {
        let _ = self.close.send(());
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "audit writer panicked");
        }
    }
}

async fn write_loop(
    store: Arc<dyn RecordStore>,
    body_store: Arc<dyn BodyStore>,
    mut rx: mpsc::Receiver<Item>,
    mut closing: oneshot::Receiver<()>,
    sink: RecordSink,
) {
    let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
    let mut entries: Vec<Entry> = Vec::with_capacity(BATCH);
    let mut bodies: Vec<CallBody> = Vec::new();
    let mut open = true;
    loop {
        let received = if open {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => n,
                // Closed, or the writer's owner is gone: take no new
                // entries, drain what is buffered.
                _ = &mut closing => {
                    open = false;
                    rx.close();
                    continue;
                }
            }
        } else {
            rx.recv_many(&mut batch, BATCH).await
        };
        if received == 0 {
            break;
        }
        if open && !sink.durable && batch.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
        }
        let mut acks = Vec::with_capacity(batch.len());
        for item in batch.drain(..) {
            entries.push(item.entry);
            acks.push(item.ack);
            bodies.extend(item.body.map(|b| *b));
        }
        let written = write_batch(
            &*store,
            &*body_store,
            &sink,
            &entries,
            &mut bodies,
            &mut acks,
        )
        .await;
        sink.committed.send_modify(|n| *n += written);
        bodies.clear();
        for ack in acks.drain(..).flatten() {
            let _ = ack.send(());
        }
        entries.clear();
    }
}

/// Failures of a whole batch before it is written one entry at a time.
const SPLIT_AFTER: u32 = 5;

/// Writes one batch; how many entries landed. The whole batch goes in one
/// transaction (with its recorded bodies), retried with backoff while the
/// store refuses it: a store that is down holds the batch, it is never
/// dropped. After [`SPLIT_AFTER`] failures a batch of several entries is
/// written one entry at a time, in order, so one entry the store can never
/// take (a value it rejects) cannot stop the trail for everyone else. An
/// entry that still fails while the store takes an `audit.write_failed`
/// event in its place is given up: that event records what was lost, and
/// its caller is not told it was recorded (its ack is dropped, so a
/// durable answer fails closed).
async fn write_batch(
    store: &dyn RecordStore,
    body_store: &dyn BodyStore,
    sink: &RecordSink,
    entries: &[Entry],
    bodies: &mut Vec<CallBody>,
    acks: &mut [Option<oneshot::Sender<()>>],
) -> u64 {
    let mut delay = Duration::from_millis(50);
    let mut attempts = 0;
    loop {
        // A batch's recorded bodies commit with it (one fsync). They are
        // not the trail: if the batch keeps failing with them, it is
        // written without them (their records keep the digests).
        let written = if bodies.is_empty() {
            store.append(entries).await
        } else {
            body_store.append_with_bodies(entries, bodies).await
        };
        match written {
            Ok(()) => {
                sink.healthy.store(true, Ordering::Relaxed);
                return entries.len() as u64;
            }
            Err(e) => {
                sink.healthy.store(false, Ordering::Relaxed);
                attempts += 1;
                tracing::error!(error = %e, entries = entries.len(), "cannot write the audit trail; retrying");
                if attempts == 3 && !bodies.is_empty() {
                    tracing::error!(
                        bodies = bodies.len(),
                        "writing the batch without its recorded bodies"
                    );
                    bodies.clear();
                }
                if attempts >= SPLIT_AFTER && entries.len() > 1 {
                    break;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    let mut written = 0;
    for (entry, ack) in entries.iter().zip(acks.iter_mut()) {
        if write_one(store, sink, entry).await {
            written += 1;
        } else {
            // Not recorded as it was: the caller must not hear otherwise.
            drop(ack.take());
        }
    }
    written
}

/// One entry, retried until it lands (`true`) or the store takes an
/// `audit.write_failed` event in its place and still refuses the entry
/// (`false`). If the entry lands right after that event (the store was
/// only down), an `audit.write_recovered` event follows it.
async fn write_one(store: &dyn RecordStore, sink: &RecordSink, entry: &Entry) -> bool {
    let mut delay = Duration::from_millis(50);
    let mut attempts = 0;
    loop {
        match store.append(std::slice::from_ref(entry)).await {
            Ok(()) => {
                sink.healthy.store(true, Ordering::Relaxed);
                return true;
            }
            Err(e) => {
                attempts += 1;
                if attempts >= SPLIT_AFTER {
                    // The store's error is logged, never kept: it may
                    // quote the refused values.
                    let (kind, id) = match entry {
                        Entry::Request(r) => ("request", r.request_id.clone()),
                        Entry::Event(ev) => ("event", ev.event_id.clone()),
                    };
                    let lost = AuditEvent::new(
                        "audit.write_failed",
                        warden_core::Actor::warden(),
                        Some(id),
                    )
                    .with("kind", kind);
                    let target = lost.target.clone();
                    if store.append(&[Entry::Event(lost)]).await.is_ok() {
                        sink.healthy.store(true, Ordering::Relaxed);
                        // The store writes again: if it was only down, the
                        // entry lands now, and the trail says so.
                        if store.append(std::slice::from_ref(entry)).await.is_ok() {
                            let found = AuditEvent::new(
                                "audit.write_recovered",
                                warden_core::Actor::warden(),
                                target,
                            );
                            drop(store.append(&[Entry::Event(found)]).await);
                            return true;
                        }
                        tracing::error!(error = %e, kind, "the store refuses this audit entry; it is recorded as lost");
                        return false;
                    }
                }
                sink.healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, "cannot write an audit entry; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_store::{RecordFilter, SqliteStore};

    fn record(id: &str) -> RequestRecord {
        crate::new_record(id.into(), &http::Method::POST, "/v1/chat/completions", None)
    }

    #[tokio::test]
    async fn an_entry_the_store_never_takes_is_recorded_as_lost_and_the_rest_land() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("w.db"))
                .await
                .expect("open"),
        );
        // The real database refusing one value, as a constraint would.
        sqlx::query(
            "CREATE TRIGGER poison BEFORE INSERT ON request_records \
             WHEN NEW.request_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        )
        .execute(store.pool())
        .await
        .expect("trigger");
        let (sink, writer) = RecordSink::start(store.clone(), store.clone(), true);
        let commits: Vec<_> = ["before", "poison", "after"]
            .into_iter()
            .map(|id| sink.submit_durable(record(id), None).expect("durable"))
            .collect();
        let mut results = Vec::new();
        for c in commits {
            results.push(
                tokio::time::timeout(Duration::from_secs(30), c)
                    .await
                    .expect("answered"),
            );
        }
        assert_eq!(
            results.iter().map(Result::is_ok).collect::<Vec<_>>(),
            [true, false, true],
            "only the refused entry's caller is told it was not recorded"
        );
        let ids: Vec<String> = store
            .list_records(&RecordFilter::default())
            .await
            .expect("records")
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        assert_eq!(ids, ["after", "before"]);
        let lost = store
            .list_events(&warden_store::EventFilter {
                action_prefix: Some("audit.write_failed".into()),
                ..warden_store::EventFilter::default()
            })
            .await
            .expect("events");
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].1.target.as_deref(), Some("poison"));
        assert!(sink.is_healthy());
        assert!(matches!(
            warden_store::trail::verify(&*store, None)
                .await
                .expect("verify"),
            warden_store::chain::Verdict::Intact { .. }
        ));
        drop(sink);
        writer.close().await;
    }
}
