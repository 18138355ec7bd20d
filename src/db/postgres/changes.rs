//! The change feed and the snapshots that the in-memory listing index is built from.
//!
//! A position in the feed is the `xmin` of a snapshot (see migrations/postgres/0003_asset_changes.sql): every
//! transaction with a lower id has ended. A catch-up reads the rows whose `xid` is at or above the position, so it
//! may reload an asset it already reloaded, and never misses a row that committed late.

use std::collections::HashMap;

use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, Row, Transaction};

use super::text::NUL_IN_SEARCH_KEY;
use super::{PostgresDatabase, ResultExt};
use crate::db::*;

const INDEXED_COLUMNS: &str =
    "a.id, a.created_at, a.kind, a.uploader_id, a.search_filename, a.search_alt, a.search_notes, a.search_credits";

impl PostgresDatabase {
    pub(super) async fn index_snapshot(&self, repository_id: i64) -> DbResult<IndexSnapshot> {
        // One snapshot: the assets, their tags and the feed position are one consistent state.
        let mut reader = self.snapshot_reader().await?;

        let position = snapshot_xmin(&mut reader).await?;

        let mut assets = Vec::new();
        let mut slots: HashMap<String, usize> = HashMap::new();
        {
            let sql = format!("SELECT {INDEXED_COLUMNS} FROM assets a WHERE a.repository_id = $1");
            let mut rows = sqlx::query(&sql).bind(repository_id).fetch(&mut *reader);
            while let Some(row) = rows.try_next().await.db()? {
                let asset = indexed_asset(&row)?;
                slots.insert(asset.id.clone(), assets.len());
                assets.push(asset);
            }
        }
        {
            let mut rows = sqlx::query(
                "SELECT t.asset_id, t.tag_id FROM asset_tags t JOIN tags g ON g.id = t.tag_id
                 WHERE g.repository_id = $1",
            )
            .bind(repository_id)
            .fetch(&mut *reader);
            while let Some(row) = rows.try_next().await.db()? {
                let asset_id: String = row.try_get(0).db()?;
                if let Some(&slot) = slots.get(&asset_id) {
                    assets[slot].tag_ids.push(row.try_get(1).db()?);
                }
            }
        }

        reader.commit().await.db()?;
        Ok(IndexSnapshot { position, assets })
    }

    pub(super) async fn index_changes(
        &self,
        repository_id: i64,
        after: i64,
        max_changes: u32,
    ) -> DbResult<IndexChanges> {
        let mut reader = self.snapshot_reader().await?;

        let position = snapshot_xmin(&mut reader).await?.max(after);
        let pruned_through: i64 =
            sqlx::query_scalar("SELECT through FROM asset_changes_pruned WHERE id = 1")
                .fetch_one(&mut *reader)
                .await
                .db()?;
        if after < pruned_through {
            return Ok(IndexChanges::Behind);
        }
        let mut changed: Vec<String> = sqlx::query_scalar(
            "SELECT asset_id FROM asset_changes WHERE repository_id = $1 AND xid >= $2 ORDER BY id LIMIT $3",
        )
        .bind(repository_id)
        .bind(after)
        .bind(i64::from(max_changes) + 1)
        .fetch_all(&mut *reader)
        .await
        .db()?;
        if changed.len() > max_changes as usize {
            return Ok(IndexChanges::Behind);
        }
        changed.sort();
        changed.dedup();

        let mut current = Vec::with_capacity(changed.len());
        if !changed.is_empty() {
            let sql = format!("SELECT {INDEXED_COLUMNS} FROM assets a WHERE a.repository_id = $1 AND a.id = ANY($2)");
            let rows = sqlx::query(&sql)
                .bind(repository_id)
                .bind(&changed)
                .fetch_all(&mut *reader)
                .await
                .db()?;
            for row in &rows {
                current.push(indexed_asset(row)?);
            }
            let assignments: Vec<(String, String)> =
                sqlx::query_as("SELECT asset_id, tag_id FROM asset_tags WHERE asset_id = ANY($1)")
                    .bind(&changed)
                    .fetch_all(&mut *reader)
                    .await
                    .db()?;
            let mut by_asset: HashMap<String, Vec<String>> = HashMap::new();
            for (asset_id, tag_id) in assignments {
                by_asset.entry(asset_id).or_default().push(tag_id);
            }
            for asset in &mut current {
                asset.tag_ids = by_asset.remove(&asset.id).unwrap_or_default();
            }
        }

        reader.commit().await.db()?;
        Ok(IndexChanges::Changed {
            position,
            changed,
            current,
        })
    }

    pub(super) async fn prune_index_changes(&self, keep: i64) -> DbResult<()> {
        let mut writer = self.begin().await?;
        // Serialises pruners; readers are not blocked.
        let pruned_through: i64 =
            sqlx::query_scalar("SELECT through FROM asset_changes_pruned WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut *writer)
                .await
                .db()?;
        // The oldest kept row bounds what may go; a running transaction's rows (xid at or above xmin) always stay.
        let oldest_kept: Option<i64> =
            sqlx::query_scalar("SELECT xid FROM asset_changes ORDER BY id DESC OFFSET $1 LIMIT 1")
                .bind(keep.max(0))
                .fetch_optional(&mut *writer)
                .await
                .db()?;
        let Some(oldest_kept) = oldest_kept else {
            return writer.commit().await.db();
        };
        let through = oldest_kept.min(snapshot_xmin(&mut writer).await?);
        if through > pruned_through {
            sqlx::query("DELETE FROM asset_changes WHERE xid < $1")
                .bind(through)
                .execute(&mut *writer)
                .await
                .db()?;
            sqlx::query("UPDATE asset_changes_pruned SET through = $1 WHERE id = 1")
                .bind(through)
                .execute(&mut *writer)
                .await
                .db()?;
        }
        writer.commit().await.db()
    }

    /// Begins a read-only transaction whose statements all see one snapshot.
    async fn snapshot_reader(&self) -> DbResult<Transaction<'static, Postgres>> {
        let mut reader = self.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *reader)
            .await
            .db()?;
        Ok(reader)
    }
}

/// Returns the `xmin` of the current snapshot: every transaction with a lower id has ended.
async fn snapshot_xmin(connection: &mut PgConnection) -> DbResult<i64> {
    sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        .fetch_one(&mut *connection)
        .await
        .db()
}

/// Reads an asset's listing fields. Search keys store U+0000 as [`NUL_IN_SEARCH_KEY`] (see `text.rs`), so this
/// maps it back: the index gets the same keys as the SQLite backend stores and matches folded keywords unchanged.
fn indexed_asset(row: &PgRow) -> DbResult<IndexedAsset> {
    let key = |index: usize| -> DbResult<String> {
        let stored: String = row.try_get(index).db()?;
        Ok(if stored.contains(NUL_IN_SEARCH_KEY) {
            stored.replace(NUL_IN_SEARCH_KEY, "\0")
        } else {
            stored
        })
    };
    Ok(IndexedAsset {
        id: row.try_get(0).db()?,
        created_at: row.try_get(1).db()?,
        kind: row.try_get(2).db()?,
        uploader_id: row.try_get(3).db()?,
        search: [key(4)?, key(5)?, key(6)?, key(7)?],
        tag_ids: Vec::new(),
    })
}
