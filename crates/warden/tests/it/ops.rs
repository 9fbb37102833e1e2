//! Operators' normal operations, on the real binary: a SIGHUP never kills
//! `warden serve`.

use std::process::Command;

use serde_json::json;

use crate::support::*;

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
