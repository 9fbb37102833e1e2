//! Against a real PostgreSQL: `WARDEN_TEST_PG`, else
//! `postgres://postgres@127.0.0.1:5432/postgres` (CI starts it). A test that
//! cannot reach it fails; it is never skipped. Each test works in its own
//! schema with a random name, dropped when the test ends, so tests run in
//! parallel (and in parallel processes) against one server.

mod chain;
mod export;
mod keys;
mod prune;
mod reads;
mod records;
mod replicas;
mod same_as_sqlite;

use std::hash::{BuildHasher as _, Hasher as _};
use std::str::FromStr as _;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use warden_core::Usage;

use super::PostgresStore;

fn server_url() -> String {
    std::env::var("WARDEN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// One test's schema: created on [`TestDb::new`], dropped (with everything
/// in it) on drop, even when the test panics.
#[derive(Debug)]
struct TestDb {
    url: String,
    schema: String,
}

impl TestDb {
    async fn new() -> TestDb {
        let url = server_url();
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let schema = format!("warden_test_{}_{random:016x}", std::process::id());
        let mut conn = PgConnection::connect(&url).await.unwrap_or_else(|e| {
            let at = super::PostgresStore::describe(&url);
            panic!("PostgreSQL at {at} must be running for these tests: {e}")
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .expect("create schema");
        conn.close().await.expect("close");
        TestDb { url, schema }
    }

    /// Connection options with this test's schema as the search path.
    fn options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&self.url)
            .expect("url")
            .options([("search_path", self.schema.as_str())])
    }

    /// A new store (its own pool: another replica) on this schema.
    async fn store(&self) -> PostgresStore {
        PostgresStore::connect_with(self.options())
            .await
            .expect("connect and migrate")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // the cleanup gets a thread and a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&url).await {
                    let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

use crate::test_records::record;

/// Runs tampering (or inspection) SQL on the store's schema.
async fn exec(store: &PostgresStore, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

const USAGE: Usage = Usage {
    input_tokens: 10,
    output_tokens: 5,
    total_tokens: 15,
    cached_tokens: 2,
};

#[tokio::test]
async fn the_url_chooses_the_schema() {
    let db = TestDb::new().await;
    let url = format!("{}?options[search_path]={}", db.url, db.schema);
    let store = PostgresStore::connect(&url).await.expect("connect");
    assert!(crate::Store::is_ready(&store));
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = $1 AND table_name = 'chain_head'",
    )
    .bind(&db.schema)
    .fetch_one(store.pool())
    .await
    .expect("tables");
    assert_eq!(tables, 1, "migrated into the schema the URL names");
    store.pool().close().await;
    assert!(!crate::Store::is_ready(&store));
}

#[test]
fn a_described_url_never_shows_its_password() {
    let said = super::PostgresStore::describe("postgres://warden:s3cr3t-pw@db.internal:5433/audit");
    assert_eq!(said, "db.internal:5433/audit");
    assert!(!super::PostgresStore::describe("postgres://u:s3cr3t-pw@h/d").contains("s3cr3t"));
}
