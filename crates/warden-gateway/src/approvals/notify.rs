//! Telling approvers: every `[[approvals.webhook]]` gets a POST when an
//! approval is requested and when it is decided. `generic` is the approval
//! as JSON, signed like the SIEM export (`X-Warden-Timestamp`,
//! `X-Warden-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." +
//! body)>`, a new timestamp per attempt so receivers can refuse replays);
//! `slack` is an incoming-webhook message (`text` plus `blocks`).
//!
//! Deliveries run in the background, five tries with backoff (250 ms,
//! doubling), and never hold up a call or a decision; each webhook's outcome
//! is handed back to be recorded (`approval.notify`). URLs may carry tokens
//! (Slack's do), so logs never show them.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use warden_config::{ApprovalWebhook, WebhookFormat};
use warden_core::approval::{Approval, ApprovalState};

/// What happened to the approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Requested,
    Decided,
}

impl Notice {
    pub const fn as_str(self) -> &'static str {
        match self {
            Notice::Requested => "approval.requested",
            Notice::Decided => "approval.decided",
        }
    }
}

/// One webhook's outcome: its index in the config, whether it took the
/// notice, after how many tries.
pub type Outcome = (usize, bool, u32);

#[derive(Debug, Clone)]
pub struct Notifier {
    hooks: Arc<Vec<ApprovalWebhook>>,
    client: reqwest::Client,
}

const TRIES: u32 = 5;

impl Notifier {
    pub fn new(hooks: &[ApprovalWebhook]) -> Result<Notifier, String> {
        let client = warden_identity::http::client_builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Notifier {
            hooks: Arc::new(hooks.to_vec()),
            client,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Posts the notice to every webhook in the background; `done` gets
    /// each webhook's outcome.
    pub fn send(
        &self,
        notice: Notice,
        approval: &Approval,
        done: impl Fn(Outcome) + Send + Sync + 'static,
    ) {
        if self.hooks.is_empty() {
            return;
        }
        let done = Arc::new(done);
        for (i, hook) in self.hooks.iter().enumerate() {
            let body = match hook.format {
                WebhookFormat::Generic => generic(notice, approval),
                WebhookFormat::Slack => slack(notice, approval),
            };
            let (client, hook, done) = (self.client.clone(), hook.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let (ok, tries) = deliver(&client, &hook, notice, body.to_string()).await;
                done((i, ok, tries));
            });
        }
    }
}

async fn deliver(
    client: &reqwest::Client,
    hook: &ApprovalWebhook,
    notice: Notice,
    body: String,
) -> (bool, u32) {
    let mut delay = Duration::from_millis(250);
    for attempt in 1..=TRIES {
        let mut request = client
            .post(hook.url.expose_secret())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-warden-event", notice.as_str());
        if let Some(secret) = &hook.secret {
            let now = u64::try_from(warden_core::now_ms() / 1000).unwrap_or(0);
            request = request
                .header("x-warden-timestamp", HeaderValue::from(now))
                .header("x-warden-signature", sign(secret, now, body.as_bytes()));
        }
        match request.body(body.clone()).send().await {
            Ok(resp) if resp.status().is_success() => return (true, attempt),
            Ok(resp) => {
                tracing::warn!(status = %resp.status(), attempt, "approval webhook refused the notice");
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), attempt, "approval webhook unreachable");
            }
        }
        if attempt < TRIES {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    (false, TRIES)
}

fn sign(secret: &SecretString, timestamp: u64, body: &[u8]) -> String {
    crate::siem::signature(secret, timestamp, body)
}

/// The generic payload: what happened and the approval as stored.
fn generic(notice: Notice, approval: &Approval) -> Value {
    json!({"type": notice.as_str(), "approval": approval})
}

fn who(approval: &Approval) -> String {
    approval
        .requester
        .subject
        .clone()
        .unwrap_or_else(|| "someone".into())
}

/// A Slack incoming-webhook message.
fn slack(notice: Notice, approval: &Approval) -> Value {
    let s = &approval.summary;
    let model = s.model.as_deref().unwrap_or("-");
    let cost = s.estimated_cost_usd_micros.map_or_else(
        || "unknown".to_owned(),
        |c| format!("${:.4}", c as f64 / 1e6),
    );
    let headline = match (notice, approval.state) {
        (Notice::Requested, _) => format!(
            "Approval needed: {} wants `{model}` on `{}` (rule `{}`)",
            who(approval),
            s.endpoint,
            approval.rule
        ),
        (Notice::Decided, ApprovalState::Approved) => {
            format!(
                "Approved: {} may use `{model}` (approval {})",
                who(approval),
                approval.id
            )
        }
        (Notice::Decided, state) => format!(
            "Approval {} for {} is {}",
            approval.id,
            who(approval),
            state.as_str()
        ),
    };
    let detail = format!(
        "*Approval* `{}`\n*Model* `{model}`  *Endpoint* `{}`  *Stream* {}\n*Tools* {}\n*Estimated cost* {cost}\n*Needs* {} approval(s) from {}\n> {}",
        approval.id,
        s.endpoint,
        s.stream,
        if s.tools.is_empty() {
            "none".to_owned()
        } else {
            s.tools.join(", ")
        },
        approval.quorum,
        approval.approver_groups.join(", "),
        s.excerpt
            .chars()
            .take(300)
            .collect::<String>()
            .replace('\n', " "),
    );
    json!({
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {"type": "section", "text": {"type": "mrkdwn", "text": detail}},
            {"type": "context", "elements": [{"type": "mrkdwn",
                "text": format!("`warden approvals approve {}` or `deny {}`", approval.id, approval.id)}]}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::Actor;
    use warden_core::approval::{ApprovalMode, CallSummary};

    fn approval() -> Approval {
        Approval {
            id: "apr_1".into(),
            created_ms: 0,
            expires_ms: 1,
            state: ApprovalState::Pending,
            mode: ApprovalMode::Hold,
            requester: Actor {
                subject: Some("intern".into()),
                ..Actor::default()
            },
            rule: "big".into(),
            summary: CallSummary {
                endpoint: "chat.completions".into(),
                model: Some("o3-pro".into()),
                estimated_cost_usd_micros: Some(2_500_000),
                excerpt: "hello".into(),
                ..CallSummary::default()
            },
            request_hash: "h".into(),
            policy_version: "p".into(),
            quorum: 2,
            approver_groups: vec!["security".into()],
            decisions: Vec::new(),
            decided_ms: None,
            used_ms: None,
            grant_id: None,
        }
    }

    #[test]
    fn slack_messages_say_who_what_and_how_to_decide() {
        let v = slack(Notice::Requested, &approval());
        let text = v["text"].as_str().expect("text");
        assert!(text.contains("intern") && text.contains("o3-pro") && text.contains("big"));
        let all = v.to_string();
        assert!(all.contains("$2.5000") && all.contains("warden approvals approve apr_1"));
        assert_eq!(
            generic(Notice::Decided, &approval())["type"],
            "approval.decided"
        );
    }
}
