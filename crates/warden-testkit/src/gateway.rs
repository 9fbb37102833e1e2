//! A real gateway in-process: the same `warden_gateway::Gateway` that
//! `warden serve` builds, on 127.0.0.1:0, with SQLite in a temp dir.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::oneshot;
use warden_config::Source;
use warden_core::RequestRecord;
use warden_gateway::Gateway;
use warden_gateway::records::RecordWriter;
use warden_store::{RecordFilter, RecordStore as _, SqliteStore};

/// The upstream credential test gateways inject (through `MOCK_UPSTREAM_KEY`).
/// What `WARDEN_TEST_WEBHOOK_SECRET` resolves to in a test gateway's config
/// (webhooks' HMAC key).
pub const WEBHOOK_SECRET: &str = "test-webhook-secret-5b2e9d41";

pub const UPSTREAM_KEY: &str = "sk-warden-upstream-secret";
/// The masking hash key test gateways see in `WARDEN_PII_HASH_KEY`.
pub const PII_HASH_KEY: &str = "test-pii-hash-key-0123456789";

#[derive(Debug)]
pub struct TestGateway {
    pub addr: SocketAddr,
    /// The admin API's own listener, with `[admin] listen`.
    pub admin_addr: Option<SocketAddr>,
    pub gateway: Arc<Gateway>,
    pub store: Arc<SqliteStore>,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    writer: Option<RecordWriter>,
}

/// A connection block pointing at a mock upstream, serving every model.
pub fn connection_toml(upstream_base_url: &str) -> String {
    format!(
        "[[connection]]\nname = \"mock\"\nbase_url = \"{upstream_base_url}\"\napi_key_env = \"MOCK_UPSTREAM_KEY\"\nmodels = [\"*\"]\ndefault = true\nidle_timeout = \"2s\"\nfirst_byte_timeout = \"5s\"\n"
    )
}

impl TestGateway {
    /// Starts a gateway from config text. A `[store]` table is added pointing
    /// into a fresh temp dir; `MOCK_UPSTREAM_KEY` resolves to [`UPSTREAM_KEY`].
    pub async fn start(config: &str) -> anyhow::Result<TestGateway> {
        TestGateway::start_with_clock(config, Arc::new(warden_limits::SystemClock)).await
    }

    /// The same, with the gateway's approvals and grants on `clock` (a
    /// `ManualClock` lets a test move time instead of sleeping).
    pub async fn start_with_clock(
        config: &str,
        clock: Arc<dyn warden_limits::Clock>,
    ) -> anyhow::Result<TestGateway> {
        crate::init_tls();
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("warden.db");
        let text = format!(
            "{config}\n[store]\nsqlite = {:?}\n",
            db.display().to_string()
        );
        let env = |name: &str| match name {
            "MOCK_UPSTREAM_KEY" => Some(UPSTREAM_KEY.to_owned()),
            "WARDEN_PII_HASH_KEY" => Some(PII_HASH_KEY.to_owned()),
            "WARDEN_TEST_WEBHOOK_SECRET" => Some(WEBHOOK_SECRET.to_owned()),
            _ => None,
        };
        let config =
            warden_config::from_toml(&text, Source::File(dir.path().join("test.toml")), &env)
                .context("test config")?;
        let store = Arc::new(SqliteStore::open(&config.store.sqlite_path).await?);
        let (gateway, writer) = Gateway::with_clock(Arc::new(config), store.clone(), clock).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // `[admin] listen` is honoured on a random port, as `warden serve`
        // honours it on the configured one.
        let admin = match gateway.config.admin.as_ref().and_then(|a| a.listen) {
            Some(_) => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await?),
            None => None,
        };
        let admin_addr = admin.as_ref().map(|l| l.local_addr()).transpose()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(warden_gateway::serve(
            listener,
            admin,
            Arc::clone(&gateway),
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(TestGateway {
            addr,
            admin_addr,
            gateway,
            store,
            dir,
            stop: Some(stop),
            server: Some(server),
            writer: Some(writer),
        })
    }

    /// `http://127.0.0.1:PORT/v1`, what `OPENAI_BASE_URL` is set to.
    /// The SQLite file the gateway records into.
    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("warden.db")
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// All records so far, oldest first.
    pub async fn records(&self) -> anyhow::Result<Vec<RequestRecord>> {
        let mut list = self
            .store
            .list_records(&RecordFilter {
                limit: Some(100_000),
                ..RecordFilter::default()
            })
            .await?;
        list.reverse();
        Ok(list)
    }

    /// Waits (polling the store, up to 10 s) until at least `n` records are
    /// written; returns them, oldest first.
    pub async fn wait_records(&self, n: usize) -> anyhow::Result<Vec<RequestRecord>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let records = self.records().await?;
            if records.len() >= n {
                return Ok(records);
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "expected {n} records, found {}: {records:#?}",
                    records.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops serving and flushes every record.
    pub async fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        if let Some(writer) = self.writer.take() {
            writer.close().await;
        }
        Ok(())
    }
}
