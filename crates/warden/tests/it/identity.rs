//! Identity against the real `oidc-provider`: genuine tokens of every
//! algorithm pass; forged ones fail with the right code; JWKS rotation and
//! the refresh rate limit hold.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn genuine_tokens_of_each_algorithm_are_accepted() {
    let w = World::start("").await;
    for resource in ["urn:warden", "urn:warden:es256", "urn:warden:eddsa"] {
        let token = w
            .idp
            .token_for_resource("alice", resource)
            .await
            .expect("token");
        let resp = w.chat(&token, chat_body("gpt-4o")).await;
        assert_eq!(
            resp.status(),
            200,
            "{resource}: {}",
            resp.text().await.unwrap_or_default()
        );
        assert_never_sent(&w.mock, &token);
    }
    let seen = w.mock.requests();
    assert_eq!(seen.len(), 3);
    for r in seen {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str())
        );
    }
}

#[tokio::test]
async fn forged_and_broken_tokens_are_refused_before_the_upstream() {
    let w = World::start("").await;
    let idp = &w.idp;
    let good = idp.claims("alice", &["eng"], 300);
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let mut no_sub = good.clone();
    no_sub.as_object_mut().map(|o| o.remove("sub"));
    let now = good["iat"].as_i64().unwrap_or(0);
    let cases = vec![
        (
            "expired",
            idp.sign(with("exp", json!(now - 600)), "RS256", "current")
                .await,
            "token_expired",
        ),
        // jsonwebtoken >= 10.3 no longer skips string-typed exp: refused.
        (
            "expired, exp as string",
            idp.sign(
                with("exp", json!((now - 600).to_string())),
                "RS256",
                "current",
            )
            .await,
            "invalid_token",
        ),
        (
            "valid-looking, exp as string",
            idp.sign(
                with("exp", json!((now + 600).to_string())),
                "RS256",
                "current",
            )
            .await,
            "invalid_token",
        ),
        (
            "wrong aud",
            idp.sign(with("aud", json!("someone-else")), "RS256", "current")
                .await,
            "invalid_token",
        ),
        (
            "wrong iss",
            idp.sign(
                with("iss", json!("https://evil.example")),
                "RS256",
                "current",
            )
            .await,
            "invalid_token",
        ),
        (
            "nbf in the future",
            idp.sign(with("nbf", json!(now + 3600)), "RS256", "current")
                .await,
            "invalid_token",
        ),
        (
            "no sub",
            idp.sign(no_sub, "RS256", "current").await,
            "invalid_token",
        ),
        (
            "other key, real kid",
            idp.sign(good.clone(), "RS256", "foreign").await,
            "invalid_token",
        ),
        (
            "unknown kid",
            idp.sign_with(
                json!({"claims": good, "alg": "ES256", "key": "foreign", "kid": "no-such-kid"}),
            )
            .await,
            "invalid_token",
        ),
        (
            "alg none",
            idp.sign(good.clone(), "none", "current").await,
            "invalid_token",
        ),
        (
            "HS256 keyed with the public key",
            idp.sign(good.clone(), "HS256", "public-as-hmac").await,
            "invalid_token",
        ),
        ("garbage", Ok("not-a-token".to_owned()), "invalid_token"),
        (
            "three dots of garbage",
            Ok("a.b.c".to_owned()),
            "invalid_token",
        ),
    ];
    for (name, token, code) in cases {
        let token = token.unwrap_or_else(|e| panic!("{name}: could not mint: {e}"));
        let resp = w.chat(&token, chat_body("gpt-4o")).await;
        assert_eq!(
            resp.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer error=\"invalid_token\""),
            "{name}"
        );
        let body = expect_error(resp, 401, code).await;
        assert!(
            !body.to_string().contains(&token),
            "{name}: the token was echoed"
        );
    }
    let missing = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("send");
    expect_error(missing, 401, "missing_token").await;
    assert!(w.mock.requests().is_empty(), "nothing reached the upstream");
    // A correctly signed token still works after all that.
    let ok = w
        .chat(
            &idp.sign(w.idp.claims("alice", &["eng"], 300), "RS256", "current")
                .await
                .expect("sign"),
            chat_body("gpt-4o"),
        )
        .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn jwks_rotation_is_followed() {
    let w = World::start("").await;
    let before = w.token("alice").await;
    assert_eq!(w.chat(&before, chat_body("gpt-4o")).await.status(), 200);
    // The IdP rotates: new tokens carry a new kid, which triggers a refresh.
    w.idp.rotate().await.expect("rotate");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // past jwks_min_refresh (1 s)
    let fresh = w.token("alice").await;
    assert_eq!(
        w.chat(&fresh, chat_body("gpt-4o")).await.status(),
        200,
        "rotated key accepted"
    );
    // The old key left the JWKS with the rotation: its tokens no longer verify.
    expect_error(
        w.chat(&before, chat_body("gpt-4o")).await,
        401,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn unknown_kids_cannot_hammer_the_identity_provider() {
    let mock = MockUpstream::start().await.expect("mock");
    let idp = OidcProvider::start().await.expect("idp");
    let issuer = idp
        .issuer_toml()
        .replace("jwks_min_refresh = \"1s\"", "jwks_min_refresh = \"30s\"");
    let gw = TestGateway::start(&format!(
        "{issuer}\n{}\n{POLICY}",
        connection_toml(&mock.base_url())
    ))
    .await
    .expect("gw");
    let http = http();
    let call = |token: String| {
        http.post(gw.url("/v1/chat/completions"))
            .bearer_auth(token)
            .json(&chat_body("gpt-4o"))
            .send()
    };
    let good = idp.token("alice").await.expect("token");
    assert_eq!(call(good).await.expect("send").status(), 200);
    let fetched = idp.jwks_requests().await.expect("stats");
    // A burst of tokens naming kids nobody has: within jwks_min_refresh, no
    // refresh at all, however many arrive; each is refused.
    let claims = idp.claims("alice", &["eng"], 300);
    for i in 0..20 {
        let t = idp
            .sign_with(json!({"claims": claims, "alg": "RS256", "key": "foreign", "kid": format!("made-up-{i}")}))
            .await
            .expect("sign");
        expect_error(call(t).await.expect("send"), 401, "invalid_token").await;
    }
    let after = idp.jwks_requests().await.expect("stats");
    assert_eq!(
        after,
        fetched,
        "{} JWKS fetches for 20 unknown kids",
        after - fetched
    );
}

#[tokio::test]
async fn groups_come_from_the_configured_claim_path() {
    let mock = MockUpstream::start().await.expect("mock");
    let idp = OidcProvider::start().await.expect("idp");
    let issuer = idp.issuer_toml().replace(
        "[[issuer]]\n",
        "[[issuer]]\ngroups_claim = \"realm_access.roles\"\n",
    );
    let config = format!("{issuer}\n{}\n{POLICY}", connection_toml(&mock.base_url()));
    let gw = TestGateway::start(&config).await.expect("gateway");
    let http = http();
    let token = idp.token("bob").await.expect("token"); // bob: realm_access.roles = [interns]
    let resp = http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&chat_body("gpt-4o-mini"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let records = gw.wait_records(1).await.expect("records");
    assert_eq!(records[0].groups, ["interns"]);
}

#[tokio::test]
async fn an_unreachable_identity_provider_fails_closed() {
    let mock = MockUpstream::start().await.expect("mock");
    let idp = OidcProvider::start().await.expect("idp");
    // Trust an issuer on a port where nothing listens.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead_url = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let config = format!(
        "[[issuer]]\nname = \"down\"\nissuer = \"{dead_url}\"\naudiences = [\"warden\"]\n\n{}\n{POLICY}",
        connection_toml(&mock.base_url())
    );
    let gw = TestGateway::start(&config).await.expect("gateway");
    let token = idp
        .sign(
            json!({"iss": dead_url, "aud": "warden", "sub": "alice", "exp": 4_000_000_000u64}),
            "RS256",
            "current",
        )
        .await
        .expect("sign");
    let resp = http()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"5"[..])
    );
    expect_error(resp, 503, "identity_unavailable").await;
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn a_remembered_token_still_expires_on_time() {
    let mock = MockUpstream::start().await.expect("mock");
    let idp = OidcProvider::start().await.expect("idp");
    let issuer = idp
        .issuer_toml()
        .replace("[[issuer]]\n", "[[issuer]]\nleeway = \"0s\"\n");
    let gw = TestGateway::start(&format!(
        "{issuer}\n{}\n{POLICY}",
        connection_toml(&mock.base_url())
    ))
    .await
    .expect("gw");
    let token = idp
        .sign(idp.claims("alice", &["eng"], 2), "RS256", "current")
        .await
        .expect("sign");
    let http = http();
    let call = || {
        http.post(gw.url("/v1/chat/completions"))
            .bearer_auth(&token)
            .json(&chat_body("gpt-4o"))
            .send()
    };
    assert_eq!(call().await.expect("send").status(), 200, "verified");
    assert_eq!(call().await.expect("send").status(), 200, "remembered");
    // The JWT library reads the real clock, so this test waits for it.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    expect_error(call().await.expect("send"), 401, "token_expired").await;
}
