//! `warden serve`: load config, open the store, say what we are doing, serve
//! (and, with `[admin] listen`, the admin API on its own listener) until
//! SIGINT/SIGTERM, drain in-flight requests (up to the grace period), and
//! flush request records before exiting. SIGHUP is logged and ignored.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;
use warden_config::{Config, LogFormat, Source};
use warden_gateway::Gateway;

use sha2::Digest as _;
use warden_core::{Actor, AuditEvent};

use crate::cmd::{load_config, open_store};

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// The start-up banner: what this process is doing, never a secret.
fn announce(config: &Config, listen: SocketAddr, admin: Option<SocketAddr>) {
    match &config.source {
        Source::EmbeddedDefault => tracing::info!(
            "no config file given: running the embedded default (use --config FILE for your own)"
        ),
        Source::File(p) => tracing::info!(config = %p.display(), "configuration loaded"),
    }
    tracing::info!(store = %config.store.sqlite_path.display(), "request records and keys in SQLite");
    for c in &config.connections {
        tracing::info!(
            connection = %c.name,
            base_url = %c.base_url,
            credential = %c.credential_source,
            models = %c.models.globs.join(","),
            "upstream connection"
        );
        if c.credential.is_none() && c.credential_source != "none" {
            tracing::warn!(
                connection = %c.name,
                "no upstream credential ({}): calls routed here are refused with 503 until it is set",
                c.credential_source
            );
        }
    }
    for i in &config.issuers {
        tracing::info!(issuer = %i.issuer, name = %i.name, audiences = %i.audiences.join(","), "trusting OIDC issuer");
    }
    if config.keys.enabled {
        tracing::info!("Warden-issued keys accepted (create one: warden keys create --owner NAME)");
    }
    if matches!(config.source, Source::EmbeddedDefault) {
        tracing::info!("policy: keys in group `users` may use every model");
    }
    if let Some(a) = &config.admin {
        let at = admin.unwrap_or(listen);
        let groups = a.groups.join(",");
        tracing::info!(%groups, "serving the admin API at http://{at}/admin/v1");
    }
    tracing::info!(%listen, "serving the OpenAI API at http://{listen}/v1");
}

/// SIGHUP's default action ends the process, and it is sent as a matter of
/// course: a closed terminal, `systemctl reload`, log rotation scripts. Until
/// config reload exists it is logged and ignored. Installed first thing, so
/// no start-up step (OIDC discovery, Redis, the store) leaves a window where
/// it kills the process; tokio keeps the handler for the process's life.
#[cfg(unix)]
fn ignore_hangups() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::warn!("SIGHUP received; config reload is not supported yet, ignoring");
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn ignore_hangups() -> anyhow::Result<()> {
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}

pub async fn run(config_path: Option<&Path>, listen: Option<SocketAddr>) -> anyhow::Result<()> {
    ignore_hangups()?;
    let config = load_config(config_path)?;
    init_logging(&config);
    let listen = listen.unwrap_or(config.server.listen);
    let store = open_store(&config).await?;
    let grace = config.server.shutdown_grace;
    let config = Arc::new(config);
    let (gw, writer) = Gateway::new(Arc::clone(&config), store).await?;
    gw.identity.spawn_refresh();
    // What ran, in the trail: the config's digest ties later records to it.
    let digest = match config_path {
        Some(path) => std::fs::read(path).map_or_else(
            |e| format!("unreadable: {e}"),
            |bytes| warden_store::chain::hex(&sha2::Sha256::digest(bytes)),
        ),
        None => "embedded default".to_owned(),
    };
    drop(
        gw.records.event(
            AuditEvent::new("server.start", Actor::warden(), None)
                .with("version", env!("CARGO_PKG_VERSION"))
                .with("config_sha256", digest)
                .with(
                    "durability",
                    format!("{:?}", config.audit.durability).to_lowercase(),
                ),
        ),
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let admin_listener = match config.admin.as_ref().and_then(|a| a.listen) {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} (admin.listen)"))?,
        ),
        None => None,
    };
    announce(
        &config,
        listener.local_addr().unwrap_or(listen),
        admin_listener.as_ref().and_then(|l| l.local_addr().ok()),
    );

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(warden_gateway::serve(
        listener,
        admin_listener,
        Arc::clone(&gw),
        async move {
            let _ = stop_rx.await;
        },
    ));
    tokio::select! {
        () = shutdown_signal() => {}
        ended = &mut server => {
            anyhow::bail!("the server stopped unexpectedly: {ended:?}");
        }
    }
    let _ = stop_tx.send(());
    match tokio::time::timeout(grace, &mut server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "server error"),
        Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
        Err(_) => {
            tracing::warn!(?grace, "grace period over; closing remaining connections");
            server.abort();
        }
    }
    drop(
        gw.records
            .event(AuditEvent::new("server.stop", Actor::warden(), None)),
    );
    // Give the writer a bounded time to drain what it has (a store that
    // keeps failing must not hold the process forever).
    drop(gw);
    if tokio::time::timeout(std::time::Duration::from_secs(10), writer.close())
        .await
        .is_err()
    {
        tracing::error!("request records of connections still open at exit may be lost");
        return Ok(());
    }
    tracing::info!("request records flushed; bye");
    Ok(())
}
