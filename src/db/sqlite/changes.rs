//! The change feed and the snapshots that the in-memory listing index is built from.

use std::collections::HashMap;

use futures::TryStreamExt;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::assets::{load_tags, push_list, AssetRow, ASSET_COLUMNS};
use super::{ResultExt, SqliteDatabase};
use crate::db::*;

/// Asset ids per `IN (…)` list when reading changed assets.
const IDS_PER_QUERY: usize = 500;

const INDEXED_COLUMNS: &str =
    "a.id, a.created_at, a.kind, a.uploader_id, a.search_filename, a.search_alt, a.search_notes, a.search_credits";

impl SqliteDatabase {
    pub(super) async fn index_snapshot(&self, repository_id: i64) -> DbResult<IndexSnapshot> {
        // One read transaction: the assets, their tags and the feed position are one consistent state.
        let mut reader = self.pool.begin().await.db()?;

        let position = feed_position(&mut reader).await?;

        let mut assets = Vec::new();
        let mut slots: HashMap<String, usize> = HashMap::new();
        {
            let sql = format!("SELECT {INDEXED_COLUMNS} FROM assets a WHERE a.repository_id = ?");
            let mut rows = sqlx::query(&sql)
            .bind(repository_id)
            .fetch(&mut *reader);
            while let Some(row) = rows.try_next().await.db()? {
                let asset = indexed_asset(&row);
                slots.insert(asset.id.clone(), assets.len());
                assets.push(asset);
            }
        }
        {
            let mut rows = sqlx::query(
                "SELECT t.asset_id, t.tag_id FROM asset_tags t JOIN tags g ON g.id = t.tag_id
                 WHERE g.repository_id = ?",
            )
            .bind(repository_id)
            .fetch(&mut *reader);
            while let Some(row) = rows.try_next().await.db()? {
                let asset_id: String = row.get(0);
                if let Some(&slot) = slots.get(&asset_id) {
                    assets[slot].tag_ids.push(row.get(1));
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
        let mut reader = self.pool.begin().await.db()?;

        let pruned_through: i64 = sqlx::query_scalar("SELECT through FROM asset_changes_pruned WHERE id = 1")
            .fetch_one(&mut *reader)
            .await
            .db()?;
        if after < pruned_through {
            return Ok(IndexChanges::Behind);
        }
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, asset_id FROM asset_changes WHERE repository_id = ? AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(repository_id)
        .bind(after)
        .bind(i64::from(max_changes) + 1)
        .fetch_all(&mut *reader)
        .await
        .db()?;
        if rows.len() > max_changes as usize {
            return Ok(IndexChanges::Behind);
        }
        // Other repositories' changes move the position too, so they are not read again.
        let position = feed_position(&mut reader).await?.max(after);
        let mut changed: Vec<String> = rows.into_iter().map(|(_, asset_id)| asset_id).collect();
        changed.sort();
        changed.dedup();

        let mut current = Vec::with_capacity(changed.len());
        for chunk in changed.chunks(IDS_PER_QUERY) {
            let mut query = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {INDEXED_COLUMNS} FROM assets a WHERE +a.repository_id = "
            ));
            query.push_bind(repository_id).push(" AND a.id IN (");
            push_list(&mut query, chunk);
            query.push(")");
            let rows = query.build().fetch_all(&mut *reader).await.db()?;
            let mut found: Vec<IndexedAsset> = rows.iter().map(indexed_asset).collect();

            let mut tags = QueryBuilder::<Sqlite>::new("SELECT asset_id, tag_id FROM asset_tags WHERE asset_id IN (");
            push_list(&mut tags, chunk);
            tags.push(")");
            let assignments: Vec<(String, String)> =
                tags.build_query_as().fetch_all(&mut *reader).await.db()?;
            let mut by_asset: HashMap<String, Vec<String>> = HashMap::new();
            for (asset_id, tag_id) in assignments {
                by_asset.entry(asset_id).or_default().push(tag_id);
            }
            for asset in &mut found {
                asset.tag_ids = by_asset.remove(&asset.id).unwrap_or_default();
            }
            current.extend(found);
        }

        reader.commit().await.db()?;
        Ok(IndexChanges::Changed {
            position,
            changed,
            current,
        })
    }

    pub(super) async fn prune_index_changes(&self, keep: i64) -> DbResult<()> {
        let mut writer = self.begin_write().await?;
        let through = feed_position(&mut writer).await? - keep;
        let pruned_through: i64 = sqlx::query_scalar("SELECT through FROM asset_changes_pruned WHERE id = 1")
            .fetch_one(&mut *writer)
            .await
            .db()?;
        if through > pruned_through {
            sqlx::query("DELETE FROM asset_changes WHERE id <= ?")
                .bind(through)
                .execute(&mut *writer)
                .await
                .db()?;
            sqlx::query("UPDATE asset_changes_pruned SET through = ? WHERE id = 1")
                .bind(through)
                .execute(&mut *writer)
                .await
                .db()?;
        }
        writer.commit().await.db()
    }

    pub(super) async fn assets_by_ids(&self, repository_id: i64, ids: &[String]) -> DbResult<Vec<AssetRecord>> {
        let mut reader = self.pool.begin().await.db()?;
        let mut records = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut query = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {ASSET_COLUMNS} FROM assets a WHERE +a.repository_id = "
            ));
            query.push_bind(repository_id).push(" AND a.id IN (");
            push_list(&mut query, chunk);
            query.push(")");
            let rows: Vec<AssetRow> = query.build_query_as().fetch_all(&mut *reader).await.db()?;
            let mut tags = load_tags(&mut reader, rows.iter().map(|row| row.id.as_str())).await?;
            records.extend(rows.into_iter().map(|row| {
                let asset_tags = tags.remove(&row.id).unwrap_or_default();
                row.into_record(asset_tags)
            }));
        }
        reader.commit().await.db()?;
        Ok(records)
    }
}

/// Returns the newest position of the change feed; 0 when it never held a row.
async fn feed_position(connection: &mut sqlx::SqliteConnection) -> DbResult<i64> {
    // AUTOINCREMENT keeps the highest id ever used in sqlite_sequence, also after the rows were pruned.
    sqlx::query_scalar("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'asset_changes'), 0)")
        .fetch_one(&mut *connection)
        .await
        .db()
}

fn indexed_asset(row: &sqlx::sqlite::SqliteRow) -> IndexedAsset {
    IndexedAsset {
        id: row.get(0),
        created_at: row.get(1),
        kind: row.get(2),
        uploader_id: row.get(3),
        search: [row.get(4), row.get(5), row.get(6), row.get(7)],
        tag_ids: Vec::new(),
    }
}
