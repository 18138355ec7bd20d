//! Tags and their assignment to assets.

use sqlx::postgres::PgRow;
use sqlx::Row;

use super::text::{self, storable};
use super::{retry, PostgresDatabase, ResultExt};
use crate::db::*;

/// Reads the `id`, `name`, `created_at` and `last_modified` columns of a tag.
pub(super) fn tag_from_row(row: &PgRow) -> DbResult<TagRecord> {
    Ok(TagRecord {
        id: row.try_get("id").db()?,
        name: text::decode(row.try_get("name").db()?),
        created_at: row.try_get("created_at").db()?,
        last_modified: row.try_get("last_modified").db()?,
    })
}

impl PostgresDatabase {
    pub(super) async fn list_tags(&self, repository_id: i64) -> DbResult<Vec<TagWithCount>> {
        let rows =
            sqlx::query("SELECT id, name, created_at, last_modified, asset_count FROM tags WHERE repository_id = $1")
                .bind(repository_id)
                .fetch_all(&self.pool)
                .await
                .db()?;
        let mut tags = rows
            .iter()
            .map(|row| {
                Ok(TagWithCount {
                    tag: tag_from_row(row)?,
                    count: row.try_get("asset_count").db()?,
                })
            })
            .collect::<DbResult<Vec<_>>>()?;
        // Names are unique in a repository; sorting the decoded names orders escaped ones correctly too.
        tags.sort_by(|a, b| a.tag.name.cmp(&b.tag.name));
        Ok(tags)
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
        sqlx::query(
            "INSERT INTO tags (id, repository_id, name, created_at, last_modified) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&tag.id)
        .bind(repository_id)
        .bind(text::encode(name))
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
        if !storable(id) {
            return Err(DbError::NotFound);
        }
        retry(|| self.rename_tag_once(repository_id, id, name, now)).await
    }

    async fn rename_tag_once(
        &self,
        repository_id: i64,
        id: &str,
        name: &str,
        now: i64,
    ) -> DbResult<TagRecord> {
        let mut tx = self.begin().await?;

        let row = sqlx::query(
            "SELECT id, name, created_at, last_modified FROM tags WHERE repository_id = $1 AND id = $2
             FOR NO KEY UPDATE",
        )
        .bind(repository_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .db()?
        .ok_or(DbError::NotFound)?;
        let mut tag = tag_from_row(&row)?;
        if tag.name != name {
            sqlx::query("UPDATE tags SET name = $1, last_modified = $2 WHERE id = $3")
                .bind(text::encode(name))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await
                .db()?;
            tag.name = name.to_owned();
            tag.last_modified = now;
        }

        tx.commit().await.db()?;
        Ok(tag)
    }

    pub(super) async fn delete_tag(&self, repository_id: i64, id: &str) -> DbResult<()> {
        if !storable(id) {
            return Err(DbError::NotFound);
        }
        retry(|| async {
            let result = sqlx::query("DELETE FROM tags WHERE repository_id = $1 AND id = $2")
                .bind(repository_id)
                .bind(id)
                .execute(&self.pool)
                .await
                .db()?;
            if result.rows_affected() == 0 {
                return Err(DbError::NotFound);
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn set_tag_on_assets(
        &self,
        repository_id: i64,
        tag_id: &str,
        asset_ids: &[String],
        assign: bool,
        now: i64,
    ) -> DbResult<()> {
        if !storable(tag_id) {
            return Err(DbError::NotFound);
        }
        let mut ids: Vec<String> = asset_ids.to_vec();
        ids.sort();
        ids.dedup();
        retry(|| self.set_tag_on_assets_once(repository_id, tag_id, &ids, assign, now)).await
    }

    /// Changes the assignments with the assets locked in id order, then the tag's count. Every writer takes asset
    /// rows before tag rows, so concurrent assignments wait for each other and the count stays exact.
    async fn set_tag_on_assets_once(
        &self,
        repository_id: i64,
        tag_id: &str,
        ids: &[String],
        assign: bool,
        now: i64,
    ) -> DbResult<()> {
        let mut tx = self.begin().await?;

        // KEY SHARE keeps the tag from being deleted before the assignments are inserted.
        let tag: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM tags WHERE repository_id = $1 AND id = $2 FOR KEY SHARE",
        )
        .bind(repository_id)
        .bind(tag_id)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        if tag.is_none() {
            return Err(DbError::NotFound);
        }

        let storable_ids: Vec<&String> = ids.iter().filter(|id| storable(id)).collect();
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM assets WHERE repository_id = $1 AND id = ANY($2) ORDER BY id FOR NO KEY UPDATE",
        )
        .bind(repository_id)
        .bind(&storable_ids)
        .fetch_all(&mut *tx)
        .await
        .db()?;
        if let Some(unknown) = ids.iter().find(|id| found.binary_search(id).is_err()) {
            return Err(DbError::UnknownReference(unknown.clone()));
        }

        let statement = if assign {
            "INSERT INTO asset_tags (asset_id, tag_id) SELECT unnest($1::text[]), $2
             ON CONFLICT DO NOTHING RETURNING asset_id"
        } else {
            "DELETE FROM asset_tags WHERE asset_id = ANY($1) AND tag_id = $2 RETURNING asset_id"
        };
        let changed: Vec<String> = sqlx::query_scalar(statement)
            .bind(&found)
            .bind(tag_id)
            .fetch_all(&mut *tx)
            .await
            .db()?;
        if !changed.is_empty() {
            sqlx::query("UPDATE assets SET last_modified = $1 WHERE id = ANY($2)")
                .bind(now)
                .bind(&changed)
                .execute(&mut *tx)
                .await
                .db()?;
        }

        tx.commit().await.db()
    }
}
