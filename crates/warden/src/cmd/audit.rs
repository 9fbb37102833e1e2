//! `warden audit verify|checkpoint|keygen|export|prove|check-proof`: the
//! audit trail's hash chain (request records and audit events, one
//! sequence) and signed checkpoints of its head.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::json;
use std::sync::Arc;
use warden_core::AuditEvent;
use warden_store::chain::{Verdict, hex};
use warden_store::checkpoint::{
    Checkpoint, key_pair_pem, signing_key_from_pem, unhex, verifying_key_from_pem,
};

use warden_store::{Entry, SqliteStore, Store, merkle, trail};

use crate::cli::{AuditCommand, ConfigArg};
use crate::cmd::{load_config_lenient, open_store};

async fn store(config: &ConfigArg, db: Option<&Path>) -> anyhow::Result<Arc<dyn Store>> {
    match db {
        Some(path) => Ok(Arc::new(
            SqliteStore::open(path)
                .await
                .with_context(|| format!("opening {}", path.display()))?,
        )),
        None => open_store(&load_config_lenient(config.config.as_deref())?).await,
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify {
            config,
            db,
            checkpoint,
            public_key,
            json,
        } => verify(&config, db.as_deref(), checkpoint, public_key, json).await,
        AuditCommand::Checkpoint {
            config,
            db,
            key,
            out,
        } => checkpoint(&config, db.as_deref(), &key, out.as_deref()).await,
        AuditCommand::Keygen { private, public } => keygen(&private, &public),
        AuditCommand::Prune {
            config,
            db,
            older_than,
        } => prune(&config, db.as_deref(), older_than.into()).await,
        AuditCommand::Prove {
            config,
            db,
            seq,
            checkpoint,
        } => prove(&config, db.as_deref(), seq, &checkpoint).await,
        AuditCommand::CheckProof { proof, public_key } => check_proof(&proof, &public_key),
        AuditCommand::Export {
            config,
            db,
            since,
            after_seq,
            format,
        } => {
            anyhow::ensure!(format == "jsonl", "unknown format `{format}`: use jsonl");
            let since_ms = since.map(|s| s.cutoff_ms(warden_core::now_ms()));
            export(&config, db.as_deref(), since_ms, after_seq).await
        }
    }
}

#[expect(clippy::print_stdout, reason = "the command's output")]
async fn verify(
    config: &ConfigArg,
    db: Option<&Path>,
    checkpoint: Option<PathBuf>,
    public_key: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    let verifying = public_key
        .as_deref()
        .map(|key| verifying_key_from_pem(&read(key)?).map_err(anyhow::Error::from))
        .transpose()?;
    let expected = match (checkpoint, &verifying) {
        (Some(cp), Some(key)) => {
            let cp = Checkpoint::verified(&read(&cp)?, key)
                .with_context(|| format!("checkpoint {}", cp.display()))?;
            let head = cp
                .head_hash()
                .context("checkpoint head is not a SHA-256 in hex")?;
            Some((cp.seq, head))
        }
        _ => None,
    };
    let store = store(config, db).await?;
    let anchor = store.anchor().await?;
    if let (Some(anchor), Some(key)) = (&anchor, &verifying) {
        // A pruned trail is verified from its anchor: it must be signed.
        anchor
            .check(key)
            .context("the pruned trail's anchor checkpoint is not signed by this key")?;
    }
    let verdict = trail::verify(&*store, expected).await?;
    match &verdict {
        Verdict::Intact {
            events,
            unchained,
            head,
        } => {
            let (head_seq, head_hash) =
                head.map_or((None, None), |(s, h)| (Some(s), Some(hex(&h))));
            // The chain holds; recorded bodies are held to its records.
            let bodies = trail::verify_bodies(&*store).await?;
            if let Some(p) = bodies.problems.first() {
                if json {
                    println!(
                        "{}",
                        json!({"intact": false, "seq": p.seq, "request_id": p.request_id,
                               "reason": p.reason, "body_problems": bodies.problems})
                    );
                }
                anyhow::bail!(
                    "recorded body of request {} (seq {}) broken: {}; {} problem(s) in all",
                    p.request_id,
                    p.seq.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    p.reason,
                    bodies.problems.len()
                );
            }
            if json {
                println!(
                    "{}",
                    json!({"intact": true, "events": events, "unchained": unchained,
                           "head_seq": head_seq, "head_hash": head_hash,
                           "checkpoint_seq": expected.map(|(s, _)| s),
                           "pruned_through": anchor.as_ref().map(|a| a.seq),
                           "bodies_checked": bodies.checked})
                );
            } else {
                println!("intact: {events} chained entries");
                if *unchained > 0 {
                    println!(
                        "        {unchained} record(s) before the chain began are not covered"
                    );
                }
                if let Some((seq, _)) = expected {
                    println!("        matches the signed checkpoint at seq {seq}");
                }
                if let Some(a) = &anchor {
                    println!(
                        "        pruned through seq {}: verified from that checkpoint",
                        a.seq
                    );
                }
                if bodies.checked > 0 {
                    println!(
                        "        {} recorded bodies match their records",
                        bodies.checked
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

#[expect(clippy::print_stdout, reason = "the command's output")]
async fn prune(
    config: &ConfigArg,
    db: Option<&Path>,
    older_than: std::time::Duration,
) -> anyhow::Result<()> {
    let store = store(config, db).await?;
    let cutoff = warden_core::now_ms()
        .saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX));
    match trail::prune(&*store, cutoff).await? {
        None => println!("nothing to prune: no newer signed checkpoint older than the window"),
        Some((cp, pruned)) => {
            let event = AuditEvent::new("audit.prune", crate::cmd::operator(), None)
                .with("through_seq", cp.seq.to_string())
                .with("entries", pruned.to_string())
                .with("anchor_root", cp.root.clone());
            store.append(&[Entry::Event(event)]).await?;
            println!(
                "pruned {pruned} entries through seq {}; the rest verifies from that checkpoint",
                cp.seq
            );
        }
    }
    Ok(())
}

#[expect(clippy::print_stdout, reason = "the command's output")]
async fn checkpoint(
    config: &ConfigArg,
    db: Option<&Path>,
    key: &Path,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let key = signing_key_from_pem(&read(key)?)?;
    let store = store(config, db).await?;
    // Never sign over a trail that does not verify.
    let head = match trail::verify(&*store, None).await? {
        Verdict::Intact { head: Some(h), .. } => h,
        Verdict::Intact { head: None, .. } => anyhow::bail!("the trail is empty: nothing to sign"),
        Verdict::Broken { seq, reason } => {
            anyhow::bail!("not signing: audit trail broken at seq {seq}: {reason}")
        }
    };
    // Signed from the head row (which the verify above just held to the
    // rows) and kept in the store, where retention pruning finds it.
    let cp = trail::sign_checkpoint(&*store, &key, head.0 - 1)
        .await?
        .context("the trail's head moved back while signing")?;
    let text = serde_json::to_string_pretty(&cp)?;
    match out {
        Some(path) => std::fs::write(path, format!("{text}\n"))
            .with_context(|| format!("writing {}", path.display()))?,
        None => println!("{text}"),
    }
    Ok(())
}

async fn export(
    config: &ConfigArg,
    db: Option<&Path>,
    since_ms: Option<i64>,
    mut after: i64,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let store = store(config, db).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    loop {
        let rows = trail::rows(&*store, after, trail::PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in rows {
            let time_ms = match &row.entry {
                Entry::Request(r) => r.started_at_ms,
                Entry::Event(e) => e.time_ms,
            };
            if since_ms.is_some_and(|s| time_ms < s) {
                continue;
            }
            writeln!(out, "{}", warden_store::export::line(&row))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// What `prove` prints and `check-proof` reads.
#[derive(serde::Serialize, serde::Deserialize)]
struct Proof {
    version: String,
    seq: i64,
    /// The leaf's 0-based index in the tree.
    index: u64,
    entry: Entry,
    /// Hex sibling hashes, leaf to root.
    path: Vec<String>,
    checkpoint: Checkpoint,
}

const PROOF_VERSION: &str = "warden.proof.v2";

#[expect(clippy::print_stdout, reason = "the command's output")]
async fn prove(
    config: &ConfigArg,
    db: Option<&Path>,
    seq: i64,
    checkpoint: &Path,
) -> anyhow::Result<()> {
    let cp: Checkpoint = serde_json::from_str(&read(checkpoint)?)
        .with_context(|| format!("checkpoint {}", checkpoint.display()))?;
    anyhow::ensure!(
        seq <= cp.seq,
        "record {seq} is after the checkpoint (seq {}): sign a newer checkpoint first",
        cp.seq
    );
    let store = store(config, db).await?;
    let leaves = trail::leaves(&*store, cp.seq).await?;
    let hashes: Vec<_> = leaves.iter().map(|(_, h)| *h).collect();
    anyhow::ensure!(
        hashes.len() as u64 == cp.tree_size && Some(merkle::root(&hashes)) == cp.root_hash(),
        "the trail no longer matches this checkpoint's tree (size {}, root {}): run `warden audit verify`",
        cp.tree_size,
        cp.root
    );
    let index = leaves
        .iter()
        .position(|(s, _)| *s == seq)
        .with_context(|| format!("no chained record with seq {seq}"))?;
    let entry = trail::rows(&*store, seq - 1, 1)
        .await?
        .into_iter()
        .find(|r| r.seq == seq)
        .with_context(|| format!("no entry with seq {seq}"))?
        .entry;
    let proof = Proof {
        version: PROOF_VERSION.to_owned(),
        seq,
        index: index as u64,
        entry,
        path: merkle::path(index, &hashes)
            .iter()
            .map(|h| hex(h))
            .collect(),
        checkpoint: cp,
    };
    println!("{}", serde_json::to_string_pretty(&proof)?);
    Ok(())
}

#[expect(clippy::print_stdout, reason = "the command's output")]
fn check_proof(proof: &Path, public_key: &Path) -> anyhow::Result<()> {
    let key = verifying_key_from_pem(&read(public_key)?)?;
    let proof: Proof = serde_json::from_str(&read(proof)?)
        .with_context(|| format!("proof {}", proof.display()))?;
    anyhow::ensure!(
        proof.version == PROOF_VERSION,
        "unknown proof version {}",
        proof.version
    );
    // The checkpoint is trusted only once its signature verifies.
    proof.checkpoint.check(&key)?;
    let cp = proof.checkpoint;
    let root = cp
        .root_hash()
        .context("checkpoint root is not a SHA-256 in hex")?;
    let path: Vec<_> = proof
        .path
        .iter()
        .map(|h| unhex(h).context("path entry is not a SHA-256 in hex"))
        .collect::<anyhow::Result<_>>()?;
    let leaf = merkle::leaf_hash(proof.seq, &proof.entry);
    anyhow::ensure!(
        merkle::verify_inclusion(proof.index, cp.tree_size, &leaf, &path, &root),
        "proof does not verify: record {} is not in the trail this checkpoint signed (or was altered)",
        proof.seq
    );
    let what = match &proof.entry {
        Entry::Request(r) => format!("request {}", r.request_id),
        Entry::Event(e) => format!("event {} {}", e.action, e.event_id),
    };
    println!(
        "valid: seq {} ({what}) is in the trail of {} entries signed at {} ms",
        proof.seq, cp.tree_size, cp.time_ms
    );
    Ok(())
}

fn keygen(private: &Path, public: &Path) -> anyhow::Result<()> {
    let (private_pem, public_pem) = key_pair_pem(rand::random())?;
    write_private(private, &private_pem)?;
    std::fs::write(public, public_pem).with_context(|| format!("writing {}", public.display()))?;
    Ok(())
}

/// Created with mode 0600 on Unix: the key signs the trail.
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}
