//! Operators' normal operations, on the real binary: a SIGHUP never kills
//! `warden serve`; the commands that only read the configuration work
//! without the production secrets (a warning there, an error in `serve` and
//! with `--strict`); `warden policy test` says what every later stage will
//! do to the call.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::*;

/// Environment variables no test sets: the "production secrets" of the
/// configs below.
const UPSTREAM_VAR: &str = "WARDEN_IT_UNSET_UPSTREAM_KEY";
const HASH_VAR: &str = "WARDEN_IT_UNSET_HASH_KEY";
const PG_VAR: &str = "WARDEN_IT_UNSET_PG_URL";

/// `warden` in an environment without those secrets.
fn warden() -> Command {
    let mut c = warden_cmd();
    c.env_remove(UPSTREAM_VAR)
        .env_remove(HASH_VAR)
        .env_remove(PG_VAR);
    c
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run warden");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn sighup_during_a_stream_is_logged_and_ignored() {
    let ServeSetup {
        mock: _mock,
        dir: _dir,
        config,
    } = ServeSetup::new(
        "sqlite = \"w.db\"",
        "[policy.groups.users]\nmodels = [\"*\"]",
    )
    .await;
    let key = create_key(&config, "hana", &[], &[]);
    let mut served = Served::start(&config);
    let url = format!("http://{}/v1/chat/completions", served.addr);
    let http = http();

    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    let mut stream = http
        .post(&url)
        .bearer_auth(&key)
        .header("x-mock-chunk-delay-ms", "150")
        .json(&body)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let mut text =
        String::from_utf8_lossy(&stream.chunk().await.expect("chunk").expect("first")).into_owned();
    assert!(!text.contains("[DONE]"), "still in flight: {text}");

    // The answer is in flight: hang up on the server.
    let pid = served.child.id().to_string();
    let sent = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill -HUP {pid}");
    while let Some(chunk) = stream.chunk().await.expect("the stream goes on") {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(
        served.child.try_wait().expect("wait").is_none(),
        "warden serve died of SIGHUP"
    );

    // It said so, and keeps serving.
    let logged = std::iter::from_fn(|| {
        served
            .lines
            .recv_timeout(std::time::Duration::from_secs(10))
            .ok()
    })
    .any(|l| l.contains("SIGHUP received; config reload is not supported yet, ignoring"));
    assert!(logged, "no SIGHUP line in the log");
    let later = http
        .post(&url)
        .bearer_auth(&key)
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("later");
    assert_eq!(later.status(), 200);
    let status = served.terminate();
    assert!(status.success(), "exit status {status}");
}

/// A config naming secrets this environment does not have: the upstream's
/// key, the hash key of a masking profile.
fn without_secrets(dir: &std::path::Path, store: &str) -> std::path::PathBuf {
    let path = dir.join("prod.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[store]
{store}

[[connection]]
name = "up"
base_url = "http://127.0.0.1:1/v1"
api_key_env = "{UPSTREAM_VAR}"
models = ["*"]

[pii]
hash_key_env = "{HASH_VAR}"

[pii.profiles.p]
EMAIL = "hash"

[[pii.apply]]
group = "eng"
profile = "p"

[policy.groups.eng]
models = ["gpt-4o*"]
"#
        ),
    )
    .expect("write");
    path
}

#[test]
fn config_check_warns_about_missing_secrets_and_strict_fails_naming_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = without_secrets(dir.path(), "sqlite = \"w.db\"");

    let (ok, out, err) = run(warden().args(["config", "check"]).arg(&config));
    assert!(ok, "{err}");
    assert!(out.contains("prod.toml: ok"), "{out}");
    for (key, var) in [
        ("connection[0].api_key_env", UPSTREAM_VAR),
        ("pii.hash_key_env", HASH_VAR),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains("warning") && l.contains(key) && l.contains(var)),
            "{key}: {err}"
        );
    }

    let (ok, _, err) = run(warden().args(["config", "check", "--strict"]).arg(&config));
    assert!(!ok, "--strict fails on a missing secret");
    assert!(
        err.contains("error")
            && err.contains("connection[0].api_key_env")
            && err.contains(UPSTREAM_VAR),
        "{err}"
    );

    // A secret that is set but unfit is a mistake, not a missing secret.
    let (ok, _, err) = run(warden()
        .args(["config", "check"])
        .arg(&config)
        .env(HASH_VAR, "short"));
    assert!(!ok && err.contains("at least 16 characters"), "{err}");
}

#[test]
fn policy_test_and_keys_work_without_production_secrets_and_serve_refuses() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = without_secrets(dir.path(), "sqlite = \"w.db\"");

    let (ok, out, err) = run(warden()
        .args([
            "policy", "test", "--sub", "ann", "--groups", "eng", "--model", "gpt-4o",
        ])
        .arg("--config")
        .arg(&config));
    assert!(ok, "{err}");
    assert!(
        out.starts_with("ALLOW") && out.contains("request p"),
        "{out}"
    );
    assert!(err.contains(UPSTREAM_VAR), "still warned: {err}");
    let (ok, _, err) = run(warden()
        .args([
            "policy", "test", "--strict", "--sub", "ann", "--model", "gpt-4o",
        ])
        .arg("--config")
        .arg(&config));
    assert!(!ok && err.contains(UPSTREAM_VAR), "{err}");

    let (ok, out, err) = run(warden()
        .args(["keys", "create", "--owner", "ann", "--json", "--config"])
        .arg(&config));
    assert!(ok, "{err}");
    let made: Value = serde_json::from_str(&out).expect("json");
    assert!(made["key"].as_str().is_some_and(|k| k.starts_with("wdn_")));
    let (ok, out, err) = run(warden().args(["keys", "list", "--config"]).arg(&config));
    assert!(ok && out.contains("ann"), "{out}{err}");

    // `serve` needs every secret, and says which is missing.
    let (ok, _, err) = run(warden()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config));
    assert!(!ok, "serve started without its upstream key");
    assert!(
        err.contains("connection[0].api_key_env") && err.contains(UPSTREAM_VAR),
        "{err}"
    );

    // With PostgreSQL as the store, its URL is the one secret `keys`
    // cannot do without: no falling back to a local SQLite file.
    let pg = dir.path().join("pg");
    std::fs::create_dir(&pg).expect("dir");
    let config = without_secrets(&pg, &format!("postgres_url_env = \"{PG_VAR}\""));
    let (ok, _, err) = run(warden().args(["keys", "list", "--config"]).arg(&config));
    assert!(!ok, "keys ran without its store");
    assert!(
        err.contains("store.postgres_url_env") && err.contains(PG_VAR),
        "{err}"
    );
    assert!(!pg.join("warden.db").exists(), "fell back to SQLite");
    let (ok, _, err) = run(warden().args(["config", "check"]).arg(&config));
    assert!(ok && err.contains(PG_VAR), "{err}");
}

const PLANNED: &str = r#"
[[connection]]
name = "up"
base_url = "http://127.0.0.1:1/v1"
models = ["*"]

[prices."gpt-4o"]
input = 2.5
output = 10.0

[policy.groups.eng]
models = ["*"]

[policy]
cedar = '''
@id("contractors")
@mask("strict")
@content_rules("no-tools")
@approval("review")
permit (principal in Warden::Group::"contractors", action, resource);
'''

[pii.profiles.standard]
EMAIL = "redact"

[pii.profiles.strict]
EMAIL = "redact"
PHONE_NUMBER = "redact"

[pii.profiles.answers]
SECRET = "redact"

[[pii.apply]]
group = "eng"
profile = "standard"
output_profile = "answers"

[[content.rule]]
id = "no-codenames"
deny_terms = ["falcon"]

[[content.rule]]
id = "no-tools"
groups = []
deny_tools = ["code_interpreter"]
max_output_tokens = 100

[approvals]
approver_groups = ["security"]

[[approvals.rule]]
id = "review"
policy_only = true

[[approvals.rule]]
id = "big-spend"
groups = ["eng"]
min_cost_usd = 1.0

[[limits.rule]]
name = "per-person"
scope = "principal"
requests_per_minute = 60

[[limits.rule]]
name = "eng-daily"
scope = "group"
group = "eng"
usd_per_day = 5.0

[[limits.rule]]
name = "keys-only"
scope = "key"
requests_per_minute = 5
"#;

#[test]
fn policy_test_shows_what_every_later_stage_does_to_the_call() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("plan.toml");
    std::fs::write(&config, PLANNED).expect("write");
    let test = |args: &[&str]| {
        let (ok, out, err) = run(warden()
            .args(["policy", "test", "--config"])
            .arg(&config)
            .args(args));
        assert!(ok, "{err}");
        out
    };
    let json = |args: &[&str]| -> Value {
        serde_json::from_str(&test(&[args, &["--json"]].concat())).expect("json")
    };
    let ids = |v: &Value, key: &str, id: &str| -> Vec<String> {
        v[key]
            .as_array()
            .expect(key)
            .iter()
            .map(|r| r[id].as_str().unwrap_or_default().to_owned())
            .collect()
    };

    // An engineer: group rules and profiles; approval by estimated cost;
    // the principal's and the group's limits.
    let eng = ["--sub", "ann", "--groups", "eng", "--model", "gpt-4o"];
    let v = json(&eng);
    assert_eq!(v["decision"], "allow");
    let then = &v["then"];
    assert_eq!(ids(then, "content_rules", "id"), ["no-codenames"]);
    assert_eq!(
        (&then["mask"], &then["mask_output"]),
        (&json!("standard"), &json!("answers"))
    );
    assert_eq!(then["approval"][0]["rule"], Value::Null, "{then}");
    assert_eq!(then["approval"][1]["from_cost_usd"], 1.0, "{then}");
    assert_eq!(then["approval"][1]["rule"]["id"], "big-spend", "{then}");
    assert_eq!(ids(then, "limits", "rule"), ["per-person", "eng-daily"]);
    assert_eq!(then["price_unknown"], false);
    let text = test(&eng);
    for line in [
        "content:    no-codenames",
        "masking:    request standard, answer answers",
        "under $1.00: not required; from $1.00: required by rule big-spend",
        "limits:     per-person (per principal: 60 requests/min), eng-daily (per group: $5.00/day)",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }

    // A model without a price: its cost is unknown, so the cost rule asks,
    // and the spend budget refuses it.
    let v = json(&["--sub", "ann", "--groups", "eng", "--model", "o3"]);
    assert_eq!(v["then"]["approval"][0]["rule"]["id"], "big-spend");
    assert_eq!(v["then"]["cost_estimated"], false);
    assert_eq!(v["then"]["price_unknown"], true);

    // A contractor: what the deciding permit attaches.
    let v = json(&[
        "--sub",
        "cat",
        "--groups",
        "contractors",
        "--model",
        "gpt-4o",
        "--kind",
        "key",
    ]);
    let then = &v["then"];
    assert_eq!(
        ids(then, "content_rules", "id"),
        ["no-codenames", "no-tools"]
    );
    assert_eq!(
        (&then["mask"], &then["mask_output"]),
        (&json!("strict"), &Value::Null)
    );
    assert_eq!(then["approval"].as_array().map(Vec::len), Some(1), "{then}");
    assert_eq!(then["approval"][0]["rule"]["id"], "review");
    assert_eq!(
        then["approval"][0]["rule"]["approver_groups"],
        json!(["security"])
    );
    assert_eq!(ids(then, "limits", "rule"), ["per-person", "keys-only"]);
    assert!(
        then["content_verdict"]
            .as_str()
            .is_some_and(|v| v.contains("`no-tools` sets 100")),
        "{then}"
    );
    // The content rules' own check: the tool however it is spelled, the cap.
    let contractor = [
        "--sub",
        "cat",
        "--groups",
        "contractors",
        "--model",
        "gpt-4o",
    ];
    let v = json(&[&contractor[..], &["--tool", "Code_Interpreter"]].concat());
    assert!(
        v["then"]["content_verdict"]
            .as_str()
            .is_some_and(|v| v.starts_with("refused") && v.contains("no-tools")),
        "{v}"
    );
    let text = test(&[&contractor[..], &["--max-tokens", "500"]].concat());
    assert!(
        text.contains("refused: content rule `no-tools` allows at most 100 output tokens"),
        "{text}"
    );

    // Refused by Cedar: nothing else happens.
    let v = json(&["--sub", "dan", "--groups", "nobody", "--model", "gpt-4o"]);
    assert_eq!((&v["decision"], &v["then"]), (&json!("deny"), &Value::Null));
    let text = test(&["--sub", "dan", "--groups", "nobody", "--model", "gpt-4o"]);
    assert!(
        text.starts_with("DENY") && !text.contains("approval:"),
        "{text}"
    );
}
