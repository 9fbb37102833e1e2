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

    // Export for a SIEM: one JSON line per record, `seq` to de-duplicate,
    // resumable after a seq.
    let export = |after: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["audit", "export", "--after-seq", after, "--db"])
            .arg(&db)
            .output()
            .expect("export");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
            .collect::<Vec<_>>()
    };
    let lines = export("0");
    assert_eq!(
        lines
            .iter()
            .map(|l| l["seq"].as_i64().unwrap_or(0))
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(lines[3]["hash"], v["head_hash"]);
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    assert_eq!(lines[2]["record"]["status"], 403);
    assert_eq!(export("2").len(), 2);

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

#[tokio::test]
async fn a_deleted_row_is_named_at_its_own_seq() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    for _ in 0..5 {
        let _ = w.chat(&alice, chat_body("gpt-4o")).await.text().await;
    }
    w.gw.wait_records(5).await.expect("records");
    let db = w.gw.db_path();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .expect("open");
    sqlx::query("DELETE FROM request_records WHERE seq = 3")
        .execute(&pool)
        .await
        .expect("delete");
    pool.close().await;

    let out = verify(&db, false);
    assert!(!out.status.success(), "a deletion breaks the chain");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken at seq 3") && err.contains("seq 3 is missing"),
        "{err}"
    );
    let out = verify(&db, true);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!((&v["intact"], &v["seq"]), (&false.into(), &3.into()), "{v}");
}

#[tokio::test]
async fn export_since_takes_a_window_or_an_rfc3339_time() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    for _ in 0..3 {
        let _ = w.chat(&alice, chat_body("gpt-4o")).await.text().await;
    }
    w.gw.wait_records(3).await.expect("records");
    let db = w.gw.db_path();
    let lines = |since: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["audit", "export", "--since", since, "--db"])
            .arg(&db)
            .output()
            .expect("export");
        assert!(
            out.status.success(),
            "{since}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
            .collect::<Vec<_>>()
    };
    let export = |since: &str| -> Vec<i64> {
        lines(since)
            .iter()
            .map(|l| l["seq"].as_i64().unwrap_or(0))
            .collect()
    };
    assert_eq!(export("1h"), [1, 2, 3]);
    assert_eq!(export("2026-01-01T00:00:00Z"), [1, 2, 3]);
    assert_eq!(export("2025-12-31T23:00:00-02:00"), [1, 2, 3]);
    assert!(export("2999-01-01T00:00:00Z").is_empty());
    // From the second call's start on, to the millisecond.
    let second = lines("1h")[1]["record"]["started_at_ms"]
        .as_i64()
        .expect("started_at_ms");
    let second = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(second) * 1_000_000)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    assert_eq!(export(&second), [2, 3], "since {second}");

    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["audit", "export", "--since", "yesterday", "--db"])
        .arg(&db)
        .output()
        .expect("export");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("RFC 3339"), "{err}");
}

fn warden(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .output()
        .expect("run warden")
}

#[tokio::test]
async fn a_signed_checkpoint_catches_truncation_and_forgery() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    for _ in 0..5 {
        let _ = w.chat(&alice, chat_body("gpt-4o")).await.text().await;
    }
    w.gw.wait_records(5).await.expect("records");
    let db = w.gw.db_path();
    let dir = tempfile::tempdir().expect("tempdir");
    let (private, public, cp) = (
        dir.path().join("audit.key"),
        dir.path().join("audit.pub"),
        dir.path().join("checkpoint.json"),
    );
    let os = |p: &std::path::Path| p.as_os_str().to_owned();
    let s = |x: &str| std::ffi::OsString::from(x);

    let out = warden(&[
        &s("audit"),
        &s("keygen"),
        &s("--private"),
        &os(&private),
        &s("--public"),
        &os(&public),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&private)
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the signing key is private");
    }
    let out = warden(&[
        &s("audit"),
        &s("checkpoint"),
        &s("--db"),
        &os(&db),
        &s("--key"),
        &os(&private),
        &s("--out"),
        &os(&cp),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An inclusion proof for record 3, checked offline with the public key.
    let out = warden(&[
        &s("audit"),
        &s("prove"),
        &s("3"),
        &s("--db"),
        &os(&db),
        &s("--checkpoint"),
        &os(&cp),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let proof = dir.path().join("proof.json");
    std::fs::write(&proof, &out.stdout).expect("proof");
    let check = |file: &std::path::Path| {
        let out = warden(&[
            &s("audit"),
            &s("check-proof"),
            &os(file),
            &s("--public-key"),
            &os(&public),
        ]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, said) = check(&proof);
    assert!(ok && said.contains("valid: seq 3 (request"), "{said}");
    // The same proof with the record altered (who made the call) fails.
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("proof json");
    v["entry"]["subject"] = serde_json::json!("mallory");
    let forged = dir.path().join("forged.json");
    std::fs::write(&forged, v.to_string()).expect("forged");
    let (ok, said) = check(&forged);
    assert!(!ok && said.contains("does not verify"), "{said}");

    // More traffic after the checkpoint: still verifies against it.
    let _ = w.chat(&alice, chat_body("gpt-4o")).await.text().await;
    w.gw.wait_records(6).await.expect("records");
    let verify = |extra: &[&std::ffi::OsStr]| {
        let mut args: Vec<&std::ffi::OsStr> = Vec::new();
        let (a, v, d, p) = (s("audit"), s("verify"), s("--db"), os(&db));
        let owned = [a, v, d, p];
        args.extend(owned.iter().map(|x| x.as_os_str()));
        args.extend_from_slice(extra);
        let out = warden(&args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let with_cp = [s("--checkpoint"), os(&cp), s("--public-key"), os(&public)];
    let with_cp: Vec<&std::ffi::OsStr> = with_cp.iter().map(|x| x.as_os_str()).collect();
    let (ok, err) = verify(&with_cp);
    assert!(ok, "{err}");

    // Cut the tail back to 3 records: the head row still names seq 6.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .expect("open");
    sqlx::query("DELETE FROM request_records WHERE seq > 3")
        .execute(&pool)
        .await
        .expect("truncate");
    let (ok, err) = verify(&[]);
    assert!(!ok && err.contains("broken at seq 4"), "{err}");
    // An attacker who also rewinds the head row: the chain alone looks
    // whole, the checkpoint (which covers 5) does not.
    sqlx::query(
        "UPDATE chain_head SET seq = 3, frontier = NULL, \
         hash = (SELECT hash FROM request_records WHERE seq = 3)",
    )
    .execute(&pool)
    .await
    .expect("rewind head");
    let (ok, err) = verify(&[]);
    assert!(
        !ok && err.contains("no record has this request id"),
        "the cut calls' recorded chunk times outlive their records: {err}"
    );
    sqlx::query(
        "DELETE FROM request_bodies WHERE request_id NOT IN \
         (SELECT request_id FROM request_records)",
    )
    .execute(&pool)
    .await
    .expect("delete bodies");
    pool.close().await;
    let (ok, err) = verify(&[]);
    assert!(
        ok,
        "without a checkpoint, a careful truncation is invisible: {err}"
    );
    let (ok, err) = verify(&with_cp);
    assert!(
        !ok && err.contains("broken at seq 4") && err.contains("truncated"),
        "{err}"
    );

    // A checkpoint edited to claim a shorter trail fails its signature.
    let text = std::fs::read_to_string(&cp).expect("cp");
    std::fs::write(&cp, text.replace("\"seq\": 5", "\"seq\": 3")).expect("edit");
    let (ok, err) = verify(&with_cp);
    assert!(!ok && err.contains("signature"), "{err}");
}

#[tokio::test]
async fn the_server_publishes_signed_checkpoints_that_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (private, public, published) = (
        dir.path().join("audit.key"),
        dir.path().join("audit.pub"),
        dir.path().join("published.json"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["audit", "keygen", "--private"])
        .arg(&private)
        .arg("--public")
        .arg(&public)
        .output()
        .expect("keygen");
    assert!(out.status.success());
    let w = World::start(&format!(
        "[audit]\nsigning_key_file = {:?}\ncheckpoint_interval = \"100ms\"\ncheckpoint_file = {:?}\n",
        private.display().to_string(),
        published.display().to_string()
    ))
    .await;
    let alice = w.token("alice").await;
    for _ in 0..3 {
        let _ = w.chat(&alice, chat_body("gpt-4o")).await.text().await;
    }
    w.gw.wait_records(3).await.expect("records");
    // The server signs on its own once the trail grew; wait for it.
    let mut cp = serde_json::Value::Null;
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(&published) {
            cp = serde_json::from_str(&text).expect("checkpoint json");
            if cp["seq"].as_i64() >= Some(3) {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(cp["seq"], 3, "published: {cp}");
    assert_eq!(cp["tree_size"], 3);
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["audit", "verify", "--db"])
        .arg(w.gw.db_path())
        .arg("--checkpoint")
        .arg(&published)
        .arg("--public-key")
        .arg(&public)
        .output()
        .expect("verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("matches the signed checkpoint at seq 3")
    );
}

#[tokio::test]
async fn an_unreadable_signing_key_stops_start_up() {
    let idp = OidcProvider::start().await.expect("idp");
    let mock = MockUpstream::start().await.expect("mock");
    let config = format!(
        "{}\n{}\n[audit]\nsigning_key_file = \"/nonexistent/audit.key\"\n{POLICY}",
        idp.issuer_toml(),
        connection_toml(&mock.base_url()),
    );
    let err = TestGateway::start(&config)
        .await
        .expect_err("must not start");
    assert!(
        format!("{err:#}").contains("audit.signing_key_file"),
        "{err:#}"
    );
}

/// Runs `warden` with string arguments; (success, stdout + stderr).
fn run(args: &[&str]) -> (bool, String) {
    let out = warden(&args.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>());
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
async fn retention_pruning_keeps_the_rest_verifiable_from_a_signed_checkpoint() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    for _ in 0..4 {
        let _ = w.chat(&alice, chat_body("gpt-4o")).await.text().await;
    }
    w.gw.wait_records(4).await.expect("records");
    let db = w.gw.db_path();
    let db = db.to_str().expect("utf-8 path");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (private, public, cp) = (path("audit.key"), path("audit.pub"), path("cp.json"));
    let (ok, said) = run(&[
        "audit",
        "keygen",
        "--private",
        &private,
        "--public",
        &public,
    ]);
    assert!(ok, "{said}");
    let (ok, said) = run(&[
        "audit",
        "checkpoint",
        "--db",
        db,
        "--key",
        &private,
        "--out",
        &cp,
    ]);
    assert!(ok, "{said}");
    // Nothing older than a day: nothing pruned.
    let (ok, said) = run(&["audit", "prune", "--db", db, "--older-than", "1day"]);
    assert!(ok && said.contains("nothing to prune"), "{said}");

    for _ in 0..2 {
        let _ = w.chat(&alice, chat_body("gpt-4o")).await.text().await;
    }
    w.gw.wait_records(6).await.expect("records");
    let (ok, said) = run(&["audit", "prune", "--db", db, "--older-than", "0s"]);
    assert!(
        ok && said.contains("pruned 4 entries through seq 4"),
        "{said}"
    );
    let kept = w.gw.wait_records(2).await.expect("records");
    assert_eq!(kept.len(), 2, "the 4 oldest records are gone");

    // The rest verifies from the anchor, alone and against the checkpoint.
    let (ok, said) = run(&[
        "audit",
        "verify",
        "--db",
        db,
        "--json",
        "--public-key",
        &public,
    ]);
    assert!(ok, "{said}");
    let v: serde_json::Value = serde_json::from_str(said.trim()).expect("json");
    assert_eq!(v["pruned_through"], 4);
    assert_eq!(v["events"], 3, "two records and the audit.prune event");
    let (ok, said) = run(&[
        "audit",
        "verify",
        "--db",
        db,
        "--checkpoint",
        &cp,
        "--public-key",
        &public,
    ]);
    assert!(ok, "{said}");
    // Kept rows are still held to the chain.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{db}"))
        .await
        .expect("open");
    sqlx::query("UPDATE request_records SET model = 'gpt-4o-mini' WHERE seq = 5")
        .execute(&pool)
        .await
        .expect("edit");
    pool.close().await;
    let (ok, said) = run(&["audit", "verify", "--db", db]);
    assert!(!ok && said.contains("broken at seq 5"), "{said}");
}

/// `[store] postgres_url_env`: a real `warden serve` keeps its trail in
/// PostgreSQL (its own schema), and `warden audit verify` reads it through
/// the same config.
#[tokio::test]
async fn serve_keeps_the_trail_in_postgres_when_configured() {
    let pg = PgSchema::create().await;
    let url = pg.url.clone();
    let ServeSetup {
        mock: _mock,
        dir: _dir,
        config,
    } = ServeSetup::new(
        "postgres_url_env = \"WARDEN_TEST_PG\"",
        "[policy.groups.users]\nmodels = [\"*\"]",
    )
    .await;
    let env = [("WARDEN_TEST_PG", url.as_str())];
    let key = create_key(&config, "pg", &[], &env);
    let served = Served::start_with_env(&config, &env);
    let http = http();
    for _ in 0..3 {
        let resp = http
            .post(format!("http://{}/v1/chat/completions", served.addr))
            .bearer_auth(&key)
            .json(&chat_body("gpt-4o"))
            .send()
            .await
            .expect("chat");
        assert_eq!(resp.status(), 200);
        let _ = resp.text().await;
    }
    drop(served);
    let out = warden_cmd()
        .args(["audit", "verify", "--json", "--config"])
        .arg(&config)
        .env("WARDEN_TEST_PG", &url)
        .output()
        .expect("verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // key.create, server.start, three calls (killed, so no server.stop).
    assert_eq!(v["events"], 5, "{v}");
    let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {}.request_records",
        pg.name
    )))
    .fetch_one(&pg.admin)
    .await
    .expect("count");
    assert_eq!(rows, 3);
    pg.drop().await;
}

/// `checkpoint_every` and `checkpoint_webhook`: with the interval an hour
/// away, three calls make the server sign a checkpoint, publish it to the
/// file and POST it to the webhook, and it verifies with the public key.
#[tokio::test]
async fn checkpoints_every_n_entries_are_posted_and_published() {
    let hook = warden_testkit::webhook::WebhookReceiver::start()
        .await
        .expect("webhook receiver");
    let dir = tempfile::tempdir().expect("tempdir");
    let (private, public) = warden_store::checkpoint::key_pair_pem([3; 32]).expect("keys");
    let key_file = dir.path().join("audit.key");
    std::fs::write(&key_file, private).expect("key");
    let published = dir.path().join("checkpoint.json");
    let w = World::start(&format!(
        "[audit]\nsigning_key_file = {:?}\ncheckpoint_interval = \"1h\"\ncheckpoint_every = 3\n\
         checkpoint_file = {:?}\ncheckpoint_webhook = {:?}\n",
        key_file.display().to_string(),
        published.display().to_string(),
        hook.url()
    ))
    .await;
    let alice = w.token("alice").await;
    for _ in 0..3 {
        let _ = w.chat(&alice, chat_body("gpt-4o")).await.text().await;
    }
    let public = warden_store::checkpoint::verifying_key_from_pem(&public).expect("public");
    let delivery = hook
        .wait_for(std::time::Duration::from_secs(10), |_| true)
        .await
        .expect("a checkpoint was POSTed");
    assert_eq!(
        delivery
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let text = std::str::from_utf8(&delivery.body).expect("utf-8");
    let cp = warden_store::checkpoint::Checkpoint::verified(text, &public).expect("signed");
    assert!(cp.seq >= 3 && cp.tree_size >= 3, "{cp:?}");
    let file = std::fs::read_to_string(&published).expect("published");
    let on_file = warden_store::checkpoint::Checkpoint::verified(&file, &public).expect("signed");
    assert!(on_file.seq >= cp.seq);
}
