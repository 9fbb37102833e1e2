//! Stored objects are their creator's: files, uploads, vector stores,
//! batches and stored chat completions, through one mechanism. Another
//! identity gets 404 for every way of reaching them (path, body reference,
//! list), an id Warden never saw is refused to everyone, and an objects
//! admin sees all, marked in the record.

use serde_json::{Value, json};

use crate::support::*;

const POLICY_OBJECTS: &str = r#"
[policy.groups.eng]
models = ["gpt-4o*"]
endpoints = ["*", "batches"]
"#;

struct Caller<'a> {
    w: &'a World,
    token: String,
}

impl Caller<'_> {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .w
            .http
            .request(method, self.w.gw.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn upload(&self) -> String {
        self.upload_named("notes.txt", "text/plain", b"hello".to_vec(), "assistants")
            .await
    }

    /// Uploads one file and returns its id (the upload must succeed).
    async fn upload_named(&self, name: &str, ct: &str, data: Vec<u8>, purpose: &str) -> String {
        let resp = upload_file(self.w, &self.token, name, ct, data, purpose)
            .await
            .expect("send");
        let status = resp.status();
        let v: Value = resp.json().await.expect("json");
        assert_eq!(status, 200, "{v}");
        v["id"].as_str().expect("file id").to_owned()
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn world() -> World {
    let clients = json!([
        {"client_id": "alice", "groups": ["eng"]},
        {"client_id": "dave", "groups": ["eng"]},
        {"client_id": "auditor", "groups": ["eng", "security"]},
    ]);
    World::start_with_clients(
        "[objects]\nadmin_groups = [\"security\"]\n",
        POLICY_OBJECTS,
        Some(clients),
    )
    .await
}

#[tokio::test]
async fn another_identity_cannot_reach_an_object_by_any_path() {
    let w = world().await;
    let alice = Caller {
        w: &w,
        token: w.token("alice").await,
    };
    let dave = Caller {
        w: &w,
        token: w.token("dave").await,
    };
    let file = alice
        .upload_jsonl(&[line(
            1,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
        )])
        .await;
    let (s, vs) = alice
        .post(
            "/v1/vector_stores",
            json!({"name": "kb", "file_ids": [file]}),
        )
        .await;
    assert_eq!(s, 200, "{vs}");
    let vs = vs["id"].as_str().expect("vs id").to_owned();
    let (s, batch) = alice
        .post(
            "/v1/batches",
            json!({"input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
        )
        .await;
    assert_eq!(s, 200, "{batch}");
    let batch = batch["id"].as_str().expect("batch id").to_owned();
    let mut stored = chat_body("gpt-4o");
    stored["store"] = json!(true);
    let (s, completion) = alice.post("/v1/chat/completions", stored).await;
    assert_eq!(s, 200);
    let completion = completion["id"].as_str().expect("completion id").to_owned();

    // The creator reaches each of them.
    for path in [
        format!("/v1/files/{file}"),
        format!("/v1/files/{file}/content"),
        format!("/v1/vector_stores/{vs}"),
        format!("/v1/batches/{batch}"),
        format!("/v1/chat/completions/{completion}"),
    ] {
        assert_eq!(alice.get(&path).await.0, 200, "{path}");
    }

    // Another identity: 404 by path, whatever the verb...
    let dave_file = dave.upload().await;
    for (method, path, code) in [
        ("GET", format!("/v1/files/{file}"), "file_not_found"),
        ("GET", format!("/v1/files/{file}/content"), "file_not_found"),
        ("DELETE", format!("/v1/files/{file}"), "file_not_found"),
        (
            "GET",
            format!("/v1/vector_stores/{vs}"),
            "vector_store_not_found",
        ),
        (
            "GET",
            format!("/v1/vector_stores/{vs}/files"),
            "vector_store_not_found",
        ),
        (
            "DELETE",
            format!("/v1/vector_stores/{vs}"),
            "vector_store_not_found",
        ),
        ("GET", format!("/v1/batches/{batch}"), "batch_not_found"),
        (
            "POST",
            format!("/v1/batches/{batch}/cancel"),
            "batch_not_found",
        ),
        (
            "GET",
            format!("/v1/chat/completions/{completion}"),
            "chat_completion_not_found",
        ),
        (
            "GET",
            format!("/v1/chat/completions/{completion}/messages"),
            "chat_completion_not_found",
        ),
        (
            "DELETE",
            format!("/v1/chat/completions/{completion}"),
            "chat_completion_not_found",
        ),
    ] {
        let m: reqwest::Method = method.parse().expect("method");
        let body = (m == reqwest::Method::POST).then(|| json!({}));
        let (status, err) = dave.send(m, &path, body).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (404, Some(code)),
            "{method} {path}: {err}"
        );
    }
    // ... by reference in a body...
    for (path, body, code) in [
        (
            "/v1/batches",
            json!({"input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
            "file_not_found",
        ),
        (
            "/v1/vector_stores",
            json!({"file_ids": [dave_file, file]}),
            "file_not_found",
        ),
        (
            "/v1/vector_stores/x/files",
            json!({"file_id": file}),
            "vector_store_not_found",
        ),
        (
            "/v1/responses",
            json!({"model": "gpt-4o", "input": "hi", "tools": [{"type": "file_search", "vector_store_ids": [vs]}]}),
            "vector_store_not_found",
        ),
        (
            "/v1/responses",
            json!({"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": file}]}]}),
            "file_not_found",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": file}}]}]}),
            "file_not_found",
        ),
    ] {
        let (status, err) = dave.post(path, body).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (404, Some(code)),
            "{path}: {err}"
        );
    }
    // ... with the key spelled by a JSON escape too.
    let escaped = format!(
        r#"{{"input_file\u005fid":"{file}","endpoint":"/v1/chat/completions","completion_window":"24h"}}"#
    );
    let resp = w
        .http
        .post(w.gw.url("/v1/batches"))
        .bearer_auth(&dave.token)
        .header("content-type", "application/json")
        .body(escaped)
        .send()
        .await
        .expect("send");
    expect_error(resp, 404, "file_not_found").await;
    // ... and lists show only one's own.
    let (_, files) = dave.get("/v1/files").await;
    assert_eq!(ids(&files), std::slice::from_ref(&dave_file));
    assert_eq!(files["first_id"], json!(dave_file));
    assert_eq!(files["last_id"], json!(dave_file));
    for path in ["/v1/vector_stores", "/v1/batches", "/v1/chat/completions"] {
        let (s, list) = dave.get(path).await;
        assert_eq!(s, 200);
        assert!(ids(&list).is_empty(), "{path}: {list}");
    }
    // alice's: her upload, and her batch's output file (she read the batch).
    let (_, files) = alice.get("/v1/files").await;
    let mine = ids(&files);
    assert!(
        mine.len() == 2 && mine.contains(&file) && mine.iter().any(|f| f.starts_with("file-out")),
        "{mine:?}"
    );

    // The batch's output file, made by the upstream, is alice's once she
    // has read her batch; never dave's.
    let (_, read) = alice.get(&format!("/v1/batches/{batch}")).await;
    let out = read["output_file_id"]
        .as_str()
        .expect("output file")
        .to_owned();
    assert_eq!(alice.get(&format!("/v1/files/{out}/content")).await.0, 200);
    let (s, err) = dave.get(&format!("/v1/files/{out}/content")).await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (404, Some("file_not_found"))
    );

    // Nothing of alice's was touched upstream by dave's calls.
    let upstream: Vec<_> = w
        .mock
        .requests()
        .into_iter()
        .filter(|r| {
            r.header("authorization").is_some() && r.path.contains(&file) && r.method != "GET"
        })
        .collect();
    assert!(
        upstream.is_empty(),
        "{:?}",
        upstream.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn uploads_unknown_ids_and_the_objects_admin() {
    let w = world().await;
    let alice = Caller {
        w: &w,
        token: w.token("alice").await,
    };
    let dave = Caller {
        w: &w,
        token: w.token("dave").await,
    };
    let auditor = Caller {
        w: &w,
        token: w.token("auditor").await,
    };
    // An upload, and the file its completion creates, are the uploader's.
    let (s, up) = alice
        .post("/v1/uploads", json!({"filename": "big.jsonl", "purpose": "batch", "bytes": 5, "mime_type": "text/plain"}))
        .await;
    assert_eq!(s, 200, "{up}");
    let up = up["id"].as_str().expect("upload id").to_owned();
    let (s, err) = dave
        .post(
            &format!("/v1/uploads/{up}/complete"),
            json!({"part_ids": []}),
        )
        .await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (404, Some("upload_not_found"))
    );
    let (s, done) = alice
        .post(
            &format!("/v1/uploads/{up}/complete"),
            json!({"part_ids": []}),
        )
        .await;
    assert_eq!(s, 200, "{done}");
    let file = done["file"]["id"].as_str().expect("file id").to_owned();
    assert_eq!(alice.get(&format!("/v1/files/{file}")).await.0, 200);
    assert_eq!(dave.get(&format!("/v1/files/{file}")).await.0, 404);

    // An object Warden never saw created is nobody's: refused to all.
    let stray = file_at_upstream(&w, "x").await;
    let stray = stray.as_str();
    assert_eq!(alice.get(&format!("/v1/files/{stray}")).await.0, 404);
    assert!(!ids(&alice.get("/v1/files").await.1).contains(&stray.to_owned()));

    // The objects admin sees everything, and the record says so.
    let (s, all) = auditor.get("/v1/files").await;
    assert_eq!(s, 200);
    assert!(
        ids(&all).contains(&file) && ids(&all).contains(&stray.to_owned()),
        "{all}"
    );
    assert_eq!(auditor.get(&format!("/v1/files/{file}")).await.0, 200);
    let records = w.gw.wait_records(8).await.expect("records");
    let admin_reads = records
        .iter()
        .filter(|r| r.policy_ids.iter().any(|p| p == "objects.admin"))
        .count();
    assert_eq!(admin_reads, 2, "the list and the read");
}

impl Caller<'_> {
    async fn upload_jsonl(&self, lines: &[Value]) -> String {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        self.upload_named(
            "input.jsonl",
            "application/jsonl",
            text.into_bytes(),
            "batch",
        )
        .await
    }
}

fn line(n: usize, url: &str, body: Value) -> Value {
    json!({"custom_id": format!("req-{n}"), "method": "POST", "url": url, "body": body})
}

/// A batch's input file is checked line by line like the calls it will
/// make: a forbidden model, a denied term, a denied tool or a missing cap
/// on any line refuses the batch, naming the line.
#[tokio::test]
async fn a_batch_input_file_is_checked_like_its_calls() {
    let clients = json!([{"client_id": "alice", "groups": ["eng"]}]);
    let w = World::start_with_clients(
        r#"
[[content.rule]]
id = "rules"
deny_terms = ["Project Falcon"]
deny_tools = ["code_interpreter"]
max_output_tokens = 500
"#,
        POLICY_OBJECTS,
        Some(clients),
    )
    .await;
    let alice = Caller {
        w: &w,
        token: w.token("alice").await,
    };
    let chat = |text: &str| {
        json!({"model": "gpt-4o", "max_tokens": 100,
        "messages": [{"role": "user", "content": text}]})
    };
    let good = line(1, "/v1/chat/completions", chat("hello"));
    let create = |file: String| {
        let alice = &alice;
        async move {
            alice
                .post(
                    "/v1/batches",
                    json!({"input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
                )
                .await
        }
    };
    let ok = alice
        .upload_jsonl(&[
            good.clone(),
            line(
                2,
                "/v1/responses",
                json!({"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": 50}),
            ),
        ])
        .await;
    let (s, v) = create(ok).await;
    assert_eq!(s, 200, "{v}");
    for (bad, want) in [
        (
            line(
                2,
                "/v1/chat/completions",
                json!({"model": "o3-pro", "max_tokens": 10, "messages": []}),
            ),
            "model_not_allowed",
        ),
        (
            line(
                2,
                "/v1/responses",
                json!({"model": "gpt-4o", "input": "x", "max_output_tokens": 10, "tools": [{"type": "code_interpreter"}]}),
            ),
            "code_interpreter",
        ),
        (
            line(
                2,
                "/v1/chat/completions",
                json!({"model": "gpt-4o", "messages": []}),
            ),
            "must state max tokens",
        ),
        (
            line(
                2,
                "/v1/chat/completions",
                json!({"model": "gpt-4o", "max_tokens": 100, "n": 10, "messages": []}),
            ),
            "at most 500",
        ),
        (
            line(2, "/v1/files", json!({"model": "gpt-4o"})),
            "not an endpoint a batch may call",
        ),
        (json!("not an object"), "`method` must be POST"),
    ] {
        let file = alice.upload_jsonl(&[good.clone(), bad.clone()]).await;
        let (s, err) = create(file).await;
        assert_eq!(
            (s, err["error"]["code"].as_str()),
            (403, Some("batch_input_refused")),
            "{bad}: {err}"
        );
        let msg = err["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("line 2") && msg.contains(want), "{bad}: {msg}");
        assert!(!msg.to_lowercase().contains("falcon"), "{msg}");
    }
    // A denied term is refused already when the file is uploaded.
    let form = reqwest::multipart::Form::new()
        .text("purpose", "batch")
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                format!(
                    "{}\n",
                    line(
                        1,
                        "/v1/chat/completions",
                        chat("about pro\u{200B}ject falcon")
                    )
                )
                .into_bytes(),
            )
            .file_name("input.jsonl"),
        );
    let resp = w
        .http
        .post(w.gw.url("/v1/files"))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .expect("send");
    expect_error(resp, 403, "content_blocked").await;
    let batches = w
        .mock
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/batches")
        .count();
    assert_eq!(batches, 1, "only the checked batch was created upstream");
}

/// A caller a masking profile applies to can upload JSON Lines and text:
/// masked line by line (a batch line's body as the call it describes).
/// Binary files are refused unless the profile allows opaque uploads.
#[tokio::test]
async fn masked_callers_upload_masked_files() {
    let clients = json!([
        {"client_id": "alice", "groups": ["eng", "writers"]},
        {"client_id": "pat", "groups": ["eng", "pdf"]},
    ]);
    let w = World::start_with_clients(
        r#"
[pii.profiles.std]
EMAIL = "redact"

[pii.profiles.pdf]
EMAIL = "redact"
opaque_uploads = "allow"

[[pii.apply]]
group = "pdf"
profile = "pdf"

[[pii.apply]]
group = "eng"
profile = "std"

[[content.rule]]
id = "terms"
groups = ["writers"]
deny_terms = ["Project Falcon"]
"#,
        POLICY_OBJECTS,
        Some(clients),
    )
    .await;
    let alice = w.token("alice").await;
    let sent = |w: &World| -> String {
        let reqs = w.mock.requests();
        String::from_utf8_lossy(&reqs.last().expect("forwarded").body).into_owned()
    };
    // A batch file: each line's body masked as a chat call.
    let batch = format!(
        "{}\n{}\n",
        line(
            1,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "max_tokens": 5,
            "messages": [{"role": "user", "content": "mail jane.doe@example.com"}]})
        ),
        line(
            2,
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": "amy@example.com"})
        )
    );
    let resp = upload_file(
        &w,
        &alice,
        "in.jsonl",
        "application/jsonl",
        batch.into_bytes(),
        "batch",
    )
    .await
    .expect("send");
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let body = sent(&w);
    assert!(
        !body.contains("jane.doe@") && !body.contains("amy@"),
        "{body}"
    );
    assert!(body.contains("[EMAIL]") && body.contains("req-2"), "{body}");
    // Plain text.
    let resp = upload_file(
        &w,
        &alice,
        "notes.txt",
        "text/plain",
        b"call bob@example.com".to_vec(),
        "assistants",
    )
    .await
    .expect("send");
    assert_eq!(resp.status(), 200);
    let body = sent(&w);
    assert!(
        body.contains("call [EMAIL]") && !body.contains("bob@"),
        "{body}"
    );
    // The record names what was found, never the value.
    let records = w.gw.wait_records(2).await.expect("records");
    assert!(
        records[0]
            .findings
            .iter()
            .any(|f| f.kind == "EMAIL" && f.path.starts_with("file.line[1].messages[0]")),
        "{:?}",
        records[0].findings
    );
    // A line that is not JSON, a denied term, a binary file: refused.
    let forwarded = w.mock.requests().len();
    expect_error(
        upload_file(
            &w,
            &alice,
            "x.jsonl",
            "application/jsonl",
            b"{}\nnot json\n".to_vec(),
            "batch",
        )
        .await
        .expect("send"),
        400,
        "invalid_json",
    )
    .await;
    expect_error(
        upload_file(
            &w,
            &alice,
            "x.txt",
            "text/plain",
            "about Project\u{200B} Falcon".as_bytes().to_vec(),
            "assistants",
        )
        .await
        .expect("send"),
        403,
        "content_blocked",
    )
    .await;
    expect_error(
        upload_file(
            &w,
            &alice,
            "x.pdf",
            "application/pdf",
            b"%PDF-1.7 binary".to_vec(),
            "assistants",
        )
        .await
        .expect("send"),
        400,
        "masking_unsupported",
    )
    .await;
    assert_eq!(
        w.mock.requests().len(),
        forwarded,
        "nothing refused reached the upstream"
    );
    // With opaque_uploads = "allow" (and no text rule for the group): it
    // passes unread, and the record says so.
    let pat = w.token("pat").await;
    let resp = upload_file(
        &w,
        &pat,
        "x.pdf",
        "application/pdf",
        b"%PDF-1.7 binary".to_vec(),
        "assistants",
    )
    .await
    .expect("send");
    assert_eq!(resp.status(), 200);
    assert!(sent(&w).contains("%PDF-1.7 binary"));
    let records = w.gw.wait_records(6).await.expect("records");
    assert!(
        records[5]
            .findings
            .iter()
            .any(|f| f.kind == "OPAQUE_UPLOAD" && f.action == "skipped"),
        "{:?}",
        records[5].findings
    );
}

/// A batch's lines reserve their estimated cost under the caller's
/// budgets: a batch that does not fit is refused naming the first line
/// that does not, and reserves nothing; one that is created keeps its
/// reservation.
#[tokio::test]
async fn a_batch_reserves_its_cost_under_the_callers_budget() {
    let clients = json!([{"client_id": "alice", "groups": ["eng"]}]);
    let w = World::start_with_clients(
        r#"
[prices."gpt-4o*"]
input = 2.5
output = 10.0

[[limits.rule]]
name = "daily"
scope = "principal"
usd_per_day = 0.025
"#,
        POLICY_OBJECTS,
        Some(clients),
    )
    .await;
    let alice = Caller {
        w: &w,
        token: w.token("alice").await,
    };
    // ~10,000 micro-USD each (1000 output tokens at $10/M): two fit.
    let chat = |n: usize| {
        line(
            n,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "max_tokens": 1000,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
    };
    let create = |file: String| {
        let alice = &alice;
        async move {
            alice
                .post(
                    "/v1/batches",
                    json!({"input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
                )
                .await
        }
    };
    let three = alice.upload_jsonl(&[chat(1), chat(2), chat(3)]).await;
    let (s, err) = create(three).await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (403, Some("batch_input_refused")),
        "{err}"
    );
    let msg = err["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("line 3") && msg.contains("budget_exceeded"),
        "{msg}"
    );
    // Nothing was kept: two lines still fit.
    let two = alice.upload_jsonl(&[chat(1), chat(2)]).await;
    let (s, v) = create(two).await;
    assert_eq!(s, 200, "{v}");
    // ... and now they are spent: a call of the same size no longer fits.
    let mut body = chat_body("gpt-4o");
    body["max_tokens"] = json!(1000);
    let resp = w.chat(&alice.token, body).await;
    expect_error(resp, 429, "budget_exceeded").await;
}

/// A batch line whose call would need a human's approval is refused: a
/// batch cannot wait for one, and must not run unapproved.
#[tokio::test]
async fn a_batch_line_that_needs_approval_is_refused() {
    let clients = json!([{"client_id": "alice", "groups": ["eng"]}]);
    let w = World::start_with_clients(
        r#"
[approvals]
approver_groups = ["security"]

[[approvals.rule]]
id = "deploys"
tools = ["function:deploy*"]
"#,
        POLICY_OBJECTS,
        Some(clients),
    )
    .await;
    let alice = Caller {
        w: &w,
        token: w.token("alice").await,
    };
    let tool = |name: &str| {
        line(
            1,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "max_tokens": 10,
            "messages": [{"role": "user", "content": "go"}],
            "tools": [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}]}),
        )
    };
    for (name, status) in [("lookup", 200), ("deploy_prod", 403)] {
        let file = alice.upload_jsonl(&[tool(name)]).await;
        let (s, v) = alice
            .post(
                "/v1/batches",
                json!({"input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
            )
            .await;
        assert_eq!(s, status, "{name}: {v}");
        if status == 403 {
            assert_eq!(v["error"]["code"], "batch_input_refused");
            let msg = v["error"]["message"].as_str().unwrap_or_default();
            assert!(msg.contains("line 1") && msg.contains("deploys"), "{msg}");
        }
    }
}
