//! Getting request records into the store without slowing the data path.
//!
//! Each exchange hands its finished record to a [`RecordSink`] (a bounded
//! channel, no await on the hot path); one writer task drains it and appends
//! batches in a single transaction (group commit), so a burst of requests
//! costs a few transactions, not one each. If the channel is full the record
//! is sent by a spawned task instead of being dropped. Shutdown closes the
//! channel and waits for the writer to drain it: no record is lost on a clean
//! stop. (Durability before the response, for the audit trail, is its own
//! issue; see ARCHITECTURE.md.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use warden_core::RequestRecord;
use warden_store::RecordStore;

const CHANNEL: usize = 16 * 1024;
const BATCH: usize = 512;
/// After the first record of a batch arrives, wait this long for more, so a
/// busy gateway writes a few large transactions instead of many tiny ones
/// (each is several hand-offs to SQLite's worker thread). Records are not on
/// the response path, so this adds no latency to any call.
const LINGER: Duration = Duration::from_millis(2);

#[derive(Debug, Clone)]
pub struct RecordSink {
    tx: mpsc::Sender<RequestRecord>,
    healthy: Arc<AtomicBool>,
}

/// Owns the writer task; `close` drains it.
#[derive(Debug)]
pub struct RecordWriter {
    handle: JoinHandle<()>,
    close: tokio::sync::oneshot::Sender<()>,
}

impl RecordSink {
    pub fn start(store: Arc<dyn RecordStore>) -> (RecordSink, RecordWriter) {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let (close, closing) = tokio::sync::oneshot::channel();
        let healthy = Arc::new(AtomicBool::new(true));
        let handle = tokio::spawn(write_loop(store, rx, closing, Arc::clone(&healthy)));
        (RecordSink { tx, healthy }, RecordWriter { handle, close })
    }

    pub fn submit(&self, record: RequestRecord) {
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(record)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    if tx.send(record).await.is_err() {
                        tracing::error!("record writer stopped; a request record was lost");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(record)) => {
                tracing::error!(request_id = %record.request_id, "record writer stopped; a request record was lost");
            }
        }
    }

    /// False after the store has refused writes (for `/readyz`).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && !self.tx.is_closed()
    }
}

impl RecordWriter {
    /// Stops taking records and waits until every record already submitted
    /// is written. Call after the server has drained its connections; a
    /// record submitted after this is logged as lost.
    pub async fn close(self) {
        let _ = self.close.send(());
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "record writer panicked");
        }
    }
}

async fn write_loop(
    store: Arc<dyn RecordStore>,
    mut rx: mpsc::Receiver<RequestRecord>,
    mut closing: tokio::sync::oneshot::Receiver<()>,
    healthy: Arc<AtomicBool>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut open = true;
    loop {
        let received = if open {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => n,
                // Closed, or the writer's owner is gone: take no new
                // records, drain what is buffered.
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
        if open && batch.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
        }
        let mut delay = Duration::from_millis(50);
        loop {
            match store.append_records(&batch).await {
                Ok(()) => {
                    healthy.store(true, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    healthy.store(false, Ordering::Relaxed);
                    tracing::error!(error = %e, records = batch.len(), "cannot write request records; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        batch.clear();
    }
}
