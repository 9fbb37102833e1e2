//! `warden pii scan`: the gateway's detectors and masking, on sample data.

use std::io::{BufRead as _, Read as _, Write as _};

use anyhow::Context as _;
use serde_json::{Value, json};
use warden_pii::mask::{Action, KINDS, Profile, Session};

use crate::cli::PiiCommand;
use crate::cmd::load_config_lenient;

pub fn run(command: PiiCommand) -> anyhow::Result<()> {
    let PiiCommand::Scan {
        file,
        mask,
        profile,
        phone_regions,
        config,
    } = command;
    let mut profile = match profile {
        Some(name) => {
            let config = load_config_lenient(config.config.as_deref())?;
            let profile =
                config.pii.profiles.get(&name).with_context(|| {
                    format!("no profile `{name}` in the config's [pii.profiles]")
                })?;
            // The one secret a scan can use: a hash made without the
            // configured key would not be the hash the gateway writes.
            if profile.actions.values().any(|a| *a == Action::Hash)
                && let Some(missing) = config
                    .missing_secrets
                    .iter()
                    .find(|m| m.key == "pii.hash_key_env")
            {
                anyhow::bail!("{missing}: profile `{name}` hashes with it");
            }
            (**profile).clone()
        }
        None => Profile {
            name: "redact-all".into(),
            actions: KINDS.iter().map(|k| (*k, Action::Redact)).collect(),
            hash_key: b"warden-pii-scan-default-key".to_vec(),
            ..Profile::default()
        },
    };
    if !phone_regions.is_empty() {
        profile.detect = warden_pii::Detect::with_regions(phone_regions.iter().map(String::as_str))
            .map_err(anyhow::Error::msg)?;
    }
    let mut input = String::new();
    match file.as_deref().filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            input = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
        }
        None => {
            std::io::stdin().read_to_string(&mut input)?;
        }
    }
    let jsonl = input.trim_start().starts_with('{');
    let mut out = std::io::stdout().lock();
    if jsonl {
        for (n, line) in input.as_bytes().lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let record: Value =
                serde_json::from_str(&line).with_context(|| format!("line {}: not JSON", n + 1))?;
            let text = record["text"]
                .as_str()
                .with_context(|| format!("line {}: no string `text`", n + 1))?;
            let id = record.get("id").cloned().unwrap_or(Value::Null);
            writeln!(out, "{}", scan_one(id, text, mask, &profile))?;
        }
    } else {
        writeln!(out, "{}", scan_one(Value::Null, &input, mask, &profile))?;
    }
    Ok(())
}

fn scan_one(id: Value, text: &str, mask: bool, profile: &Profile) -> Value {
    let spans: Vec<Value> = warden_pii::scan_with(text, &profile.detect)
        .iter()
        .map(|f| {
            let (start, end) = warden_pii::char_offsets(text, f);
            json!({"start": start, "end": end, "type": f.kind.as_str()})
        })
        .collect();
    let mut line = json!({"id": id, "spans": spans});
    if mask {
        let masked = profile
            .mask(text, &mut Session::default(), &mut Vec::new())
            .unwrap_or_else(|| text.to_owned());
        line["masked"] = Value::String(masked);
    }
    line
}
