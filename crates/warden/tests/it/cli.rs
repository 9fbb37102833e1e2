//! The binary itself: `config check`, `policy test`, and `serve` as a real
//! process (start-up banner, health, a proxied call, clean shutdown).

use std::process::Command;

use crate::support::*;

fn warden() -> Command {
    warden_cmd()
}

fn example(name: &str) -> std::path::PathBuf {
    warden_testkit::repo_root().join("examples").join(name)
}

#[test]
fn config_check_accepts_examples_and_names_bad_keys() {
    let mut names: Vec<String> = std::fs::read_dir(example(""))
        .expect("examples/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "{names:?}");
    for name in &names {
        let out = warden()
            .args(["config", "check"])
            .arg(example(name))
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[connection]]\nname = \"x\"\nbase_url = \"ftp://nope\"\nmodels = [\"*\"]\n",
    )
    .expect("write");
    let out = warden()
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("connection[0].base_url"),
        "{err}"
    );
}

#[test]
fn policy_test_prints_the_decision_and_the_deciding_policies() {
    let run = |args: &[&str]| {
        let out = warden()
            .args(["policy", "test", "--config"])
            .arg(example("oidc-teams.toml"))
            .args(args)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let allow = run(&["--sub", "alice", "--groups", "eng", "--model", "gpt-4o"]);
    assert!(
        allow.starts_with("ALLOW") && allow.contains("groups.eng.models"),
        "{allow}"
    );
    let deny = run(&["--sub", "bob", "--groups", "interns", "--model", "o3-pro"]);
    assert!(
        deny.starts_with("DENY") && deny.contains("default deny"),
        "{deny}"
    );
    let forbid = run(&[
        "--sub",
        "bob",
        "--groups",
        "interns",
        "--model",
        "gpt-4o-mini",
        "--tool",
        "computer_use_preview",
    ]);
    assert!(
        forbid.starts_with("DENY") && forbid.contains("interns-no-computer-use"),
        "{forbid}"
    );
}

#[tokio::test]
async fn serve_runs_announces_proxies_and_shuts_down_cleanly() {
    let ServeSetup {
        mock: _mock,
        dir,
        config,
    } = ServeSetup::new(
        "sqlite = \"w.db\"",
        "[policy.groups.users]\nmodels = [\"*\"]",
    )
    .await;
    // A key made by the CLI, used against the served process.
    let key = create_key(&config, "erin", &[], &[]);

    let mut served = Served::start(&config);
    let (addr, banner) = (served.addr.clone(), std::mem::take(&mut served.banner));
    assert!(
        banner.iter().any(|l| l.contains("upstream connection")),
        "{banner:#?}"
    );
    assert!(
        banner.iter().all(|l| !l.contains(UPSTREAM_KEY)),
        "the credential was logged"
    );

    let http = http();
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = http
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let resp = http
        .post(format!("http://{addr}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("chat");
    assert_eq!(resp.status(), 200);

    // SIGTERM: drain, flush records, exit 0.
    let status = served.terminate();
    assert!(status.success(), "exit status {status}");
    let rest: Vec<String> = served.lines.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("records flushed")),
        "{rest:#?}"
    );
    assert!(
        rest.iter().chain(&banner).all(|l| !l.contains(&key)),
        "the caller's key was logged"
    );
    let store = warden_store::SqliteStore::open(&dir.path().join("w.db"))
        .await
        .expect("db");
    let records =
        warden_store::RecordStore::list_records(&store, &warden_store::RecordFilter::default())
            .await
            .expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].subject.as_deref(), Some("erin"));
}
