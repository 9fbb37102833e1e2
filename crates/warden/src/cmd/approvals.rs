//! `warden approvals list|show|approve|deny|grants|revoke-grant`: an
//! approver's client for the running gateway's approvals API
//! (`/admin/v1/approvals`, `/admin/v1/grants`). It authenticates like any
//! caller (`--token`, `WARDEN_TOKEN`: an OIDC access token or a Warden
//! key), so who decides is checked, and recorded, by the gateway.

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::cli::{ApprovalsCommand, ServerArg};

#[expect(clippy::print_stdout, reason = "the command's output")]
pub async fn run(server: &ServerArg, command: ApprovalsCommand) -> anyhow::Result<()> {
    let token = server
        .token
        .as_deref()
        .context("an approver's token is needed: --token or WARDEN_TOKEN")?;
    let client = warden_identity::http::client_builder()
        .build()
        .context("cannot set up an HTTP client")?;
    let base = server.url.trim_end_matches('/');
    let call = async |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let resp = request
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {base}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let message = value["error"]["message"]
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            let code = value["error"]["code"].as_str().unwrap_or("error");
            anyhow::bail!("{status} {code}: {message}");
        }
        anyhow::Ok(value)
    };
    use reqwest::Method;
    match command {
        ApprovalsCommand::List { state, json } => {
            let query = state.map(|s| format!("?state={s}")).unwrap_or_default();
            let v = call(Method::GET, format!("/admin/v1/approvals{query}"), None).await?;
            let data = v["data"].as_array().cloned().unwrap_or_default();
            if json {
                for a in &data {
                    println!("{a}");
                }
            } else {
                println!(
                    "{:<32} {:<9} {:<16} {:<16} {:<18} excerpt",
                    "id", "state", "requester", "model", "rule"
                );
                for a in &data {
                    println!(
                        "{:<32} {:<9} {:<16} {:<16} {:<18} {}",
                        a["id"].as_str().unwrap_or("-"),
                        a["state"].as_str().unwrap_or("-"),
                        a["requester"]["subject"].as_str().unwrap_or("-"),
                        a["summary"]["model"].as_str().unwrap_or("-"),
                        a["rule"].as_str().unwrap_or("-"),
                        a["summary"]["excerpt"]
                            .as_str()
                            .unwrap_or("")
                            .chars()
                            .take(60)
                            .collect::<String>()
                    );
                }
            }
        }
        ApprovalsCommand::Show { id } => {
            let v = call(Method::GET, format!("/admin/v1/approvals/{id}"), None).await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        ApprovalsCommand::Approve { id, comment, grant } => {
            let v = call(
                Method::POST,
                format!("/admin/v1/approvals/{id}/approve"),
                Some(json!({"comment": comment, "grant": grant})),
            )
            .await?;
            println!(
                "{}: {}{}",
                id,
                v["state"].as_str().unwrap_or("-"),
                v["grant_id"]
                    .as_str()
                    .map(|g| format!(" (grant {g})"))
                    .unwrap_or_default()
            );
        }
        ApprovalsCommand::Deny { id, comment } => {
            let v = call(
                Method::POST,
                format!("/admin/v1/approvals/{id}/deny"),
                Some(json!({"comment": comment})),
            )
            .await?;
            println!("{}: {}", id, v["state"].as_str().unwrap_or("-"));
        }
        ApprovalsCommand::Grants { json } => {
            let v = call(Method::GET, "/admin/v1/grants".to_owned(), None).await?;
            for g in v["data"].as_array().cloned().unwrap_or_default() {
                if json {
                    println!("{g}");
                } else {
                    println!(
                        "{:<32} {:<16} {:<24} expires_ms {} {}",
                        g["id"].as_str().unwrap_or("-"),
                        g["principal"]["subject"].as_str().unwrap_or("-"),
                        g["models"].to_string(),
                        g["expires_ms"],
                        if g["revoked_ms"].is_null() {
                            ""
                        } else {
                            "(revoked)"
                        }
                    );
                }
            }
        }
        ApprovalsCommand::RevokeGrant { id } => {
            call(Method::POST, format!("/admin/v1/grants/{id}/revoke"), None).await?;
            println!("{id}: revoked");
        }
    }
    Ok(())
}
