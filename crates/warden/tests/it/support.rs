//! Shared set-up: a mock upstream, the OIDC provider, and a gateway between.

use serde_json::{Value, json};
pub use warden_testkit::gateway::{TestGateway, UPSTREAM_KEY, WEBHOOK_SECRET, connection_toml};
pub use warden_testkit::mock_upstream::MockUpstream;
pub use warden_testkit::oidc::OidcProvider;

/// The group table most tests use: eng may use gpt-4o*, embeddings and files;
/// interns only gpt-4o-mini on chat; nobody else anything.
pub const POLICY: &str = r#"
[policy.groups.eng]
models = ["gpt-4o*", "text-embedding-*"]
endpoints = ["*"]

[policy.groups.interns]
models = ["gpt-4o-mini"]
endpoints = ["chat.completions"]

[policy]
cedar = '''
@id("interns-no-computer-use")
@reason("interns may not offer the computer_use tool")
forbid (principal in Warden::Group::"interns", action, resource)
when { context.tools.contains("computer_use_preview") };
'''
"#;

/// An HTTP client for talking to the gateway (TLS provider installed).
pub fn http() -> reqwest::Client {
    warden_testkit::init_tls();
    reqwest::Client::new()
}

pub struct World {
    pub mock: MockUpstream,
    pub idp: OidcProvider,
    pub gw: TestGateway,
    pub http: reqwest::Client,
}

impl World {
    /// Mock upstream + real IdP + gateway with [`POLICY`] and `extra` config.
    pub async fn start(extra: &str) -> World {
        World::start_with_policy(extra, POLICY).await
    }

    /// The same with another policy section.
    pub async fn start_with_policy(extra: &str, policy: &str) -> World {
        World::start_with_clients(extra, policy, None).await
    }

    /// The same with the IdP's own clients (`[{"client_id", "groups"}]`),
    /// `None` for the testkit's defaults.
    pub async fn start_with_clients(extra: &str, policy: &str, clients: Option<Value>) -> World {
        World::start_with_clock(
            extra,
            policy,
            clients,
            std::sync::Arc::new(warden_limits::SystemClock),
        )
        .await
    }

    /// The same with the gateway's approvals and grants on `clock`.
    pub async fn start_with_clock(
        extra: &str,
        policy: &str,
        clients: Option<Value>,
        clock: std::sync::Arc<dyn warden_limits::Clock>,
    ) -> World {
        let mock = MockUpstream::start().await.expect("mock upstream");
        let idp = OidcProvider::start_with_clients(clients)
            .await
            .expect("OIDC provider");
        let config = format!(
            "{}\n{}\n{extra}\n{policy}",
            idp.issuer_toml(),
            connection_toml(&mock.base_url())
        );
        let gw = TestGateway::start_with_clock(&config, clock)
            .await
            .expect("gateway");
        World {
            mock,
            idp,
            gw,
            http: http(),
        }
    }

    pub async fn token(&self, client: &str) -> String {
        self.idp.token(client).await.expect("token")
    }

    pub async fn chat(&self, token: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.gw.url("/v1/chat/completions"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }
}

pub fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello there"}]})
}

/// Asserts an OpenAI-style error with this status and code; returns the body.
pub async fn expect_error(resp: reqwest::Response, status: u16, code: &str) -> Value {
    let got = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    assert_eq!(got, status, "status for {code}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(body["error"]["code"], code, "{text}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{text}"
    );
    assert!(body["error"]["type"].is_string(), "{text}");
    body
}

/// No request the mock received carried `secret` anywhere.
pub fn assert_never_sent(mock: &MockUpstream, secret: &str) {
    for r in mock.requests() {
        for (name, value) in &r.headers {
            assert!(
                !value.contains(secret),
                "{name} carried the caller's credential upstream"
            );
        }
        assert!(
            !String::from_utf8_lossy(&r.body).contains(secret),
            "body carried it"
        );
    }
}

/// A config file for running the `warden` CLI against a test gateway's store.
pub fn cli_config(gw: &TestGateway) -> std::path::PathBuf {
    let path = gw.dir.path().join("cli.toml");
    let text = format!(
        "[store]\nsqlite = {:?}\n\n[[connection]]\nname = \"mock\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodels = [\"*\"]\n",
        gw.dir.path().join("warden.db").display().to_string()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// `warden` with the environment the example configs read.
pub fn warden_cmd() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_warden"));
    c.env("OPENAI_API_KEY", "sk-test-for-config-check")
        .env("WARDEN_PII_HASH_KEY", "hash-key-for-config-check")
        .env("WARDEN_EXPORT_SECRET", "export-secret-for-config-check")
        .env(
            "WARDEN_APPROVALS_SECRET",
            "approvals-secret-for-config-check",
        )
        .env("MOCK_UPSTREAM_KEY", UPSTREAM_KEY)
        .env_remove("WARDEN_CONFIG");
    c
}

/// A Warden key made by the CLI (`warden keys create --json`) for the
/// config's store; `extra` adds arguments (`--group g`), `env` variables.
pub fn create_key(
    config: &std::path::Path,
    owner: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> String {
    let out = warden_cmd()
        .args(["keys", "create", "--owner", owner, "--json"])
        .args(extra)
        .arg("--config")
        .arg(config)
        .envs(env.iter().copied())
        .output()
        .expect("run warden keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Value = serde_json::from_slice(&out.stdout).expect("json");
    made["key"].as_str().expect("key").to_owned()
}

/// A real `warden serve` process on a random port.
pub struct Served {
    pub child: std::process::Child,
    /// `127.0.0.1:port`.
    pub addr: String,
    /// Log lines before the serving line.
    pub banner: Vec<String>,
    /// Log lines after it, as they come.
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Served {
    pub fn start(config: &std::path::Path) -> Served {
        Served::start_with_env(config, &[])
    }

    pub fn start_with_env(config: &std::path::Path, env: &[(&str, &str)]) -> Served {
        use std::io::BufRead as _;
        let mut child = warden_cmd()
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn warden serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let mut banner = Vec::new();
        while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(30)) {
            if let Some(rest) = line.split("serving the OpenAI API at http://").nth(1) {
                let addr = rest.split("/v1").next().unwrap_or_default().to_owned();
                return Served {
                    child,
                    addr,
                    banner,
                    lines,
                };
            }
            banner.push(line);
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("no serving line in: {banner:#?}");
    }
}

impl Served {
    /// SIGTERM, then the exit status once it has drained and flushed.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -TERM {pid}");
        self.child.wait().expect("wait")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh schema in the local PostgreSQL (127.0.0.1:5432, trust auth), for
/// one test; `url` points a store at it. Dropped by [`PgSchema::drop`].
pub struct PgSchema {
    pub admin: sqlx::PgPool,
    pub name: String,
    pub url: String,
}

impl PgSchema {
    pub async fn create() -> PgSchema {
        use std::hash::{BuildHasher as _, Hasher as _};
        let base = "postgres://postgres@127.0.0.1:5432/postgres";
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let name = format!("warden_it_{}_{:x}", std::process::id(), h.finish());
        let admin = sqlx::PgPool::connect(base)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .expect("schema");
        let url = format!("{base}?options[search_path]={name}");
        PgSchema { admin, name, url }
    }

    pub async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await
        .expect("drop schema");
        self.admin.close().await;
    }
}

/// What a test that runs `warden serve` needs first: a mock upstream, and a
/// `warden.toml` in a temp dir holding `[store]` with `store`'s lines, the
/// mock's connection, then `rest`.
pub struct ServeSetup {
    pub mock: MockUpstream,
    pub dir: tempfile::TempDir,
    pub config: std::path::PathBuf,
}

impl ServeSetup {
    pub async fn new(store: &str, rest: &str) -> ServeSetup {
        let mock = MockUpstream::start().await.expect("mock");
        let dir = tempfile::tempdir().expect("tmp");
        let config = dir.path().join("warden.toml");
        std::fs::write(
            &config,
            format!(
                "[store]\n{store}\n\n{}\n{rest}\n",
                connection_toml(&mock.base_url())
            ),
        )
        .expect("write");
        ServeSetup { mock, dir, config }
    }
}

/// `POST /v1/files` through the gateway: one file (`name`, `content_type`)
/// with its `purpose`, as the SDKs send it.
pub async fn upload_file(
    w: &World,
    token: &str,
    name: &str,
    content_type: &str,
    data: Vec<u8>,
    purpose: &str,
) -> reqwest::Result<reqwest::Response> {
    let form = reqwest::multipart::Form::new()
        .text("purpose", purpose.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(data)
                .file_name(name.to_owned())
                .mime_str(content_type)?,
        );
    w.http
        .post(w.gw.url("/v1/files"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
}

/// A file put straight into the mock upstream, past Warden (so Warden never
/// saw it created); its id.
pub async fn file_at_upstream(w: &World, content: &str) -> String {
    let v: Value = w
        .http
        .post(format!("{}/files", w.mock.base_url()))
        .body(content.to_owned())
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    v["id"].as_str().expect("file id").to_owned()
}
