//! Streaming export of the audit trail to a SIEM webhook (`[audit.export]`).
//!
//! This module owns one background task per gateway. It reads the trail in
//! seq order after the export cursor kept in the store
//! ([`RecordStore::export_cursor`], by the export's `name`), POSTs each page
//! as JSON lines (`warden_store::export`: the lines `warden audit export`
//! prints) and moves the cursor to the page's last seq once the receiver
//! answered 2xx. A full page is followed by the next at once; otherwise the
//! task waits for the record writer's next commit
//! ([`RecordSink::committed`](crate::records::RecordSink::committed)) or
//! `interval`, whichever comes first. The interval also picks up what other
//! processes appended (the CLI's key events, other replicas).
//!
//! **At least once.** The cursor moves only after a 2xx, so a batch that
//! failed is sent again (after 250 ms, doubling to 30 s, or later if the
//! receiver's `Retry-After` says so) until it is acknowledged, and the next
//! batch never goes before it. A crash between the 2xx and saving the
//! cursor sends that batch again after the restart, and replicas exporting
//! under one name to one PostgreSQL store may both send a batch: receivers
//! de-duplicate by each line's `seq` (`X-Warden-Export-First-Seq` and
//! `-Last-Seq` bound the batch). A redirect is not followed (it is a failed
//! delivery): the body never goes anywhere but the configured URL.
//!
//! **Signed.** With `secret_env`, each attempt carries `X-Warden-Timestamp`
//! (unix seconds, new on every attempt, so receivers can refuse old
//! replays) and `X-Warden-Signature: v1=<hex HMAC-SHA256(secret,
//! "<timestamp>." + body)>`.
//!
//! **Off the data path.** The task only reads the store and watches the
//! writer's commit counter: a slow or dead receiver delays the export and
//! nothing else. It dies with the runtime; whatever it had not delivered is
//! delivered from the cursor on the next start.
//!
//! Logs name the webhook by scheme, host, port and path only (its userinfo
//! and query may be credentials), and never show the secret.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;
use tokio::sync::watch;
use warden_config::ExportConfig;
use warden_store::{RecordStore, StoreError};

/// The first seq in a batch's body.
pub const FIRST_SEQ: HeaderName = HeaderName::from_static("x-warden-export-first-seq");
/// The last seq in a batch's body (the cursor moves to it on a 2xx).
pub const LAST_SEQ: HeaderName = HeaderName::from_static("x-warden-export-last-seq");
/// Unix seconds when the attempt was signed.
pub const TIMESTAMP: HeaderName = HeaderName::from_static("x-warden-timestamp");
/// `v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`.
pub const SIGNATURE: HeaderName = HeaderName::from_static("x-warden-signature");

const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(30);
/// A receiver's `Retry-After` is honoured up to this, so a mistaken one
/// (a day) cannot silence the export.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// With `[audit.export]`: starts the exporter. A URL the HTTP client
/// cannot use, or a client that cannot be built, stops start-up (configured
/// means sent).
pub(crate) fn start(
    config: &warden_config::Config,
    store: Arc<dyn RecordStore>,
    sink: &crate::records::RecordSink,
) -> Result<(), crate::BuildError> {
    let Some(export) = &config.audit.export else {
        return Ok(());
    };
    // The parser's message never repeats the URL.
    reqwest::Url::parse(export.webhook.expose_secret())
        .map_err(|e| crate::BuildError::AuditExport(format!("not a usable URL: {e}")))?;
    let client = warden_identity::http::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            crate::BuildError::AuditExport(format!(
                "cannot set up an HTTP client: {}",
                e.without_url()
            ))
        })?;
    let exporter = Exporter::new(export, store, client);
    tokio::spawn(exporter.run(sink.committed(), export.interval));
    Ok(())
}

/// `v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`.
pub fn signature(secret: &SecretString, timestamp: u64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1={}",
        warden_store::chain::hex(&mac.finalize().into_bytes())
    )
}

#[derive(Debug)]
struct Exporter {
    store: Arc<dyn RecordStore>,
    client: reqwest::Client,
    webhook: SecretString,
    /// The webhook as logs show it.
    shown: String,
    secret: Option<SecretString>,
    batch: i64,
    name: String,
    /// The last seq delivered by this process: the cursor, even when saving
    /// it failed (the next save carries it).
    delivered: i64,
}

impl Exporter {
    fn new(export: &ExportConfig, store: Arc<dyn RecordStore>, client: reqwest::Client) -> Self {
        Exporter {
            store,
            client,
            webhook: export.webhook.clone(),
            shown: export.webhook_shown(),
            secret: export.secret.clone(),
            batch: i64::from(export.batch),
            name: export.name.clone(),
            delivered: 0,
        }
    }

    async fn run(mut self, mut committed: watch::Receiver<u64>, interval: Duration) {
        tracing::info!(webhook = %self.shown, name = %self.name, signed = self.secret.is_some(), "exporting the audit trail");
        let mut reading = Backoff::default();
        let mut writer_gone = false;
        loop {
            match self.pass().await {
                Ok(true) => {
                    reading = Backoff::default();
                    continue;
                }
                Ok(false) => reading = Backoff::default(),
                Err(error) => {
                    let wait = reading.failed(None);
                    tracing::warn!(%error, retry_in = ?wait, name = %self.name, "audit export cannot read the trail");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            // Caught up: the next commit or the interval, whichever first.
            tokio::select! {
                changed = committed.changed(), if !writer_gone => writer_gone = changed.is_err(),
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Delivers the next page, retrying it until the receiver takes it.
    /// `true` when the page was full (more may be waiting).
    async fn pass(&mut self) -> Result<bool, StoreError> {
        let stored = self.store.export_cursor(&self.name).await?.unwrap_or(0);
        let after = stored.max(self.delivered);
        let rows = self.store.chain_page(after, self.batch).await?;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Ok(false);
        };
        let (first, last) = (first.seq, last.seq);
        if after > 0 && first > after + 1 {
            // Retention pruned them before they were delivered.
            tracing::warn!(
                name = %self.name,
                "audit export: entries {} to {} were pruned before they were exported",
                after + 1,
                first - 1
            );
        }
        for row in rows.iter().filter(|r| r.entry.is_err()) {
            tracing::error!(seq = row.seq, name = %self.name, "audit export: an entry no longer decodes (edited?); exported as `unreadable`");
        }
        let body = Bytes::from(warden_store::export::body(&rows));
        self.deliver(&body, first, last).await;
        self.delivered = last;
        if let Err(error) = self.store.save_export_cursor(&self.name, last).await {
            // Kept in memory; the next save carries it. A restart before
            // then sends these entries again, which receivers de-duplicate.
            tracing::warn!(%error, seq = last, name = %self.name, "audit export cursor not saved");
        }
        Ok(rows.len() as i64 >= self.batch)
    }

    /// POSTs one batch until a 2xx. Never gives up: the next batch must not
    /// go before this one.
    async fn deliver(&self, body: &Bytes, first: i64, last: i64) {
        let mut backoff = Backoff::default();
        loop {
            let asked = match self.post(body, first, last).await {
                Ok(()) => return,
                Err(Failed::Status(status, asked)) => {
                    let wait = backoff.failed(asked);
                    tracing::warn!(%status, webhook = %self.shown, first, last, retry_in = ?wait, "audit export refused");
                    wait
                }
                Err(Failed::Unreachable(error)) => {
                    let wait = backoff.failed(None);
                    tracing::warn!(%error, webhook = %self.shown, first, last, retry_in = ?wait, "audit export webhook unreachable");
                    wait
                }
            };
            tokio::time::sleep(asked).await;
        }
    }

    async fn post(&self, body: &Bytes, first: i64, last: i64) -> Result<(), Failed> {
        let mut request = self
            .client
            .post(self.webhook.expose_secret())
            .header(
                http::header::CONTENT_TYPE,
                warden_store::export::CONTENT_TYPE,
            )
            .header(FIRST_SEQ, first)
            .header(LAST_SEQ, last)
            .timeout(POST_TIMEOUT)
            .body(body.clone());
        if let Some(secret) = &self.secret {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            request = request
                .header(TIMESTAMP, now)
                .header(SIGNATURE, signature(secret, now, body));
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(Failed::Status(r.status(), retry_after(r.headers()))),
            Err(e) => Err(Failed::Unreachable(without_url(e))),
        }
    }
}

enum Failed {
    Status(http::StatusCode, Option<Duration>),
    Unreachable(String),
}

/// A reqwest error and its causes, without the URL reqwest puts in it.
fn without_url(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` as seconds or an HTTP date; a date in the past is now.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    Some(Duration::try_from(at - time::OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO))
}

/// The wait before the next attempt: 250 ms doubling to 30 s, or what the
/// receiver asked for when that is longer (up to 5 min).
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_RETRY }
    }
}

impl Backoff {
    fn failed(&mut self, asked: Option<Duration>) -> Duration {
        let asked = asked.map_or(Duration::ZERO, |a| a.min(MAX_RETRY_AFTER));
        let wait = self.next.max(asked);
        self.next = (self.next * 2).min(MAX_RETRY);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        let secret = SecretString::from("export-secret-0123456789");
        // Python: hmac.new(b"export-secret-0123456789", b"1700000000.{\"seq\":1}\n", sha256)
        assert_eq!(
            signature(&secret, 1_700_000_000, b"{\"seq\":1}\n"),
            "v1=75bf3e0b48e39c36c8c4c6b35758a43ddb8d61c0a5b2189a3e76ba0d00117668"
        );
        assert_ne!(
            signature(&secret, 1_700_000_001, b"{\"seq\":1}\n"),
            signature(&secret, 1_700_000_000, b"{\"seq\":1}\n"),
            "the timestamp is signed"
        );
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_honours_a_longer_retry_after() {
        let mut b = Backoff::default();
        let waits: Vec<u128> = (0..10).map(|_| b.failed(None).as_millis()).collect();
        assert_eq!(
            waits,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        let mut b = Backoff::default();
        assert_eq!(
            b.failed(Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(b.failed(Some(Duration::ZERO)), Duration::from_millis(500));
        assert_eq!(
            b.failed(Some(Duration::from_secs(86_400))),
            Duration::from_secs(300),
            "a day is capped"
        );
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::RETRY_AFTER, v.parse().expect("value"));
            retry_after(&h)
        };
        assert_eq!(with("7"), Some(Duration::from_secs(7)));
        assert_eq!(with("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        let later = with("Fri, 06 Nov 2099 08:49:37 GMT").expect("a date");
        assert!(later > Duration::from_secs(86_400), "{later:?}");
        assert_eq!(with("soon"), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[tokio::test]
    async fn an_error_is_logged_without_its_url() {
        let error = warden_identity::http::client_builder()
            .build()
            .expect("client")
            .post("http://ops:pw@127.0.0.1:1/in?token=t0k")
            .send()
            .await
            .expect_err("nothing listens on port 1");
        assert!(error.to_string().contains("t0k"), "reqwest names the URL");
        let text = without_url(error);
        assert!(!text.contains("t0k") && !text.contains("pw"), "{text}");
        assert!(text.contains("error sending request"), "{text}");
    }
}
