//! The tamper-evident trail end to end: requests through a real gateway
//! leave chained records; `warden audit verify` (the binary) says intact,
//! then names the row an attacker edited directly in SQLite.

use std::process::Command;

use crate::support::*;

fn verify(db: &std::path::Path, json: bool) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_warden"));
    c.args(["audit", "verify", "--db"]).arg(db);
    if json {
        c.arg("--json");
    }
    c.output().expect("run warden")
}

#[tokio::test]
async fn verify_passes_then_names_the_edited_row() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    let nobody = w.token("nobody").await;
    for i in 0..4 {
        let token = if i == 2 { &nobody } else { &alice };
        let _ = w.chat(token, chat_body("gpt-4o")).await.text().await;
    }
    let records = w.gw.wait_records(4).await.expect("records");
    assert!(
        records.iter().any(|r| r.status == 403),
        "a refusal is chained too"
    );
    let db = w.gw.db_path();

    let out = verify(&db, true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["intact"], true);
    assert_eq!(v["events"], 4);
    assert_eq!(v["head_seq"], 4);
    assert_eq!(v["head_hash"].as_str().map(str::len), Some(64));

    // Someone with write access to the file rewrites who made call 3.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .expect("open");
    sqlx::query("UPDATE request_records SET subject = 'alice', status = 200 WHERE seq = 3")
        .execute(&pool)
        .await
        .expect("tamper");
    pool.close().await;

    let out = verify(&db, false);
    assert!(!out.status.success(), "a broken chain exits non-zero");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken at seq 3"), "{err}");
}
