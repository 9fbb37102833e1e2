//! The data path: streaming passes through, broken upstreams are passed on
//! honestly, bad input gets clear errors, and the gateway stays up.

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use warden_core::Outcome;

use crate::support::*;

#[tokio::test]
async fn streams_pass_through_and_usage_is_recorded() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = w.chat(&alice, body).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    assert!(resp.headers().contains_key("x-warden-request-id"));
    let mut chunks = 0;
    let mut text = String::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        chunks += 1;
    }
    assert!(chunks > 1, "the body arrived in pieces, not buffered whole");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let records = w.gw.wait_records(1).await.expect("records");
    let r = &records[0];
    assert!(r.stream);
    assert_eq!(r.outcome, Outcome::Completed);
    // Stream timings: the first event went out before the end, and the
    // answer came in many chunks (the mock streams token-sized pieces).
    let ttft = r.ttft_us.expect("time to first byte recorded");
    assert!(ttft > 0 && ttft <= r.total_latency_us, "{r:?}");
    assert!(r.chunks.is_some_and(|n| n > 1), "{r:?}");
    let usage = r.usage.expect("usage from the stream's final chunk");
    assert!(
        usage.output_tokens > 0 && usage.total_tokens == usage.input_tokens + usage.output_tokens
    );
}

#[tokio::test]
async fn responses_api_stream_usage_comes_from_the_completed_event() {
    let w = World::start("").await;
    let resp = w
        .http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(w.token("alice").await)
        .json(&json!({"model": "gpt-4o", "input": "tell me a story", "stream": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    assert!(text.contains("response.completed"));
    let records = w.gw.wait_records(1).await.expect("records");
    assert!(records[0].usage.is_some_and(|u| u.input_tokens > 0));
    assert_eq!(records[0].endpoint, "responses");
}

#[tokio::test]
async fn a_cut_upstream_stream_reaches_the_caller_cut() {
    let w = World::start("").await;
    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    let resp = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(w.token("alice").await)
        .header("x-mock-cut-after", "2")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let mut broke = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => text.push_str(&String::from_utf8_lossy(&c)),
            Err(_) => {
                broke = true;
                break;
            }
        }
    }
    assert!(
        broke,
        "the caller must see a broken stream, got a clean end: {text}"
    );
    assert!(
        !text.contains("[DONE]"),
        "Warden must not make up an end: {text}"
    );
    let records = w.gw.wait_records(1).await.expect("records");
    assert_eq!(records[0].outcome, Outcome::UpstreamBroken);
    assert_eq!(records[0].reason.as_deref(), Some("upstream_stream_broken"));
    // Still serving.
    assert_eq!(
        w.chat(&w.token("alice").await, chat_body("gpt-4o"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn upstream_errors_pass_through_and_failures_are_named() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    let resp = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(&alice)
        .header("x-mock-status", "500")
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 500, "the upstream's own status");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body["error"]["code"], "mock_failure",
        "the upstream's own body"
    );

    // Past the first-byte timeout (5 s in tests): 504.
    let resp = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(&alice)
        .header("x-mock-delay-ms", "6000")
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("send");
    expect_error(resp, 504, "upstream_timeout").await;

    // A stalled stream (nothing for longer than idle_timeout = 2 s) is cut.
    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    let resp = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(&alice)
        .header("x-mock-chunk-delay-ms", "3000")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.is_err(), "a stalled stream ends broken");
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    let idp = OidcProvider::start().await.expect("idp");
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v1", dead.local_addr().expect("addr"));
    drop(dead);
    let gw = TestGateway::start(&format!(
        "{}\n{}\n{POLICY}",
        idp.issuer_toml(),
        connection_toml(&url)
    ))
    .await
    .expect("gw");
    let resp = http()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(idp.token("alice").await.expect("token"))
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("send");
    expect_error(resp, 502, "upstream_unreachable").await;
    let records = gw.wait_records(1).await.expect("records");
    assert_eq!(records[0].outcome, Outcome::UpstreamFailed);
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_the_gateway_stays_up() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    let post = |body: Vec<u8>, ct: &'static str| {
        w.http
            .post(w.gw.url("/v1/chat/completions"))
            .bearer_auth(&alice)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let json = "application/json";
    let deep = format!(
        "{{\"model\":\"gpt-4o\",\"x\":{}1{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let mut huge = b"{\"model\":\"gpt-4o\",\"pad\":\"".to_vec();
    huge.resize(17 * 1024 * 1024, b'a');
    huge.extend_from_slice(b"\"}");
    let cases: Vec<(&str, Vec<u8>, &'static str, u16, &str)> = vec![
        (
            "malformed",
            b"{\"model\":".to_vec(),
            json,
            400,
            "invalid_json",
        ),
        (
            "not an object",
            b"[1,2,3]".to_vec(),
            json,
            400,
            "invalid_json",
        ),
        ("empty", Vec::new(), json, 400, "invalid_json"),
        (
            "invalid utf-8",
            b"{\"model\":\"\xff\xfe\"}".to_vec(),
            json,
            400,
            "invalid_json",
        ),
        (
            "duplicate model",
            br#"{"model":"gpt-4o-mini","messages":[],"model":"o3-pro"}"#.to_vec(),
            json,
            400,
            "duplicate_key",
        ),
        (
            "escaped duplicate model",
            br#"{"model":"gpt-4o-mini","\u006dodel":"o3-pro"}"#.to_vec(),
            json,
            400,
            "duplicate_key",
        ),
        (
            "deep nesting",
            deep.into_bytes(),
            json,
            400,
            "nesting_too_deep",
        ),
        (
            "model not a string",
            br#"{"model":42}"#.to_vec(),
            json,
            400,
            "invalid_type",
        ),
        (
            "no model",
            br#"{"messages":[]}"#.to_vec(),
            json,
            400,
            "missing_model",
        ),
        (
            "wrong content type",
            br#"{"model":"gpt-4o"}"#.to_vec(),
            "text/plain",
            415,
            "unsupported_media_type",
        ),
        ("too large", huge, json, 413, "request_too_large"),
    ];
    for (name, body, ct, status, code) in cases {
        let resp = post(body, ct)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        expect_error(resp, status, code).await;
    }
    let unknown = w
        .http
        .post(w.gw.url("/v1/fine_tuning/jobs"))
        .bearer_auth(&alice)
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    expect_error(unknown, 404, "unknown_endpoint").await;
    let outside = w.http.get(w.gw.url("/admin")).send().await.expect("send");
    expect_error(outside, 404, "unknown_endpoint").await;
    assert!(w.mock.requests().is_empty(), "no bad request was forwarded");
    // Every bad request left a record, and normal service continues.
    assert_eq!(w.chat(&alice, chat_body("gpt-4o")).await.status(), 200);
    let records = w.gw.wait_records(14).await.expect("records");
    assert_eq!(records.len(), 14);
}

#[tokio::test]
async fn caller_credentials_and_hop_headers_never_go_upstream() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    let resp = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(&alice)
        .header("openai-organization", "org-caller-chosen")
        .header("cookie", "session=abc")
        .header("x-warden-approval", "x")
        .header("x-custom", "kept")
        .header("x-hop", "dropped")
        .header("connection", "x-hop")
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let seen = &w.mock.requests()[0];
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {UPSTREAM_KEY}").as_str())
    );
    assert_eq!(seen.header("openai-organization"), None);
    assert_eq!(seen.header("cookie"), None);
    assert_eq!(seen.header("x-warden-approval"), None);
    assert_eq!(seen.header("x-custom"), Some("kept"));
    assert_eq!(
        seen.header("x-hop"),
        None,
        "named by Connection: hop-by-hop"
    );
    assert_eq!(seen.json()["model"], "gpt-4o", "body forwarded as sent");
    assert_never_sent(&w.mock, &alice);
}

#[tokio::test]
async fn model_less_endpoints_and_multipart_uploads_are_authorized_and_streamed() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    let bob = w.token("bob").await;
    let form = || {
        reqwest::multipart::Form::new()
            .text("purpose", "batch")
            .part(
                "file",
                reqwest::multipart::Part::bytes(vec![b'x'; 100_000]).file_name("data.jsonl"),
            )
    };
    let resp = w
        .http
        .post(w.gw.url("/v1/files"))
        .bearer_auth(&alice)
        .multipart(form())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200, "eng may use files");
    let seen = w.mock.requests();
    assert_eq!(seen[0].path, "/v1/files");
    assert!(seen[0].body.len() > 100_000, "the upload arrived whole");
    let resp = w
        .http
        .post(w.gw.url("/v1/files"))
        .bearer_auth(&bob)
        .multipart(form())
        .send()
        .await
        .expect("send");
    expect_error(resp, 403, "policy_denied").await;

    // Audio transcription: the model is a form field, and policy checks it.
    let audio = |model: &str| {
        reqwest::multipart::Form::new()
            .text("model", model.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(vec![0u8; 1000]).file_name("a.wav"),
            )
    };
    let resp = w
        .http
        .post(w.gw.url("/v1/audio/transcriptions"))
        .bearer_auth(&bob)
        .multipart(audio("whisper-1"))
        .send()
        .await
        .expect("send");
    expect_error(resp, 403, "model_not_allowed").await;
    let resp = w
        .http
        .post(w.gw.url("/v1/audio/transcriptions"))
        .bearer_auth(&alice)
        .multipart(audio("gpt-4o-transcribe"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let records = w.gw.wait_records(4).await.expect("records");
    assert_eq!(records[3].model.as_deref(), Some("gpt-4o-transcribe"));
    assert_eq!(records[3].endpoint, "audio");
}

#[tokio::test]
async fn http2_callers_and_requests_sent_in_pieces_are_served() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let w = World::start("").await;
    let alice = w.token("alice").await;
    // HTTP/2 with prior knowledge (h2c), told apart from HTTP/1 by its
    // first bytes.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let resp = h2
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(&alice)
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("h2 request");
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.expect("json");
    assert_eq!(answer["object"], "chat.completion");
    // HTTP/1 whose first bytes arrive apart ("P", "O", then the rest):
    // "P" could still be HTTP/2's preface, so the gateway waits for more.
    let body = serde_json::to_vec(&chat_body("gpt-4o")).expect("body");
    let mut raw = chat_head(&alice, body.len(), "Connection: close\r\n");
    raw.extend_from_slice(&body);
    let mut tcp = tokio::net::TcpStream::connect(w.gw.addr)
        .await
        .expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    for piece in [&raw[..1], &raw[1..2], &raw[2..]] {
        tcp.write_all(piece).await.expect("write");
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A connection that closes before sending anything, and one that sends
    // only a "P" and closes, leave the gateway serving.
    drop(
        tokio::net::TcpStream::connect(w.gw.addr)
            .await
            .expect("connect"),
    );
    let mut stalled = tokio::net::TcpStream::connect(w.gw.addr)
        .await
        .expect("connect");
    stalled.write_all(b"P").await.expect("write");
    drop(stalled);
    let records = w.gw.wait_records(2).await.expect("records");
    assert!(records.iter().all(|r| r.status == 200), "{records:?}");
    // Each record names the caller's address, on either protocol.
    assert!(
        records.iter().all(|r| r
            .client_addr
            .as_deref()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))),
        "{records:?}"
    );
    assert_eq!(w.chat(&alice, chat_body("gpt-4o")).await.status(), 200);
}

#[tokio::test]
async fn slow_heads_are_cut_off_and_slow_bodies_get_a_408() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;
    let w = World::start("[server]\nheader_timeout = \"400ms\"\nbody_timeout = \"400ms\"\n").await;
    let alice = w.token("alice").await;
    /// Everything the gateway sends until it closes the connection (the
    /// test fails if it is still open after 5 s).
    async fn until_closed(tcp: &mut TcpStream) -> String {
        let mut got = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let mut buf = [0u8; 4096];
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(read.is_ok(), "the connection was left open");
        String::from_utf8_lossy(&got).into_owned()
    }
    // A connection that sends nothing, and one that sends half a head.
    let mut silent = TcpStream::connect(w.gw.addr).await.expect("connect");
    let mut half = TcpStream::connect(w.gw.addr).await.expect("connect");
    half.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    assert_eq!(until_closed(&mut silent).await, "");
    assert!(!until_closed(&mut half).await.contains("200"));
    // A body that stops half way: 408, recorded, and the mock saw nothing.
    let body = serde_json::to_vec(&chat_body("gpt-4o")).expect("body");
    let mut slow = TcpStream::connect(w.gw.addr).await.expect("connect");
    slow.write_all(&chat_head(&alice, body.len(), ""))
        .await
        .expect("write");
    slow.write_all(&body[..body.len() / 2])
        .await
        .expect("write");
    let answer = until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let json = &answer[answer.find("\r\n\r\n").expect("head") + 4..];
    let error: Value = serde_json::from_str(json).expect("an OpenAI-style error");
    assert_eq!(error["error"]["code"], "request_timeout");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    let records = w.gw.wait_records(1).await.expect("records");
    assert_eq!(records[0].status, 408, "{records:?}");
    assert!(w.mock.requests().is_empty());
    // A keep-alive connection left idle after a call is closed too, and the
    // gateway goes on serving.
    let mut idle = TcpStream::connect(w.gw.addr).await.expect("connect");
    idle.write_all(&chat_head(&alice, body.len(), ""))
        .await
        .expect("write");
    idle.write_all(&body).await.expect("write");
    assert!(until_closed(&mut idle).await.starts_with("HTTP/1.1 200"));
    assert_eq!(w.chat(&alice, chat_body("gpt-4o")).await.status(), 200);
}

/// The head of a raw HTTP/1.1 chat completion call with a `len`-byte JSON
/// body (`extra`: more header lines, each ending in CRLF).
fn chat_head(token: &str, len: usize, extra: &str) -> Vec<u8> {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\n{extra}\r\n"
    )
    .into_bytes()
}
