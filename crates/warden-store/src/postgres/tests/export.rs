//! The streaming export's cursors on PostgreSQL: the same contract as on
//! SQLite, and one cursor shared by replicas.

use super::TestDb;
use crate::RecordStore as _;

#[tokio::test]
async fn cursors_are_named_and_never_move_back() {
    let db = TestDb::new().await;
    let store = db.store().await;
    crate::export::cursors_are_named_and_never_move_back(&store).await;
}

#[tokio::test]
async fn replicas_share_a_cursor_that_only_moves_forward() {
    let db = TestDb::new().await;
    let (a, b) = (db.store().await, db.store().await);
    a.save_export_cursor("default", 40).await.expect("save");
    assert_eq!(b.export_cursor("default").await.expect("read"), Some(40));
    // A slower replica acknowledges an older batch after the faster one.
    b.save_export_cursor("default", 25).await.expect("save");
    assert_eq!(a.export_cursor("default").await.expect("read"), Some(40));
    let (x, y) = tokio::join!(
        a.save_export_cursor("default", 70),
        b.save_export_cursor("default", 55)
    );
    x.expect("save");
    y.expect("save");
    assert_eq!(a.export_cursor("default").await.expect("read"), Some(70));
}
