//! The real OpenID provider (`oidc-provider` on Node), started per test on a
//! free 127.0.0.1 port. See `testkit/oidc/README.md` for its protocol. The
//! process dies with the test: it exits when its stdin closes.

use std::process::Stdio;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};

#[derive(Debug)]
pub struct OidcProvider {
    pub issuer: String,
    pub audience: String,
    token_endpoint: String,
    http: reqwest::Client,
    _child: Child,
    _stdin: ChildStdin,
}

/// The audience the provider's tokens carry.
pub const AUDIENCE: &str = "warden";

impl OidcProvider {
    /// Starts the provider with its default clients: alice (eng), bob
    /// (interns), carol (approvers, eng), ci-bot (ci), nobody (no groups).
    /// Each client's secret is `<id>-secret`.
    pub async fn start() -> anyhow::Result<OidcProvider> {
        Self::start_with_clients(None).await
    }

    pub async fn start_with_clients(clients: Option<Value>) -> anyhow::Result<OidcProvider> {
        crate::init_tls();
        let dir = crate::repo_root().join("testkit/oidc");
        if !dir.join("node_modules/oidc-provider").exists() {
            bail!(
                "oidc-provider is not installed in {}: run ./scripts/test (it runs `npm ci` there)",
                dir.display()
            );
        }
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("server.mjs"))
            .env("OIDC_PORT", "0")
            .env("OIDC_AUDIENCE", AUDIENCE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(c) = clients {
            cmd.env("OIDC_CLIENTS", c.to_string());
        }
        let mut child = cmd
            .spawn()
            .context("starting node (is Node.js installed?)")?;
        let stdin = child.stdin.take().context("provider stdin")?;
        let stdout = child.stdout.take().context("provider stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .context("the OIDC provider did not start within 30s")??
            .context("the OIDC provider exited before it was ready")?;
        let ready: Value = serde_json::from_str(&line)
            .with_context(|| format!("unexpected provider output: {line}"))?;
        let field = |k: &str| -> anyhow::Result<String> {
            ready[k]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("provider ready line lacks {k}"))
        };
        Ok(OidcProvider {
            issuer: field("issuer")?,
            audience: field("audience")?,
            token_endpoint: field("token_endpoint")?,
            http: reqwest::Client::new(),
            _child: child,
            _stdin: stdin,
        })
    }

    /// A genuine RS256 access token for a client (client credentials grant).
    pub async fn token(&self, client: &str) -> anyhow::Result<String> {
        self.token_for_resource(client, "urn:warden").await
    }

    /// `resource` picks the algorithm: `urn:warden` (RS256),
    /// `urn:warden:es256`, `urn:warden:eddsa`.
    pub async fn token_for_resource(&self, client: &str, resource: &str) -> anyhow::Result<String> {
        let secret = format!("{client}-secret");
        let resp = self
            .http
            .post(&self.token_endpoint)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_secret", &secret),
                ("resource", resource),
            ])
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            bail!("token request for {client} failed: {status} {body}");
        }
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("no access_token in the token response")
    }

    /// Signs arbitrary claims. `key`: `current` (the provider's real key),
    /// `foreign` (a key not in the JWKS), `public-as-hmac` (HS256 keyed with
    /// the RSA public key). `alg` may be `none`.
    pub async fn sign(&self, claims: Value, alg: &str, key: &str) -> anyhow::Result<String> {
        self.sign_with(json!({"claims": claims, "alg": alg, "key": key}))
            .await
    }

    /// Full control over the `/__test/sign` request (e.g. a `kid` override).
    pub async fn sign_with(&self, request: Value) -> anyhow::Result<String> {
        let body: Value = self
            .http
            .post(format!("{}/__test/sign", self.issuer))
            .json(&request)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        body["token"]
            .as_str()
            .map(str::to_owned)
            .context("no token")
    }

    /// Claims a valid token for `sub` would carry, expiring in `ttl_secs`
    /// (negative: already expired).
    pub fn claims(&self, sub: &str, groups: &[&str], ttl_secs: i64) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let now = i64::try_from(now).unwrap_or(0);
        json!({
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "groups": groups,
            "iat": now,
            "exp": now + ttl_secs,
        })
    }

    /// Replaces every signing key with a new one (new `kid`s).
    pub async fn rotate(&self) -> anyhow::Result<()> {
        self.http
            .post(format!("{}/__test/rotate", self.issuer))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// How many times the JWKS has been fetched.
    pub async fn jwks_requests(&self) -> anyhow::Result<u64> {
        let body: Value = self
            .http
            .get(format!("{}/__test/stats", self.issuer))
            .send()
            .await?
            .json()
            .await?;
        body["jwks_requests"].as_u64().context("no jwks_requests")
    }

    /// A TOML `[[issuer]]` block trusting this provider.
    pub fn issuer_toml(&self) -> String {
        format!(
            "[[issuer]]\nname = \"test-idp\"\nissuer = \"{}\"\naudiences = [\"{}\"]\njwks_min_refresh = \"1s\"\n",
            self.issuer, self.audience
        )
    }
}
