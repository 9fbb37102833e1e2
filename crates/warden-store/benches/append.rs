//! Audit append throughput into a real SQLite file (WAL), with the hash
//! chain and the Merkle edge: durable (`synchronous = FULL`, one fsync per
//! commit) one record per commit and in group commits of 8 to 512, and
//! without fsync; as the baseline from the same run, the chain's own cost
//! (canonical encoding + SHA-256 per record) on the same records.
//!
//! Then PostgreSQL (`synchronous_commit` as the server has it, `on` by
//! default: one WAL flush per commit), one record per commit and in batches
//! of 512, each run in a fresh schema dropped afterwards: at `WARDEN_BENCH_PG`
//! (a URL), else `postgres://postgres@127.0.0.1:5432/postgres`. Skipped, with
//! the reason, when that server cannot be reached.
//!
//! Run: `cargo bench -p warden-store --bench append`.
#![expect(clippy::print_stdout, clippy::expect_used, reason = "benchmark")]

use std::time::Instant;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use warden_core::{Decision, Outcome, PrincipalKind, RequestRecord, Usage};
use warden_store::{Entry, PostgresStore, RecordStore as _, SqliteStore, chain, trail};

fn record(i: usize) -> RequestRecord {
    RequestRecord {
        request_id: format!("req-{i:012}"),
        started_at_ms: 1_700_000_000_000 + i as i64,
        principal_kind: Some(PrincipalKind::User),
        subject: Some("alice@example.com".into()),
        issuer: Some("https://login.example.com/realms/corp".into()),
        groups: vec!["eng".into(), "ops".into()],
        key_id: None,
        client_addr: Some("10.1.2.3:51234".into()),
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        endpoint: "chat.completions".into(),
        model: Some("gpt-4o".into()),
        connection: Some("openai".into()),
        stream: i.is_multiple_of(3),
        decision: Decision::Allow,
        reason: None,
        policy_ids: vec!["groups.eng.models".into()],
        status: 200,
        outcome: Outcome::Completed,
        upstream_latency_us: Some(180_000),
        total_latency_us: 181_000,
        usage: Some(Usage {
            input_tokens: 812,
            output_tokens: 240,
            total_tokens: 1052,
            cached_tokens: 0,
        }),
        cost_usd_micros: Some(4430),
        findings: Vec::new(),
        response_id: None,
        session_id: None,
        ttft_us: None,
        chunks: None,
        body_sha256: None,
        policy_decision: None,
        stage: None,
        client_request_id: None,
    }
}

/// Appends `n` records in batches of `batch` to a fresh file; records/s.
async fn run(records: &[Entry], batch: usize, durable: bool) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_with(&dir.path().join("bench.db"), durable)
        .await
        .expect("open");
    let start = Instant::now();
    for chunk in records.chunks(batch) {
        store.append(chunk).await.expect("append");
    }
    let secs = start.elapsed().as_secs_f64();
    match trail::verify(&store, None).await.expect("verify") {
        chain::Verdict::Intact { events, .. } => assert_eq!(events as usize, records.len()),
        other => panic!("{other:?}"),
    }
    records.len() as f64 / secs
}

/// Appends `records` in batches of `batch` to a fresh schema; records/s.
async fn run_pg(url: &str, records: &[Entry], batch: usize) -> Result<f64, sqlx::Error> {
    let schema = format!(
        "warden_bench_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let mut admin = PgConnection::connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await?;
    let options: PgConnectOptions = url
        .parse::<PgConnectOptions>()?
        .options([("search_path", &schema)]);
    let store = PostgresStore::connect_with(options).await.expect("connect");
    let start = Instant::now();
    for chunk in records.chunks(batch) {
        store.append(chunk).await.expect("append");
    }
    let secs = start.elapsed().as_secs_f64();
    match trail::verify(&store, None).await.expect("verify") {
        chain::Verdict::Intact { events, .. } => assert_eq!(events as usize, records.len()),
        other => panic!("{other:?}"),
    }
    store.pool().close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await?;
    Ok(records.len() as f64 / secs)
}

async fn postgres(records: &[Entry], chain_rate: f64) {
    let url = std::env::var("WARDEN_BENCH_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let settings = async {
        let mut conn = PgConnection::connect(&url).await?;
        let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut conn)
            .await?;
        let fsync: String = sqlx::query_scalar("SHOW fsync")
            .fetch_one(&mut conn)
            .await?;
        Ok::<_, sqlx::Error>(format!("synchronous_commit={sync}, fsync={fsync}"))
    };
    let settings = match settings.await {
        Ok(settings) => settings,
        Err(e) => {
            println!("postgres: skipped ({e})");
            return;
        }
    };
    println!(
        "postgres at {} ({settings}):",
        warden_store::PostgresStore::describe(&url)
    );
    for (batch, n) in [(1, 2_000), (512, records.len())] {
        match run_pg(&url, &records[..n], batch).await {
            Ok(rate) => println!(
                "postgres commit, batches of {batch:>3}: {rate:>8.0} records/s ({:.2} us each, {:.3} of the chain alone)",
                1e6 / rate,
                rate / chain_rate
            ),
            Err(e) => println!("postgres: skipped ({e})"),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    const N: usize = 50_000;
    let records: Vec<Entry> = (0..N).map(|i| Entry::Request(record(i))).collect();

    let start = Instant::now();
    let mut prev = chain::GENESIS;
    for (i, r) in records.iter().enumerate() {
        prev = chain::link(&prev, i as i64 + 1, r);
    }
    let chain_s = start.elapsed().as_secs_f64();
    std::hint::black_box(prev);
    let chain_rate = N as f64 / chain_s;
    println!("chain alone (encode + SHA-256): {chain_rate:.0} records/s (the ceiling)");

    // (batch, durable, records): one fsync per batch when durable.
    let runs: [(usize, bool, usize); 6] = [
        (1, true, 2_000),
        (8, true, 8_000),
        (64, true, 30_000),
        (512, true, N),
        (1, false, 5_000),
        (512, false, N),
    ];
    for (batch, durable, n) in runs {
        let rate = run(&records[..n], batch, durable).await;
        println!(
            "sqlite {:>6}, batches of {batch:>3}: {rate:>8.0} records/s ({:.2} us each, {:.3} of the chain alone)",
            if durable { "fsync" } else { "async" },
            1e6 / rate,
            rate / chain_rate
        );
    }
    postgres(&records, chain_rate).await;
}
