//! `warden keys create|list|revoke`, straight against the configured store.

use std::path::Path;

use serde_json::json;
use warden_core::now_ms;
use warden_identity::{KeyManager, KeySpec};

use crate::cli::KeysCommand;
use crate::cmd::{load_config_lenient, open_store, operator};

fn time_of(ms: Option<i64>) -> String {
    ms.and_then(|ms| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
    })
    .and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_else(|| "-".into())
}

#[expect(clippy::print_stdout, reason = "the command's output")]
pub async fn run(config: Option<&Path>, command: KeysCommand) -> anyhow::Result<()> {
    let config = load_config_lenient(config)?;
    let keys = KeyManager::new(open_store(&config).await?);
    match command {
        KeysCommand::Create {
            owner,
            mut groups,
            models,
            expires,
            description,
            json,
        } => {
            if groups.is_empty() {
                groups.push(warden_config::DEFAULT_KEY_GROUP.to_owned());
            }
            let expires_at_ms = expires
                .map(|d| now_ms().saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
            let new = keys
                .create(
                    KeySpec {
                        owner: owner.clone(),
                        groups: groups.clone(),
                        models: (!models.is_empty()).then_some(models),
                        description,
                        expires_at_ms,
                    },
                    &operator(),
                )
                .await?;
            if json {
                println!(
                    "{}",
                    json!({"id": new.id, "key": new.reveal(), "owner": owner, "groups": groups,
                           "expires_at": expires_at_ms.map(|ms| time_of(Some(ms)))})
                );
            } else {
                println!(
                    "Created key {} for {owner} (groups: {}).",
                    new.id,
                    groups.join(", ")
                );
                println!(
                    "It is shown only now; store it like a password:\n\n  {}\n",
                    new.reveal()
                );
                println!(
                    "Use it as OPENAI_API_KEY with OPENAI_BASE_URL=http://{}/v1",
                    config.server.listen
                );
            }
        }
        KeysCommand::List { json } => {
            let list = keys.list().await?;
            if json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|k| {
                        json!({"id": k.id, "owner": k.owner, "groups": k.groups, "models": k.models,
                               "description": k.description, "created_at": time_of(Some(k.created_at_ms)),
                               "expires_at": k.expires_at_ms.map(|_| time_of(k.expires_at_ms)),
                               "revoked_at": k.revoked_at_ms.map(|_| time_of(k.revoked_at_ms))})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!(
                    "{:<14} {:<16} {:<20} {:<26} {:<26} STATUS",
                    "ID", "OWNER", "GROUPS", "CREATED", "EXPIRES"
                );
                for k in list {
                    let status = if k.revoked_at_ms.is_some() {
                        "revoked"
                    } else if k.expires_at_ms.is_some_and(|e| e <= now_ms()) {
                        "expired"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<14} {:<16} {:<20} {:<26} {:<26} {status}",
                        k.id,
                        k.owner,
                        k.groups.join(","),
                        time_of(Some(k.created_at_ms)),
                        time_of(k.expires_at_ms)
                    );
                }
            }
        }
        KeysCommand::Revoke { id } => {
            if keys.revoke(&id, &operator()).await? {
                println!("Revoked key {id}. Its next request is refused.");
            } else {
                anyhow::bail!("no active key with id `{id}`");
            }
        }
    }
    Ok(())
}
