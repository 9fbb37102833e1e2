//! A stored response is its creator's alone: reading, deleting, cancelling,
//! listing its input or continuing it (`previous_response_id`) by anyone
//! else answers 404, as for an id that does not exist.

use serde_json::{Value, json};
use warden_store::RecordStore as _;

use crate::support::*;

async fn create(w: &World, token: &str, stream: bool) -> String {
    let resp = w
        .http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(token)
        .json(&json!({"model": "gpt-4o", "input": "hello", "stream": stream}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    if !stream {
        let v: Value = serde_json::from_str(&text).expect("json");
        return v["id"].as_str().expect("id").to_owned();
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|v| v["type"] == "response.created")
        .and_then(|v| v["response"]["id"].as_str().map(str::to_owned))
        .expect("response.created")
}

async fn call(w: &World, token: &str, method: reqwest::Method, path: &str) -> reqwest::Response {
    w.http
        .request(method, w.gw.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn only_the_creator_reads_deletes_lists_or_continues_a_response() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    let carol = w.token("carol").await; // also in eng: allowed on responses
    for stream in [false, true] {
        let id = create(&w, &alice, stream).await;
        let paths = [
            (reqwest::Method::GET, format!("/v1/responses/{id}")),
            (
                reqwest::Method::GET,
                format!("/v1/responses/{id}/input_items"),
            ),
        ];
        for (method, path) in &paths {
            let seen = w.mock.requests().len();
            let err = expect_error(
                call(&w, &carol, method.clone(), path).await,
                404,
                "response_not_found",
            )
            .await;
            assert!(
                err["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(&id)
            );
            assert_eq!(
                w.mock.requests().len(),
                seen,
                "nothing forwarded for {path}"
            );
            assert_eq!(
                call(&w, &alice, method.clone(), path).await.status(),
                200,
                "{path}"
            );
        }
        // Continuing someone else's response is reading it.
        let next = json!({"model": "gpt-4o", "input": "and then?", "previous_response_id": id});
        let resp = w
            .http
            .post(w.gw.url("/v1/responses"))
            .bearer_auth(&carol)
            .json(&next)
            .send()
            .await
            .expect("send");
        expect_error(resp, 404, "response_not_found").await;
        let resp = w
            .http
            .post(w.gw.url("/v1/responses"))
            .bearer_auth(&alice)
            .json(&next)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200);
        let cancel = format!("/v1/responses/{id}/cancel");
        let resp = w
            .http
            .post(w.gw.url(&cancel))
            .bearer_auth(&carol)
            .json(&json!({}))
            .send()
            .await
            .expect("send");
        expect_error(resp, 404, "response_not_found").await;
        let delete = format!("/v1/responses/{id}");
        expect_error(
            call(&w, &carol, reqwest::Method::DELETE, &delete).await,
            404,
            "response_not_found",
        )
        .await;
        assert_eq!(
            call(&w, &alice, reqwest::Method::DELETE, &delete)
                .await
                .status(),
            200
        );
    }
    // An id Warden never saw is refused to everyone (fail closed).
    expect_error(
        call(
            &w,
            &alice,
            reqwest::Method::GET,
            "/v1/responses/resp_unknown",
        )
        .await,
        404,
        "response_not_found",
    )
    .await;

    // The owner is in the records, which outlive the in-memory map.
    let id = create(&w, &alice, false).await;
    let records = w.gw.wait_records(1).await.expect("records");
    assert!(!records.is_empty());
    let mut owner = None;
    for _ in 0..50 {
        owner = w.gw.store.response_owner(&id).await.expect("owner");
        if owner.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let owner = owner.expect("recorded owner");
    assert_eq!(owner.subject.as_deref(), Some("alice"));
}
