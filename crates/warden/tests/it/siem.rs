//! `[audit.export]` end to end: a real `warden serve` streams its trail
//! (request records, key events from the CLI, its own start) to a webhook
//! receiver as signed JSON lines, in seq order, at least once through
//! refused deliveries, and resumes from its cursor after a restart. Neither
//! the secret nor the webhook URL's credentials reach its logs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hmac::Mac as _;
use serde_json::Value;
use warden_store::RecordStore as _;
use warden_testkit::webhook::{Delivery, WebhookReceiver};

use crate::support::*;

const SECRET_ENV: &str = "WARDEN_TEST_EXPORT_SECRET";
const SECRET: &str = "siem-export-secret-9f3a1c77";
/// Credentials in the webhook URL: sent, never logged.
const URL_PASSWORD: &str = "basic-pw-5d1e";
const URL_TOKEN: &str = "hooktoken-8b2f";

/// The receiver's URL with credentials in its userinfo and query.
fn with_credentials(hook: &WebhookReceiver) -> String {
    hook.url()
        .replacen("http://", &format!("http://ops:{URL_PASSWORD}@"), 1)
        + &format!("?token={URL_TOKEN}")
}

/// A config in `dir` exporting to `webhook` with `extra` keys in
/// `[audit.export]`.
fn write_config(dir: &Path, mock: &MockUpstream, webhook: &str, extra: &str) -> PathBuf {
    let config = dir.join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nsqlite = \"w.db\"\n\n{}\n[policy.groups.users]\nmodels = [\"*\"]\n\n\
             [audit.export]\nwebhook = {webhook:?}\ninterval = \"100ms\"\n{extra}",
            connection_toml(&mock.base_url())
        ),
    )
    .expect("write config");
    config
}

async fn chat(addr: &str, key: &str) -> u16 {
    let resp = http()
        .post(format!("http://{addr}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("chat");
    let status = resp.status().as_u16();
    let _ = resp.text().await;
    status
}

/// The trail as `warden audit export` prints it: what every receiver must
/// end up with.
fn exported(db: &Path) -> Vec<Value> {
    let out = warden_cmd()
        .args(["audit", "export", "--db"])
        .arg(db)
        .output()
        .expect("warden audit export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&out.stdout)
}

fn lines(body: &[u8]) -> Vec<Value> {
    std::str::from_utf8(body)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn seq(line: &Value) -> i64 {
    line["seq"].as_i64().expect("seq")
}

fn header(d: &Delivery, name: &str) -> String {
    d.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Distinct seqs the receiver accepted (2xx), each with its line.
fn accepted(hook: &WebhookReceiver) -> BTreeMap<i64, Value> {
    hook.accepted()
        .iter()
        .flat_map(|d| lines(&d.body))
        .map(|l| (seq(&l), l))
        .collect()
}

/// Waits (up to 30 s) until the receiver accepted every seq from `from`
/// through `through`.
async fn wait_accepted(hook: &WebhookReceiver, from: i64, through: i64) -> BTreeMap<i64, Value> {
    for _ in 0..1500 {
        let got = accepted(hook);
        if (from..=through).all(|s| got.contains_key(&s)) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got: Vec<i64> = accepted(hook).into_keys().collect();
    panic!("seqs {from}..={through} not all delivered; got {got:?}");
}

/// The server's log lines after it exited (its banner included).
fn logs(served: &mut Served) -> Vec<String> {
    let mut all = std::mem::take(&mut served.banner);
    while let Ok(line) = served.lines.recv_timeout(Duration::from_secs(5)) {
        all.push(line);
    }
    all
}

fn assert_no_credentials(logs: &[String]) {
    for line in logs {
        for secret in [SECRET, URL_PASSWORD, URL_TOKEN] {
            assert!(!line.contains(secret), "logged a credential: {line}");
        }
    }
}

fn key_id(key: &str) -> &str {
    &key[4..16]
}

#[tokio::test]
async fn every_entry_arrives_in_order_chained_and_signed() {
    let mock = MockUpstream::start().await.expect("mock");
    let hook = WebhookReceiver::start().await.expect("receiver");
    let dir = tempfile::tempdir().expect("tmp");
    let config = write_config(
        dir.path(),
        &mock,
        &with_credentials(&hook),
        &format!("secret_env = {SECRET_ENV:?}\nbatch = 2\n"),
    );
    let env = [(SECRET_ENV, SECRET)];
    let alice = create_key(&config, "alice", &[], &env);
    let bob = create_key(&config, "bob", &[], &env);
    let mut served = Served::start_with_env(&config, &env);
    for key in [&alice, &alice, &bob] {
        assert_eq!(chat(&served.addr, key).await, 200);
    }
    assert_eq!(chat(&served.addr, "wdn_000000000000_bad").await, 401);
    // A key event another process appends: found by the interval, not by a
    // commit of the server's own.
    let out = warden_cmd()
        .args(["keys", "revoke", key_id(&bob), "--config"])
        .arg(&config)
        .env(SECRET_ENV, SECRET)
        .output()
        .expect("revoke");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let trail = exported(&dir.path().join("w.db"));
    let last = trail.last().map(seq).expect("a trail");
    assert_eq!(last, 8, "2 key.create, server.start, 4 calls, key.revoke");
    wait_accepted(&hook, 1, last).await;

    // No failures: every entry exactly once, in seq order, batch by batch.
    let deliveries = hook.deliveries();
    assert!(deliveries.iter().all(|d| d.status.is_success()));
    let got: Vec<Value> = deliveries.iter().flat_map(|d| lines(&d.body)).collect();
    assert_eq!(
        got.iter().map(seq).collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>()
    );
    // The same lines `warden audit export` prints, hash chain included.
    assert_eq!(got, trail);
    for pair in got.windows(2) {
        assert_eq!(
            pair[1]["prev_hash"],
            pair[0]["hash"],
            "seq {}",
            seq(&pair[1])
        );
    }
    let actions: Vec<&str> = got
        .iter()
        .filter_map(|l| l["event"]["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["key.create", "key.create", "server.start", "key.revoke"]
    );
    assert_eq!(got.iter().filter(|l| l["kind"] == "request").count(), 4);

    for d in &deliveries {
        let body = lines(&d.body);
        assert!(body.len() <= 2, "batch = 2");
        assert_eq!(header(d, "content-type"), "application/x-ndjson");
        assert_eq!(
            header(d, "x-warden-export-first-seq"),
            seq(&body[0]).to_string()
        );
        assert_eq!(
            header(d, "x-warden-export-last-seq"),
            seq(&body[body.len() - 1]).to_string()
        );
        // The URL's credentials went as Basic auth, not in the clear log.
        assert!(header(d, "authorization").starts_with("Basic "));
        // v1 = HMAC-SHA256(secret, "<timestamp>." + body), checked here
        // with the hmac crate as a receiver would.
        let timestamp = header(d, "x-warden-timestamp");
        assert!(timestamp.parse::<u64>().is_ok(), "{timestamp:?}");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(&d.body);
        let expected = format!(
            "v1={}",
            warden_store::chain::hex(&mac.finalize().into_bytes())
        );
        assert_eq!(header(d, "x-warden-signature"), expected);
    }

    assert!(served.terminate().success());
    let logs = logs(&mut served);
    assert!(
        logs.iter()
            .any(|l| l.contains("exporting the audit trail") && l.contains(hook.url())),
        "the export is announced with the webhook's host and path: {logs:#?}"
    );
    assert_no_credentials(&logs);
}

#[tokio::test]
async fn refused_deliveries_are_retried_and_nothing_is_lost() {
    let mock = MockUpstream::start().await.expect("mock");
    let hook = WebhookReceiver::refusing_first(2).await.expect("receiver");
    let dir = tempfile::tempdir().expect("tmp");
    let config = write_config(dir.path(), &mock, &with_credentials(&hook), "");
    let key = create_key(&config, "carol", &[], &[]);
    let mut served = Served::start(&config);
    for _ in 0..3 {
        assert_eq!(chat(&served.addr, &key).await, 200);
    }
    let trail = exported(&dir.path().join("w.db"));
    let last = trail.last().map(seq).expect("a trail");
    let got = wait_accepted(&hook, 1, last).await;

    let deliveries = hook.deliveries();
    assert_eq!(
        deliveries.iter().filter(|d| !d.status.is_success()).count(),
        2,
        "the first two were refused"
    );
    // A refused batch is sent again before anything after it: the first
    // accepted delivery starts where the refused ones did.
    let first_seq = |d: &Delivery| lines(&d.body).first().map(seq);
    assert_eq!(first_seq(&deliveries[0]), Some(1));
    assert_eq!(first_seq(&deliveries[1]), Some(1));
    assert_eq!(first_seq(&deliveries[2]), Some(1));
    assert!(deliveries[2].status.is_success());
    // Each seq at least once (duplicates allowed), none missing, nothing
    // that is not in the trail.
    let want: BTreeMap<i64, Value> = trail.into_iter().map(|l| (seq(&l), l)).collect();
    let got: BTreeMap<i64, Value> = got.into_iter().filter(|(s, _)| *s <= last).collect();
    assert_eq!(got, want);
    assert!(
        hook.deliveries()
            .iter()
            .all(|d| d.headers.get("x-warden-signature").is_none()),
        "unsigned without secret_env"
    );

    assert!(served.terminate().success());
    let logs = logs(&mut served);
    assert!(
        logs.iter()
            .any(|l| l.contains("audit export refused") && l.contains("500")),
        "{logs:#?}"
    );
    assert_no_credentials(&logs);
}

#[tokio::test]
async fn a_restarted_server_resumes_from_its_cursor() {
    let mock = MockUpstream::start().await.expect("mock");
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("w.db");
    let first = WebhookReceiver::start().await.expect("receiver");
    let config = write_config(dir.path(), &mock, first.url(), "name = \"siem\"\n");
    let key = create_key(&config, "dave", &[], &[]);
    let mut served = Served::start(&config);
    for _ in 0..2 {
        assert_eq!(chat(&served.addr, &key).await, 200);
    }
    let before = exported(&db).last().map(seq).expect("a trail");
    wait_accepted(&first, 1, before).await;
    // The cursor is saved just after the 2xx: wait for it too.
    let store = warden_store::SqliteStore::open(&db).await.expect("db");
    for _ in 0..1500 {
        if store.export_cursor("siem").await.expect("cursor") >= Some(before) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served.terminate().success());
    let cursor = store
        .export_cursor("siem")
        .await
        .expect("cursor")
        .expect("saved");
    assert!(
        cursor >= before,
        "cursor {cursor}, delivered through {before}"
    );

    // Same database and export name, a new receiver: only what comes after
    // the cursor goes to it.
    let second = WebhookReceiver::start().await.expect("receiver");
    let config = write_config(dir.path(), &mock, second.url(), "name = \"siem\"\n");
    let mut served = Served::start(&config);
    assert_eq!(chat(&served.addr, &key).await, 200);
    let trail = exported(&db);
    let last = trail.last().map(seq).expect("a trail");
    let got = wait_accepted(&second, cursor + 1, last).await;
    assert_eq!(
        got.keys().next(),
        Some(&(cursor + 1)),
        "nothing up to the cursor is sent again"
    );
    let mut both: BTreeSet<i64> = accepted(&first).into_keys().collect();
    both.extend(got.keys());
    assert!(
        (1..=last).all(|s| both.contains(&s)),
        "across the restart nothing was skipped: {both:?}"
    );
    assert!(served.terminate().success());
}

#[test]
fn a_bad_webhook_url_names_the_key_and_not_the_url() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "[[connection]]\nname = \"mock\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodels = [\"*\"]\n\n\
             [audit.export]\nwebhook = \"ftp://ops:{URL_PASSWORD}@siem.example.com/in?token={URL_TOKEN}\"\n"
        ),
    )
    .expect("write");
    for args in [&["config", "check"][..], &["serve", "--config"][..]] {
        let out = warden_cmd()
            .args(args)
            .arg(&config)
            .output()
            .expect("run warden");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {said}");
        assert!(said.contains("audit.export.webhook"), "{args:?}: {said}");
        assert!(
            !said.contains(URL_TOKEN) && !said.contains(URL_PASSWORD),
            "{args:?}: {said}"
        );
    }
}

/// The export is off the data path: with nothing listening at the webhook,
/// calls are answered and recorded as always (the in-process gateway).
#[tokio::test]
async fn an_unreachable_receiver_never_holds_up_a_call() {
    let w = World::start("[audit.export]\nwebhook = \"http://127.0.0.1:1/in\"\n").await;
    let alice = w.token("alice").await;
    for _ in 0..3 {
        let resp = w.chat(&alice, chat_body("gpt-4o")).await;
        assert_eq!(resp.status(), 200);
        let _ = resp.text().await;
    }
    assert_eq!(w.gw.wait_records(3).await.expect("records").len(), 3);
    assert_eq!(
        w.gw.store.export_cursor("default").await.expect("cursor"),
        None,
        "nothing was acknowledged, so the cursor has not moved"
    );
}
