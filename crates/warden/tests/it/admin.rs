//! The admin API end to end: members of `[admin] groups` read the audit
//! trail as JSON (records, events, sessions, verification, head), everyone
//! else is refused as on the data path, every call (refusals too) is itself
//! an `admin.read` event in the trail, and without `[admin]` there is no
//! admin API at all.

use serde_json::{Value, json};

use crate::support::*;

const ADMIN: &str = "[admin]\ngroups = [\"security\"]\n";

/// A world whose IdP has an admin: alice (eng) and bob (interns) call
/// models, sec (security) reads the trail.
async fn world(extra: &str) -> World {
    let clients = json!([
        {"client_id": "alice", "groups": ["eng"]},
        {"client_id": "bob", "groups": ["interns"]},
        {"client_id": "sec", "groups": ["security"]},
    ]);
    World::start_with_clients(extra, POLICY, Some(clients)).await
}

async fn get(w: &World, token: Option<&str>, path: &str) -> reqwest::Response {
    let mut request = w.http.get(w.gw.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

/// GETs `path` as `token`, expecting 200 and JSON.
async fn read(w: &World, token: &str, path: &str) -> Value {
    let resp = get(w, Some(token), path).await;
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
}

async fn chat_in(w: &World, token: &str, model: &str, session: Option<&str>) {
    let mut request = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(token)
        .json(&chat_body(model));
    if let Some(s) = session {
        request = request.header("x-warden-session", s);
    }
    let _ = request.send().await.expect("chat").text().await;
}

async fn records_where(w: &World, token: &str, query: &str) -> Vec<Value> {
    data(&read(w, token, &format!("/admin/v1/records?{query}")).await).clone()
}

fn data(v: &Value) -> &Vec<Value> {
    v["data"].as_array().expect("data array")
}

#[tokio::test]
async fn an_admin_reads_records_events_and_sessions() {
    let w = world(ADMIN).await;
    let (alice, bob, sec) = (
        w.token("alice").await,
        w.token("bob").await,
        w.token("sec").await,
    );
    for _ in 0..3 {
        chat_in(&w, &alice, "gpt-4o", Some("run-1")).await;
    }
    chat_in(&w, &alice, "gpt-4o", None).await;
    chat_in(&w, &bob, "gpt-4o", None).await; // interns: refused
    let records = w.gw.wait_records(5).await.expect("records");

    // Records, newest first, filtered.
    let all = read(&w, &sec, "/admin/v1/records").await;
    let all = data(&all);
    assert_eq!(all.len(), 5);
    let ids: Vec<&str> = all
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .collect();
    let oldest_first: Vec<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, oldest_first.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(all[0]["subject"], "bob");
    assert_eq!(all[0]["status"], 403);
    assert_eq!(all[0]["decision"], "deny");
    let alices = records_where(&w, &sec, "subject=alice").await;
    assert_eq!(alices.len(), 4);
    assert!(alices.iter().all(|r| r["subject"] == "alice"));
    assert_eq!(records_where(&w, &sec, "session=run-1").await.len(), 3);
    assert_eq!(records_where(&w, &sec, "limit=2").await.len(), 2);
    let both = records_where(&w, &sec, "subject=alice&session=run-1&limit=2").await;
    assert_eq!(both.len(), 2);
    let future = warden_core::now_ms() + 3_600_000;
    assert!(
        records_where(&w, &sec, &format!("since_ms={future}"))
            .await
            .is_empty()
    );

    // Sessions, and one session's calls oldest first.
    let sessions = read(&w, &sec, "/admin/v1/sessions").await;
    let run = data(&sessions)
        .iter()
        .find(|s| s["id"] == "run-1")
        .expect("run-1 listed");
    assert_eq!(run["calls"], 3);
    assert_eq!(run["subject"], "alice");
    let session = read(&w, &sec, "/admin/v1/sessions/run-1").await;
    assert_eq!(session["id"], "run-1");
    assert_eq!(session["truncated"], false);
    let calls: Vec<&str> = session["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .collect();
    assert_eq!(calls, oldest_first[..3]);
    expect_error(
        get(&w, Some(&sec), "/admin/v1/sessions/no-such-run").await,
        404,
        "session_not_found",
    )
    .await;

    // The chain's head and the OpenAPI document.
    let head = read(&w, &sec, "/admin/v1/audit/head").await;
    assert!(head["seq"].as_i64().is_some_and(|s| s > 5), "{head}");
    assert_eq!(head["hash"].as_str().map(str::len), Some(64));
    assert_eq!(head["root"].as_str().map(str::len), Some(64));
    assert_eq!(head["tree_size"], head["seq"]);
    let doc = read(&w, &sec, "/admin/v1/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/admin/v1/sessions/{id}"]["get"].is_object());

    // Every read above is an `admin.read` event in the trail, newest first,
    // naming who read what, from where.
    let events = read(&w, &sec, "/admin/v1/events?action_prefix=admin.").await;
    let events = data(&events);
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert!(
        seqs.windows(2).all(|p| p[0] > p[1]),
        "newest first: {seqs:?}"
    );
    let targets: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event"]["target"].as_str())
        .collect();
    assert_eq!(targets.len(), 11, "{targets:?}");
    assert_eq!(targets[0], "/admin/v1/openapi.json");
    assert_eq!(targets[10], "/admin/v1/records");
    let newest = &events[0]["event"];
    assert_eq!(newest["action"], "admin.read");
    assert_eq!(newest["status"], "ok");
    assert_eq!(newest["actor"]["subject"], "sec");
    assert_eq!(newest["actor"]["issuer"], w.idp.issuer.as_str());
    assert_eq!(newest["actor"]["groups"], json!(["security"]));
    assert!(
        newest["actor"]["client_addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{newest}"
    );
    let missing = events
        .iter()
        .find(|e| e["event"]["target"] == "/admin/v1/sessions/no-such-run")
        .expect("the 404 is audited");
    assert_eq!(missing["event"]["status"], "session_not_found");
    assert!(
        events
            .iter()
            .any(|e| e["event"]["detail"]["query"] == "subject=alice&session=run-1&limit=2"),
        "the query is recorded"
    );
    let key_events = read(&w, &sec, "/admin/v1/events?action_prefix=key.").await;
    assert!(data(&key_events).is_empty());
    let limited = read(&w, &sec, "/admin/v1/events?limit=1").await;
    assert_eq!(data(&limited).len(), 1);
    assert_eq!(
        data(&limited)[0]["event"]["target"],
        "/admin/v1/events",
        "the events read before this one"
    );

    // Admin reads are audit events, not request records.
    assert_eq!(w.gw.records().await.expect("records").len(), 5);
}

#[tokio::test]
async fn non_admins_are_refused_and_the_refusals_are_audited() {
    let w = world(ADMIN).await;
    let (alice, sec) = (w.token("alice").await, w.token("sec").await);
    expect_error(
        get(&w, Some(&alice), "/admin/v1/records").await,
        403,
        "admin_forbidden",
    )
    .await;
    // A non-admin learns nothing about which admin paths exist.
    expect_error(
        get(&w, Some(&alice), "/admin/v1/no-such-thing").await,
        403,
        "admin_forbidden",
    )
    .await;
    let resp = get(&w, None, "/admin/v1/audit/verify").await;
    assert!(resp.headers().contains_key("www-authenticate"));
    expect_error(resp, 401, "missing_token").await;
    expect_error(
        get(&w, Some("not-a-token"), "/admin/v1/records").await,
        401,
        "invalid_token",
    )
    .await;
    // An admin gets a 404 for what does not exist, and for other methods.
    expect_error(
        get(&w, Some(&sec), "/admin/v1/no-such-thing").await,
        404,
        "unknown_endpoint",
    )
    .await;
    let post = w
        .http
        .post(w.gw.url("/admin/v1/records"))
        .bearer_auth(&sec)
        .send()
        .await
        .expect("post");
    expect_error(post, 404, "unknown_endpoint").await;

    let events = read(&w, &sec, "/admin/v1/events?action_prefix=admin.read").await;
    let seen: Vec<(String, String, String)> = data(&events)
        .iter()
        .rev()
        .map(|e| {
            let e = &e["event"];
            (
                e["actor"]["subject"].as_str().unwrap_or("-").to_owned(),
                e["target"].as_str().unwrap_or("-").to_owned(),
                e["status"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("alice", "/admin/v1/records", "admin_forbidden"),
        ("alice", "/admin/v1/no-such-thing", "admin_forbidden"),
        ("-", "/admin/v1/audit/verify", "missing_token"),
        ("-", "/admin/v1/records", "invalid_token"),
        ("sec", "/admin/v1/no-such-thing", "unknown_endpoint"),
        ("sec", "/admin/v1/records", "unknown_endpoint"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(seen, expected);
    let post = data(&events)
        .iter()
        .find(|e| e["event"]["detail"]["method"] == "POST");
    assert!(post.is_some(), "a method other than GET is recorded");
    assert!(
        data(&events)
            .iter()
            .all(|e| e["event"]["actor"]["client_addr"].is_string()),
        "every call names where it came from"
    );
}

#[tokio::test]
async fn without_an_admin_section_the_admin_api_is_404_for_everyone() {
    let w = world("").await;
    let sec = w.token("sec").await;
    for path in [
        "/admin/v1/records",
        "/admin/v1/events",
        "/admin/v1/sessions",
        "/admin/v1/sessions/x",
        "/admin/v1/audit/verify",
        "/admin/v1/audit/head",
        "/admin/v1/openapi.json",
    ] {
        expect_error(get(&w, Some(&sec), path).await, 404, "unknown_endpoint").await;
        expect_error(get(&w, None, path).await, 404, "unknown_endpoint").await;
    }
}

#[tokio::test]
async fn verify_is_intact_then_names_the_edited_row() {
    let w = world(ADMIN).await;
    let (alice, sec) = (w.token("alice").await, w.token("sec").await);
    for _ in 0..3 {
        chat_in(&w, &alice, "gpt-4o", None).await;
    }
    w.gw.wait_records(3).await.expect("records");

    let v = read(&w, &sec, "/admin/v1/audit/verify").await;
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["events"], 3);
    assert_eq!(v["unchained"], 0);
    assert_eq!(v["head_seq"], 3);
    assert_eq!(v["head_hash"].as_str().map(str::len), Some(64));
    // The verification's own event is entry 4; the head read sees it.
    let head = read(&w, &sec, "/admin/v1/audit/head").await;
    assert_eq!(head["seq"], 4);

    // Someone with write access to the file rewrites who made call 2.
    let db = w.gw.db_path();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .expect("open");
    sqlx::query("UPDATE request_records SET subject = 'mallory' WHERE seq = 2")
        .execute(&pool)
        .await
        .expect("tamper");
    pool.close().await;

    let v = read(&w, &sec, "/admin/v1/audit/verify").await;
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["seq"], 2);
    assert!(
        v["reason"].as_str().is_some_and(|r| r.contains("edited")),
        "{v}"
    );
}

#[tokio::test]
async fn bad_query_parameters_are_400_naming_the_param() {
    let w = world(ADMIN).await;
    let sec = w.token("sec").await;
    let cases = [
        ("/admin/v1/records?limit=0", "limit"),
        ("/admin/v1/records?limit=1001", "limit"),
        ("/admin/v1/records?limit=many", "limit"),
        ("/admin/v1/records?since_ms=-1", "since_ms"),
        ("/admin/v1/records?since_ms=yesterday", "since_ms"),
        ("/admin/v1/records?subject=", "subject"),
        ("/admin/v1/records?subjet=alice", "subjet"),
        ("/admin/v1/records?limit=5&limit=6", "limit"),
        ("/admin/v1/events?action_prefix=", "action_prefix"),
        ("/admin/v1/events?session=", "session"),
        ("/admin/v1/events?trace=x", "trace"),
        ("/admin/v1/sessions?since_ms=soon", "since_ms"),
        ("/admin/v1/sessions/run-1?verbose=1", "verbose"),
        ("/admin/v1/audit/verify?checkpoint=1", "checkpoint"),
        ("/admin/v1/audit/head?x=1", "x"),
    ];
    for (path, param) in cases {
        let body = expect_error(
            get(&w, Some(&sec), path).await,
            400,
            "invalid_request_error",
        )
        .await;
        assert_eq!(body["error"]["param"], param, "{path}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{path}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("`{param}`"))),
            "{path}: {body}"
        );
    }
    // Each refusal is audited with its code.
    let events = read(
        &w,
        &sec,
        &format!(
            "/admin/v1/events?action_prefix=admin.read&limit={}",
            cases.len()
        ),
    )
    .await;
    assert!(
        data(&events)
            .iter()
            .all(|e| e["event"]["status"] == "invalid_request_error"),
        "{events}"
    );
}

/// `warden serve` with `[admin] listen`: the admin API on its own listener
/// (for OIDC admins and Warden keys in an admin group), not on the main one;
/// both stop on SIGTERM.
#[tokio::test]
async fn a_separate_admin_listener_serves_the_api_and_the_main_one_does_not() {
    let mock = MockUpstream::start().await.expect("mock");
    let idp = OidcProvider::start_with_clients(Some(json!([
        {"client_id": "alice", "groups": ["eng"]},
        {"client_id": "sec", "groups": ["security"]},
    ])))
    .await
    .expect("OIDC provider");
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nsqlite = \"w.db\"\n\n{}\n{}\n{POLICY}\n[admin]\ngroups = [\"security\"]\nlisten = \"127.0.0.1:0\"\n",
            idp.issuer_toml(),
            connection_toml(&mock.base_url())
        ),
    )
    .expect("write");
    let key = create_key(&config, "auditor", &["--group", "security"], &[]);

    let mut served = Served::start(&config);
    let admin_addr = served
        .banner
        .iter()
        .find_map(|l| l.split("serving the admin API at http://").nth(1))
        .and_then(|rest| rest.split("/admin/v1").next())
        .unwrap_or_else(|| panic!("no admin line in {:#?}", served.banner))
        .to_owned();
    assert_ne!(admin_addr, served.addr);
    let (http, sec, alice) = (
        http(),
        idp.token("sec").await.expect("token"),
        idp.token("alice").await.expect("token"),
    );
    let at = |addr: &str, path: &str, token: &str| {
        http.get(format!("http://{addr}{path}"))
            .bearer_auth(token)
            .send()
    };

    let resp = at(&admin_addr, "/admin/v1/events", &sec)
        .await
        .expect("admin");
    assert_eq!(resp.status(), 200);
    let events: Value = resp.json().await.expect("json");
    assert!(
        data(&events)
            .iter()
            .any(|e| e["event"]["action"] == "server.start"),
        "{events}"
    );
    let resp = at(&admin_addr, "/admin/v1/records", &key)
        .await
        .expect("admin");
    assert_eq!(resp.status(), 200, "a Warden key in an admin group");
    expect_error(
        at(&admin_addr, "/admin/v1/records", &alice)
            .await
            .expect("admin"),
        403,
        "admin_forbidden",
    )
    .await;
    // The main listener does not serve it; the admin listener serves nothing else.
    expect_error(
        at(&served.addr, "/admin/v1/records", &sec)
            .await
            .expect("main"),
        404,
        "unknown_endpoint",
    )
    .await;
    expect_error(
        at(&admin_addr, "/v1/models", &sec).await.expect("admin"),
        404,
        "unknown_endpoint",
    )
    .await;
    let chat = http
        .post(format!("http://{}/v1/chat/completions", served.addr))
        .bearer_auth(&alice)
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("chat");
    assert_eq!(chat.status(), 200);

    let status = served.terminate();
    assert!(status.success(), "exit status {status}");
    let store = warden_store::SqliteStore::open(&dir.path().join("w.db"))
        .await
        .expect("db");
    let reads = warden_store::RecordStore::list_events(
        &store,
        &warden_store::EventFilter {
            action_prefix: Some("admin.read".into()),
            ..warden_store::EventFilter::default()
        },
    )
    .await
    .expect("events");
    assert_eq!(
        reads.len(),
        3,
        "every admin call on the admin listener is audited"
    );
    // Both listeners drained before the server's last event.
    let last = warden_store::RecordStore::list_events(
        &store,
        &warden_store::EventFilter {
            limit: Some(1),
            ..warden_store::EventFilter::default()
        },
    )
    .await
    .expect("events");
    assert_eq!(
        last.first().map(|(_, e)| e.action.as_str()),
        Some("server.stop")
    );
}
