//! A fake Microsoft Presidio analyzer, for testing `[pii.analyzer]`.
//!
//! A real Presidio cannot run here: its analyzer needs spaCy language models
//! downloaded from a model hub this machine cannot reach. So this serves the
//! one route Warden calls, `POST /analyze`, the way Presidio answers it, and
//! finds entities by a fixed dictionary instead of NER:
//!
//! | text | entity type |
//! | --- | --- |
//! | `Alice Martin`, `Zoë Saldaña` | `PERSON` |
//! | `Paris`, `Zürich` | `LOCATION` |
//!
//! As in Presidio, `start` and `end` count Unicode code points (Python `str`
//! indices), not bytes, so non-ASCII names test Warden's conversion; only
//! types named in the request's `entities` are returned (all when it names
//! none); findings carry `score` 0.85 and the extra fields Presidio sends
//! (`analysis_explanation`, `recognition_metadata`).
//!
//! It records every text it was asked about, and can be made to fail:
//! [`FakePresidio::fail_with`] answers every request with that status,
//! [`FakePresidio::delay`] waits before answering.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// What the fake knows: (text, entity type).
pub const DICTIONARY: [(&str, &str); 4] = [
    ("Alice Martin", "PERSON"),
    ("Zoë Saldaña", "PERSON"),
    ("Paris", "LOCATION"),
    ("Zürich", "LOCATION"),
];

/// One `/analyze` request as received.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalyzeRequest {
    pub text: String,
    pub language: String,
    pub entities: Vec<String>,
    pub score_threshold: Option<f64>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: Mutex<Vec<AnalyzeRequest>>,
    /// 0: answer normally.
    fail_status: AtomicU16,
    delay_ms: AtomicU64,
}

/// A running fake analyzer on `127.0.0.1:0`; it shuts down when dropped.
#[derive(Debug)]
pub struct FakePresidio {
    addr: SocketAddr,
    inner: Arc<Inner>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakePresidio {
    pub async fn start() -> anyhow::Result<FakePresidio> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the fake Presidio analyzer")?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/analyze", post(analyze))
            .with_state(Arc::clone(&inner));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(FakePresidio {
            addr,
            inner,
            shutdown: Some(tx),
        })
    }

    /// The base URL, what `pii.analyzer.url` is set to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<AnalyzeRequest> {
        lock(&self.inner.requests).clone()
    }

    /// The texts of every request received so far, sorted (texts of one
    /// Warden request are analyzed concurrently, so they arrive in any order).
    pub fn texts(&self) -> Vec<String> {
        let mut texts: Vec<String> = self.requests().into_iter().map(|r| r.text).collect();
        texts.sort();
        texts
    }

    /// Answer every request with `status` (an error body like Presidio's);
    /// `None` to answer normally again.
    pub fn fail_with(&self, status: Option<u16>) {
        self.inner
            .fail_status
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// Wait this long before answering each request.
    pub fn delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.inner.delay_ms.store(ms, Ordering::SeqCst);
    }
}

impl Drop for FakePresidio {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Deserialize)]
struct Body {
    text: String,
    language: String,
    #[serde(default)]
    entities: Vec<String>,
    score_threshold: Option<f64>,
}

async fn analyze(State(inner): State<Arc<Inner>>, body: axum::body::Bytes) -> Response {
    // Presidio answers a body it cannot read with 400 and a JSON error.
    let Ok(req) = serde_json::from_slice::<Body>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "Invalid request json"})),
        )
            .into_response();
    };
    lock(&inner.requests).push(AnalyzeRequest {
        text: req.text.clone(),
        language: req.language.clone(),
        entities: req.entities.clone(),
        score_threshold: req.score_threshold,
    });
    let delay = inner.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = inner.fail_status.load(Ordering::SeqCst);
    if status != 0 {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            axum::Json(json!({"error": "fake analyzer failure"})),
        )
            .into_response();
    }
    let score = 0.85;
    if req.score_threshold.is_some_and(|t| t > score) {
        return axum::Json(json!([])).into_response();
    }
    axum::Json(Value::Array(find(&req.text, &req.entities, score))).into_response()
}

/// Dictionary hits, with code-point offsets, in order of position.
fn find(text: &str, entities: &[String], score: f64) -> Vec<Value> {
    let mut hits: Vec<(usize, usize, &str)> = DICTIONARY
        .iter()
        .filter(|(_, kind)| entities.is_empty() || entities.iter().any(|e| e == kind))
        .flat_map(|(term, kind)| {
            text.match_indices(term).map(move |(at, _)| {
                let start = text[..at].chars().count();
                (start, start + term.chars().count(), *kind)
            })
        })
        .collect();
    hits.sort_unstable();
    hits.into_iter()
        .map(|(start, end, kind)| {
            json!({
                "analysis_explanation": null,
                "end": end,
                "entity_type": kind,
                "recognition_metadata": {
                    "recognizer_identifier": "fake-dictionary",
                    "recognizer_name": "SpacyRecognizer"
                },
                "score": score,
                "start": start
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_code_points() {
        let text = "Zoë Saldaña 🙂 visits Paris";
        let hits = find(text, &[], 0.85);
        let spans: Vec<(u64, u64, &str)> = hits
            .iter()
            .map(|h| {
                (
                    h["start"].as_u64().unwrap_or_default(),
                    h["end"].as_u64().unwrap_or_default(),
                    h["entity_type"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(spans, [(0, 11, "PERSON"), (21, 26, "LOCATION")]);
        assert!(find(text, &["LOCATION".into()], 0.85).len() == 1);
    }
}
