//! Approvals and grants on PostgreSQL (see [`crate::approvals`]).

use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder, Row};
use warden_core::AuditEvent;
use warden_core::approval::{Approval, ApprovalState, Grant};

use super::PostgresStore;
use crate::StoreError;
use crate::approvals::{ApprovalStore, from_json, to_json};
use crate::chain::Entry;

fn events(list: &[AuditEvent]) -> Vec<Entry> {
    list.iter().cloned().map(Entry::Event).collect()
}

fn approval_row(row: &sqlx::postgres::PgRow) -> Result<(Approval, i64), StoreError> {
    let text: String = row.try_get("approval_json")?;
    Ok((from_json("approval_json", &text)?, row.try_get("version")?))
}

fn grant_row(row: &sqlx::postgres::PgRow) -> Result<Grant, StoreError> {
    let text: String = row.try_get("grant_json")?;
    from_json("grant_json", &text)
}

#[async_trait]
impl ApprovalStore for PostgresStore {
    async fn create_approval(&self, a: &Approval, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO approvals (id, created_ms, state, subject, issuer, version, approval_json) \
             VALUES ($1, $2, $3, $4, $5, 1, $6)",
        )
        .bind(&a.id)
        .bind(a.created_ms)
        .bind(a.state.as_str())
        .bind(&a.requester.subject)
        .bind(&a.requester.issuer)
        .bind(to_json(a))
        .execute(&mut *tx)
        .await?;
        PostgresStore::append_on(&mut tx, &[Entry::Event(event.clone())]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn approval(&self, id: &str) -> Result<Option<(Approval, i64)>, StoreError> {
        let row = sqlx::query("SELECT version, approval_json FROM approvals WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(approval_row).transpose()
    }

    async fn decided_in(&self, ids: &[String]) -> Result<Vec<(String, ApprovalState)>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
                "SELECT id, state FROM approvals WHERE state <> 'pending' AND id IN (",
            );
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            q.push(")");
            for row in q.build().fetch_all(&self.pool).await? {
                let state: String = row.try_get("state")?;
                let state = ApprovalState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("approvals.state: {state}")))?;
                out.push((row.try_get("id")?, state));
            }
        }
        Ok(out)
    }

    async fn list_approvals(
        &self,
        state: Option<ApprovalState>,
        limit: u32,
    ) -> Result<Vec<Approval>, StoreError> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT version, approval_json FROM approvals WHERE TRUE");
        if let Some(state) = state {
            q.push(" AND state = ").push_bind(state.as_str());
        }
        q.push(" ORDER BY created_ms DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| approval_row(r).map(|(a, _)| a))
            .collect()
    }

    async fn update_approval(
        &self,
        a: &Approval,
        version: i64,
        grant: Option<&Grant>,
        events_: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE approvals SET state = $1, version = version + 1, approval_json = $2 \
             WHERE id = $3 AND version = $4",
        )
        .bind(a.state.as_str())
        .bind(to_json(a))
        .bind(&a.id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(g) = grant {
            sqlx::query(
                "INSERT INTO grants (id, approval_id, subject, issuer, created_ms, expires_ms, \
                 revoked_ms, grant_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&g.id)
            .bind(&g.approval_id)
            .bind(&g.principal.subject)
            .bind(&g.principal.issuer)
            .bind(g.created_ms)
            .bind(g.expires_ms)
            .bind(g.revoked_ms)
            .bind(to_json(g))
            .execute(&mut *tx)
            .await?;
        }
        if !events_.is_empty() {
            PostgresStore::append_on(&mut tx, &events(events_)).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn active_grants(
        &self,
        subject: &str,
        issuer: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query(
            "SELECT grant_json FROM grants WHERE subject = $1 AND issuer IS NOT DISTINCT FROM $2 \
             AND expires_ms > $3 AND revoked_ms IS NULL ORDER BY created_ms",
        )
        .bind(subject)
        .bind(issuer)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_row).collect()
    }

    async fn grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        let row = sqlx::query("SELECT grant_json FROM grants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(grant_row).transpose()
    }

    async fn list_grants(&self, limit: u32) -> Result<Vec<Grant>, StoreError> {
        let rows =
            sqlx::query("SELECT grant_json FROM grants ORDER BY created_ms DESC, id DESC LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(grant_row).collect()
    }

    async fn revoke_grant(
        &self,
        id: &str,
        at_ms: i64,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let row = sqlx::query("SELECT grant_json FROM grants WHERE id = $1 AND revoked_ms IS NULL")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let mut g = grant_row(&row)?;
        g.revoked_ms = Some(at_ms);
        sqlx::query("UPDATE grants SET revoked_ms = $1, grant_json = $2 WHERE id = $3")
            .bind(at_ms)
            .bind(to_json(&g))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        PostgresStore::append_on(&mut tx, &[Entry::Event(event.clone())]).await?;
        tx.commit().await?;
        Ok(true)
    }
}
