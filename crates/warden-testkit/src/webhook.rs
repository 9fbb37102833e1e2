//! A webhook receiver on 127.0.0.1 that keeps every POST it gets (headers
//! and body), for tests of what Warden sends out (checkpoints, approvals,
//! the audit export). It can refuse its first deliveries, to test retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::net::TcpListener;

/// One POST as received (refused ones too).
#[derive(Clone, Debug)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What the receiver answered.
    pub status: StatusCode,
}

#[derive(Debug)]
pub struct WebhookReceiver {
    url: String,
    got: Arc<Mutex<Vec<Delivery>>>,
}

#[derive(Debug)]
struct Receiving {
    got: Arc<Mutex<Vec<Delivery>>>,
    /// Deliveries still to refuse with 500.
    refuse: AtomicUsize,
}

impl WebhookReceiver {
    /// Listens on a random port; every POST to any path is kept and
    /// answered 204.
    pub async fn start() -> anyhow::Result<WebhookReceiver> {
        WebhookReceiver::refusing_first(0).await
    }

    /// [`start`](Self::start), but the first `n` POSTs are answered 500
    /// (and kept, with that status).
    pub async fn refusing_first(n: usize) -> anyhow::Result<WebhookReceiver> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the webhook receiver")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let state = Arc::new(Receiving {
            got: Arc::clone(&got),
            refuse: AtomicUsize::new(n),
        });
        let app = Router::new()
            .route("/{*path}", post(keep))
            .with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(WebhookReceiver { url, got })
    }

    /// Where to point Warden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every POST so far, refused ones included, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The POSTs answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<Delivery> {
        let mut got = self.deliveries();
        got.retain(|d| d.status.is_success());
        got
    }

    /// Waits (up to `within`) until some delivery satisfies `wanted`.
    pub async fn wait_for(
        &self,
        within: Duration,
        wanted: impl Fn(&Delivery) -> bool,
    ) -> anyhow::Result<Delivery> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(d) = self.deliveries().into_iter().find(|d| wanted(d)) {
                return Ok(d);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "no matching webhook delivery within {within:?}; got {:?}",
                self.deliveries()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn keep(State(state): State<Arc<Receiving>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let refuse = state
        .refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if refuse {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    if let Ok(mut got) = state.got.lock() {
        got.push(Delivery {
            headers,
            body,
            status,
        });
    }
    status
}
