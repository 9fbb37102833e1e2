//! A webhook receiver on 127.0.0.1 that keeps every POST it gets (headers
//! and body), for tests of what Warden sends out (checkpoints, approvals).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::net::TcpListener;

/// One POST as received.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug)]
pub struct WebhookReceiver {
    url: String,
    got: Arc<Mutex<Vec<Delivery>>>,
}

impl WebhookReceiver {
    /// Listens on a random port; every POST to any path is kept and
    /// answered 204.
    pub async fn start() -> anyhow::Result<WebhookReceiver> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the webhook receiver")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let app = Router::new()
            .route("/{*path}", post(keep))
            .with_state(Arc::clone(&got));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(WebhookReceiver { url, got })
    }

    /// Where to point Warden.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
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

async fn keep(
    State(got): State<Arc<Mutex<Vec<Delivery>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if let Ok(mut got) = got.lock() {
        got.push(Delivery { headers, body });
    }
    StatusCode::NO_CONTENT
}
