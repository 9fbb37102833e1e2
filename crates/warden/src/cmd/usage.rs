//! `warden usage --by user|group|model|key --since 7d`: sums from the
//! request records (spend uses the price table in force when each call ran).

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use warden_store::UsageBy;

use crate::cmd::{load_config_lenient, open_store};

#[expect(clippy::print_stdout, reason = "the command's output")]
pub async fn run(
    config: Option<&Path>,
    by: &str,
    since: Duration,
    json: bool,
) -> anyhow::Result<()> {
    let by = match by {
        "user" => UsageBy::User,
        "group" => UsageBy::Group,
        "model" => UsageBy::Model,
        "key" => UsageBy::Key,
        other => anyhow::bail!("cannot sum by `{other}`: use user, group, model or key"),
    };
    let config = load_config_lenient(config)?;
    let store = open_store(&config).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let since_ms = i64::try_from(now.saturating_sub(since).as_millis()).unwrap_or(0);
    let rows = store.usage(by, since_ms).await?;
    let usd = |micros: u64| micros as f64 / 1e6;
    if json {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({"key": r.key, "requests": r.requests, "input_tokens": r.input_tokens,
                       "output_tokens": r.output_tokens, "cost_usd": usd(r.cost_usd_micros)})
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    println!(
        "{:<32} {:>10} {:>14} {:>14} {:>12}",
        "KEY", "REQUESTS", "INPUT TOKENS", "OUTPUT TOKENS", "COST (USD)"
    );
    for r in rows {
        println!(
            "{:<32} {:>10} {:>14} {:>14} {:>12.4}",
            r.key,
            r.requests,
            r.input_tokens,
            r.output_tokens,
            usd(r.cost_usd_micros)
        );
    }
    Ok(())
}
