//! Warden-issued keys end to end: created, used, scoped, and revoked from
//! another process (the CLI) with effect on the very next request.

use std::process::Command;

use warden_identity::{KeyManager, KeySpec};

use crate::support::*;

#[tokio::test]
async fn keys_authenticate_until_revoked_by_the_cli() {
    let w = World::start("").await;
    let keys = KeyManager::new(w.gw.store.clone());
    let key = keys
        .create(
            KeySpec {
                owner: "ci-pipeline".into(),
                groups: vec!["eng".into()],
                models: Some(vec!["gpt-4o-mini".into()]),
                ..KeySpec::default()
            },
            &warden_core::Actor::default(),
        )
        .await
        .expect("create");
    let secret = key.reveal().to_owned();
    assert_eq!(
        w.chat(&secret, chat_body("gpt-4o-mini")).await.status(),
        200
    );
    assert_never_sent(&w.mock, &secret);
    // The key's scope narrows what its groups allow.
    let err = expect_error(
        w.chat(&secret, chat_body("gpt-4o")).await,
        403,
        "model_not_allowed",
    )
    .await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("scoped")
    );

    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["keys", "revoke", &key.id, "--config"])
        .arg(cli_config(&w.gw))
        .output()
        .expect("run warden");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    expect_error(
        w.chat(&secret, chat_body("gpt-4o-mini")).await,
        401,
        "key_revoked",
    )
    .await;

    let records = w.gw.wait_records(3).await.expect("records");
    assert_eq!(records[0].key_id.as_deref(), Some(key.id.as_str()));
    assert_eq!(records[0].subject.as_deref(), Some("ci-pipeline"));
}

#[tokio::test]
async fn the_cli_creates_and_lists_keys_without_showing_secrets_twice() {
    let w = World::start("").await;
    let config = cli_config(&w.gw);
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args([
            "keys",
            "create",
            "--owner",
            "dana",
            "--group",
            "eng",
            "--expires",
            "1h",
            "--json",
            "--config",
        ])
        .arg(&config)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let secret = created["key"].as_str().expect("key").to_owned();
    assert!(secret.starts_with("wdn_"));
    assert_eq!(w.chat(&secret, chat_body("gpt-4o")).await.status(), 200);

    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["keys", "list", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("dana") && listing.contains("active"),
        "{listing}"
    );
    assert!(
        !listing.contains(&secret),
        "list must never show the secret"
    );

    let bad = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["keys", "revoke", "nope", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(!bad.status.success());
}
