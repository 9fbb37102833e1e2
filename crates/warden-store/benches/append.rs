//! Record append throughput into a real SQLite file (WAL,
//! `synchronous = NORMAL`), in the gateway's batch size, with the hash chain;
//! and, as the baseline from the same run, the chain's own cost (canonical
//! encoding + SHA-256 per record) on the same records.
//!
//! Run: `cargo bench -p warden-store --bench append`.
#![expect(clippy::print_stdout, clippy::expect_used, reason = "benchmark")]

use std::time::Instant;

use warden_core::{Decision, Outcome, PrincipalKind, RequestRecord, Usage};
use warden_store::{RecordStore as _, SqliteStore, chain};

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
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    const N: usize = 50_000;
    const BATCH: usize = 512;
    let records: Vec<RequestRecord> = (0..N).map(record).collect();

    let start = Instant::now();
    let mut prev = chain::GENESIS;
    for (i, r) in records.iter().enumerate() {
        prev = chain::link(&prev, i as i64 + 1, r);
    }
    let chain_s = start.elapsed().as_secs_f64();
    std::hint::black_box(prev);

    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("bench.db"))
        .await
        .expect("open");
    let start = Instant::now();
    for batch in records.chunks(BATCH) {
        store.append_records(batch).await.expect("append");
    }
    let append_s = start.elapsed().as_secs_f64();
    match store.verify_chain().await.expect("verify") {
        chain::Verdict::Intact { events, .. } => assert_eq!(events as usize, N),
        other => panic!("{other:?}"),
    }

    println!(
        "append, batches of {BATCH}: {:.0} records/s ({:.2} us each)",
        N as f64 / append_s,
        append_s * 1e6 / N as f64
    );
    println!(
        "chain alone (encode + SHA-256): {:.2} us per record = {:.1}% of an append",
        chain_s * 1e6 / N as f64,
        100.0 * chain_s / append_s
    );
}
