//! Tags and their assignment to assets.

use sqlx::{QueryBuilder, Row, Sqlite};

use super::{ResultExt, SqliteDatabase};
use crate::db::*;

impl SqliteDatabase {
    pub(super) async fn list_tags(&self, repository_id: i64) -> DbResult<Vec<TagWithCount>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.created_at, t.last_modified,
                    t.asset_count AS count
             FROM tags t WHERE t.repository_id = ? ORDER BY t.name",
        )
        .bind(repository_id)
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(rows
            .into_iter()
            .map(|row| TagWithCount {
                tag: TagRecord {
                    id: row.get("id"),
                    name: row.get("name"),
                    created_at: row.get("created_at"),
                    last_modified: row.get("last_modified"),
                },
                count: row.get("count"),
            })
            .collect())
    }

    pub(super) async fn create_tag(
        &self,
        repository_id: i64,
        name: &str,
        now: i64,
    ) -> DbResult<TagRecord> {
        let tag = TagRecord {
            id: crate::domain::ids::new_tag_id(),
            name: name.to_owned(),
            created_at: now,
            last_modified: now,
        };
        sqlx::query("INSERT INTO tags (id, repository_id, name, created_at, last_modified) VALUES (?, ?, ?, ?, ?)")
            .bind(&tag.id)
            .bind(repository_id)
            .bind(name)
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(tag)
    }

    pub(super) async fn rename_tag(
        &self,
        repository_id: i64,
        id: &str,
        name: &str,
        now: i64,
    ) -> DbResult<TagRecord> {
        let mut tx = self.begin_write().await?;

        let current = sqlx::query(
            "SELECT name, created_at, last_modified FROM tags WHERE repository_id = ? AND id = ?",
        )
        .bind(repository_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .db()?
        .ok_or(DbError::NotFound)?;
        let current_name: String = current.get("name");
        let created_at: i64 = current.get("created_at");
        let mut last_modified: i64 = current.get("last_modified");
        if current_name != name {
            sqlx::query("UPDATE tags SET name = ?, last_modified = ? WHERE id = ?")
                .bind(name)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await
                .db()?;
            last_modified = now;
        }

        tx.commit().await.db()?;
        Ok(TagRecord {
            id: id.to_owned(),
            name: name.to_owned(),
            created_at,
            last_modified,
        })
    }

    pub(super) async fn delete_tag(&self, repository_id: i64, id: &str) -> DbResult<()> {
        let result = sqlx::query("DELETE FROM tags WHERE repository_id = ? AND id = ?")
            .bind(repository_id)
            .bind(id)
            .execute(&self.pool)
            .await
            .db()?;
        if result.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    pub(super) async fn set_tag_on_assets(
        &self,
        repository_id: i64,
        tag_id: &str,
        asset_ids: &[String],
        assign: bool,
        now: i64,
    ) -> DbResult<()> {
        let mut tx = self.begin_write().await?;

        let tag: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM tags WHERE repository_id = ? AND id = ?")
                .bind(repository_id)
                .bind(tag_id)
                .fetch_optional(&mut *tx)
                .await
                .db()?;
        if tag.is_none() {
            return Err(DbError::NotFound);
        }

        let mut ids: Vec<String> = asset_ids.to_vec();
        ids.sort();
        ids.dedup();
        let mut known = QueryBuilder::<Sqlite>::new("SELECT id FROM assets WHERE +repository_id = ");
        known.push_bind(repository_id).push(" AND id IN (");
        let mut separated = known.separated(", ");
        for id in &ids {
            separated.push_bind(id.clone());
        }
        known.push(")");
        let found: Vec<String> = known.build_query_scalar().fetch_all(&mut *tx).await.db()?;
        if let Some(unknown) = ids.iter().find(|id| !found.contains(id)) {
            return Err(DbError::UnknownReference(unknown.clone()));
        }

        for asset_id in &ids {
            let statement = if assign {
                "INSERT OR IGNORE INTO asset_tags (asset_id, tag_id) VALUES (?, ?)"
            } else {
                "DELETE FROM asset_tags WHERE asset_id = ? AND tag_id = ?"
            };
            let result = sqlx::query(statement)
                .bind(asset_id)
                .bind(tag_id)
                .execute(&mut *tx)
                .await
                .db()?;
            if result.rows_affected() > 0 {
                sqlx::query("UPDATE assets SET last_modified = ? WHERE id = ?")
                    .bind(now)
                    .bind(asset_id)
                    .execute(&mut *tx)
                    .await
                    .db()?;
            }
        }

        tx.commit().await.db()
    }
}
