//! Several replicas (stores with pools of their own) appending to one
//! database at once keep one unforked chain with consecutive seqs.

use warden_core::{Actor, AuditEvent};

use super::{TestDb, USAGE, record};
use crate::chain::Verdict;
use crate::{Entry, KeyStore as _, RecordStore, StoredKey, merkle, trail};

const REPLICAS: usize = 4;
const APPENDS: usize = 60;
/// Batch sizes each replica cycles through (offset by its number).
const SIZES: [usize; 6] = [1, 2, 5, 1, 13, 40];

/// The entries one replica appends in its `n`th append: records and events
/// interleaved.
fn batch(replica: usize, n: usize) -> Vec<Entry> {
    let size = SIZES[(replica + n) % SIZES.len()];
    (0..size)
        .map(|i| {
            let id = format!("rep{replica}-{n}-{i}");
            if (n + i).is_multiple_of(3) {
                Entry::Event(AuditEvent::new("test.replica", Actor::warden(), Some(id)))
            } else {
                Entry::Request(record(&id, (i % 2 == 0).then_some(USAGE)))
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_appending_at_once_keep_one_chain_with_consecutive_seqs() {
    let db = TestDb::new().await;
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        replicas.push(db.store().await);
    }
    let writers_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = replicas
        .iter()
        .cloned()
        .enumerate()
        .map(|(replica, store)| {
            tokio::spawn(async move {
                let mut appended = 0;
                for n in 0..APPENDS {
                    let entries = batch(replica, n);
                    store.append(&entries).await.expect("append");
                    appended += entries.len();
                    if n % 20 == 7 {
                        // A key change from this replica: its event joins
                        // the same chain in the same transaction.
                        let key = StoredKey {
                            id: format!("k{replica}-{n}"),
                            key_hash: vec![7; 32],
                            owner: "ci".into(),
                            groups: vec!["ci".into()],
                            models: None,
                            description: None,
                            created_at_ms: 1,
                            expires_at_ms: None,
                            revoked_at_ms: None,
                        };
                        store.insert_key(&key, &Actor::warden()).await.expect("key");
                        appended += 1;
                    }
                    if n % 25 == 3 {
                        // A batch that fails (it repeats a request id)
                        // takes no seq with it.
                        let dup = record(&format!("dup{replica}-{n}"), None);
                        let failing = [Entry::Request(dup.clone()), Entry::Request(dup)];
                        assert!(store.append(&failing).await.is_err(), "duplicate id");
                    }
                }
                appended
            })
        })
        .collect();
    // A verifier reading the live trail meanwhile: every page is one
    // snapshot, so it never sees a gap that the next commit would fill.
    let reader = {
        let store = replicas[0].clone();
        let writers_done = writers_done.clone();
        tokio::spawn(async move {
            // The heads the verifier saw intact while the writers ran.
            let mut heads = Vec::new();
            while !writers_done.load(std::sync::atomic::Ordering::Relaxed) {
                match trail::verify(&store, None).await.expect("verify") {
                    Verdict::Intact { head, .. } => heads.push(head.map_or(0, |h| h.0)),
                    broken => panic!("{broken:?}"),
                }
            }
            heads
        })
    };
    let mut total = 0;
    for writer in writers {
        total += writer.await.expect("writer");
    }
    writers_done.store(true, std::sync::atomic::Ordering::Relaxed);
    let n = i64::try_from(total).expect("fits");
    let heads = reader.await.expect("reader");
    assert!(
        heads.iter().any(|&h| 0 < h && h < n),
        "no verify ran on a trail still being written: {heads:?}"
    );

    let store = &replicas[0];
    match trail::verify(store, None).await.expect("verify") {
        Verdict::Intact {
            events,
            unchained,
            head,
        } => {
            assert_eq!(
                (events, unchained),
                (u64::try_from(total).expect("fits"), 0)
            );
            assert_eq!(head.map(|(seq, _)| seq), Some(n));
        }
        other => panic!("{other:?}"),
    }
    let seqs: Vec<i64> = trail::rows(store, 0, n + 100)
        .await
        .expect("rows")
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "gap-free, from 1");
    let head = store.chain_head().await.expect("head");
    assert_eq!(
        (head.seq, head.frontier.size()),
        (n, u64::try_from(n).expect("fits"))
    );
    let leaves: Vec<_> = trail::leaves(store, n)
        .await
        .expect("leaves")
        .into_iter()
        .map(|(_, h)| h)
        .collect();
    assert_eq!(head.frontier.root(), merkle::root(&leaves));
    for other in &replicas[1..] {
        assert_eq!(
            other.chain_head().await.expect("head"),
            head,
            "one head for all"
        );
    }
    // Every replica's entries are all there, in the order it appended them.
    for replica in 0..REPLICAS {
        let prefix = format!("rep{replica}-");
        let mine: Vec<String> = trail::rows(store, 0, n + 100)
            .await
            .expect("rows")
            .into_iter()
            .filter_map(|r| match r.entry {
                Entry::Request(r) => Some(r.request_id),
                Entry::Event(e) => e.target,
            })
            .filter(|id| id.starts_with(&prefix))
            .collect();
        let expected: Vec<String> = (0..APPENDS)
            .flat_map(|n| batch(replica, n))
            .map(|e| match e {
                Entry::Request(r) => r.request_id,
                Entry::Event(e) => e.target.unwrap_or_default(),
            })
            .collect();
        assert_eq!(mine, expected, "replica {replica}");
    }
}
