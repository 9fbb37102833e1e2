//! `warden audit verify`: recompute the request records' hash chain.

use anyhow::Context as _;
use serde_json::json;
use warden_store::chain::{Verdict, hex};

use crate::cli::AuditCommand;
use crate::cmd::{load_config, open_store};

#[expect(clippy::print_stdout, reason = "the command's output")]
pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify { config, db, json } = command;
    let store = match db {
        Some(path) => warden_store::SqliteStore::open(&path)
            .await
            .with_context(|| format!("opening {}", path.display()))?,
        None => open_store(&load_config(config.config.as_deref())?).await?,
    };
    let verdict = store.verify_chain().await?;
    match &verdict {
        Verdict::Intact {
            events,
            unchained,
            head,
        } => {
            let (head_seq, head_hash) =
                head.map_or((None, None), |(s, h)| (Some(s), Some(hex(&h))));
            if json {
                println!(
                    "{}",
                    json!({"intact": true, "events": events, "unchained": unchained,
                           "head_seq": head_seq, "head_hash": head_hash})
                );
            } else {
                println!("intact: {events} chained record(s)");
                if *unchained > 0 {
                    println!(
                        "        {unchained} record(s) before the chain began are not covered"
                    );
                }
                if let (Some(seq), Some(hash)) = (head_seq, head_hash) {
                    println!("head:   seq {seq} {hash}");
                }
            }
            Ok(())
        }
        Verdict::Broken { seq, reason } => {
            if json {
                println!("{}", json!({"intact": false, "seq": seq, "reason": reason}));
            }
            anyhow::bail!("audit trail broken at seq {seq}: {reason}")
        }
    }
}
