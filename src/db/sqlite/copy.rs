//! Reads and inserts of `medialib copy` on the embedded backend.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqliteConnection};

use super::{ResultExt, SqliteDatabase};
use crate::db::copy::*;
use crate::db::*;
use crate::domain::search::fold;

impl SqliteDatabase {
    /// Opens an existing database read-only as the source of a copy. Unlike [`SqliteDatabase::open_url`] it never
    /// creates the file and applies no migration, so the source stays as it was. It fails unless the applied
    /// migrations are exactly those of this version.
    pub async fn open_copy_source(url: &str) -> anyhow::Result<Self> {
        // Read-only connections also never checkpoint the write-ahead log into the database file.
        let options = SqliteConnectOptions::from_str(url)?
            .read_only(true)
            .busy_timeout(Duration::from_secs(10));
        let path = options.get_filename();
        if !path.exists() {
            anyhow::bail!("the database file {} does not exist", path.display());
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await?;
        let has_migrations: bool = sqlx::query_scalar(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&pool)
        .await?;
        let applied: Vec<i64> = if has_migrations {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&pool)
            .await?
        } else {
            Vec::new()
        };
        check_migrations(&applied, &sqlx::migrate!("./migrations/sqlite"))
            .context("the source database does not match this medialib version")?;
        Ok(Self {
            pending_pool: pool.clone(),
            pool,
        })
    }

    pub(super) async fn copy_summary(&self) -> DbResult<CopySummary> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM repositories) AS repositories,
                    (SELECT count(*) FROM users) AS users,
                    (SELECT count(*) FROM user_repositories) AS user_repositories,
                    (SELECT count(*) FROM tokens) AS tokens,
                    (SELECT count(*) FROM tags) AS tags,
                    (SELECT count(*) FROM assets) AS assets,
                    (SELECT count(*) FROM asset_tags) AS asset_tags,
                    (SELECT coalesce(sum(size), 0) FROM assets) AS asset_bytes,
                    (SELECT created_at FROM bootstrap WHERE id = 1) AS bootstrapped_at",
        )
        .fetch_one(&self.pool)
        .await
        .db()?;
        Ok(CopySummary {
            repositories: row.get("repositories"),
            users: row.get("users"),
            user_repositories: row.get("user_repositories"),
            tokens: row.get("tokens"),
            tags: row.get("tags"),
            assets: row.get("assets"),
            asset_tags: row.get("asset_tags"),
            asset_bytes: row.get("asset_bytes"),
            bootstrapped_at: row.get("bootstrapped_at"),
        })
    }

    pub(super) async fn copy_repositories(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> DbResult<Vec<CopiedRepository>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at FROM repositories WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after.unwrap_or(i64::MIN))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(rows
            .into_iter()
            .map(|row| CopiedRepository {
                id: row.get("id"),
                name: row.get("name"),
                created_at: row.get("created_at"),
            })
            .collect())
    }

    pub(super) async fn copy_users(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<CopiedUser>> {
        // One read transaction, so the memberships belong to the same snapshot as the users.
        let mut reader = self.pool.begin().await.db()?;
        let rows = fetch_page(
            &mut *reader,
            "SELECT id, email, password_hash, created_at FROM users",
            after,
            limit,
        )
        .await?;

        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Ok(Vec::new());
        };
        let memberships: Vec<(String, i64)> = sqlx::query_as(
            "SELECT user_id, repository_id FROM user_repositories
             WHERE user_id >= ? AND user_id <= ? ORDER BY user_id, repository_id",
        )
        .bind(first.get::<String, _>("id"))
        .bind(last.get::<String, _>("id"))
        .fetch_all(&mut *reader)
        .await
        .db()?;
        let mut repositories = group_by_key(memberships);

        Ok(rows
            .into_iter()
            .map(|row| {
                let id: String = row.get("id");
                CopiedUser {
                    repository_ids: repositories.remove(&id).unwrap_or_default(),
                    id,
                    email: row.get("email"),
                    password_hash: row.get("password_hash"),
                    created_at: row.get("created_at"),
                }
            })
            .collect())
    }

    pub(super) async fn copy_tokens(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<CopiedToken>> {
        let mut reader = self.pool.acquire().await.db()?;
        let rows = fetch_page(
            &mut *reader,
            "SELECT id, secret_hash, repository_id, user_id, read_only, label, created_at, expires_at, revoked_at
             FROM tokens",
            after,
            limit,
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| CopiedToken {
                id: row.get("id"),
                secret_hash: row.get("secret_hash"),
                repository_id: row.get("repository_id"),
                user_id: row.get("user_id"),
                read_only: row.get("read_only"),
                label: row.get("label"),
                created_at: row.get("created_at"),
                expires_at: row.get("expires_at"),
                revoked_at: row.get("revoked_at"),
            })
            .collect())
    }

    pub(super) async fn copy_tags(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<CopiedTag>> {
        let mut reader = self.pool.acquire().await.db()?;
        let rows = fetch_page(
            &mut *reader,
            "SELECT id, repository_id, name, created_at, last_modified FROM tags",
            after,
            limit,
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| CopiedTag {
                id: row.get("id"),
                repository_id: row.get("repository_id"),
                name: row.get("name"),
                created_at: row.get("created_at"),
                last_modified: row.get("last_modified"),
            })
            .collect())
    }

    pub(super) async fn copy_assets(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<CopiedAsset>> {
        let mut reader = self.pool.begin().await.db()?;
        let rows = fetch_page(
            &mut *reader,
            "SELECT id, repository_id, filename, uploaded_filename, extension, size, kind, content_type, width,
                    height, notes, credits, alt, uploader_id, content_hash, storage_key, created_at, last_modified
             FROM assets",
            after,
            limit,
        )
        .await?;

        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Ok(Vec::new());
        };
        let assignments: Vec<(String, String)> = sqlx::query_as(
            "SELECT asset_id, tag_id FROM asset_tags WHERE asset_id >= ? AND asset_id <= ? ORDER BY asset_id, tag_id",
        )
        .bind(first.get::<String, _>("id"))
        .bind(last.get::<String, _>("id"))
        .fetch_all(&mut *reader)
        .await
        .db()?;
        let mut tags = group_by_key(assignments);

        Ok(rows
            .into_iter()
            .map(|row| {
                let id: String = row.get("id");
                CopiedAsset {
                    tag_ids: tags.remove(&id).unwrap_or_default(),
                    id,
                    repository_id: row.get("repository_id"),
                    filename: row.get("filename"),
                    uploaded_filename: row.get("uploaded_filename"),
                    extension: row.get("extension"),
                    size: row.get("size"),
                    kind: row.get("kind"),
                    content_type: row.get("content_type"),
                    width: row.get("width"),
                    height: row.get("height"),
                    notes: row.get("notes"),
                    credits: row.get("credits"),
                    alt: row.get("alt"),
                    uploader_id: row.get("uploader_id"),
                    content_hash: row.get("content_hash"),
                    storage_key: row.get("storage_key"),
                    created_at: row.get("created_at"),
                    last_modified: row.get("last_modified"),
                }
            })
            .collect())
    }

    pub(super) async fn insert_copied_bootstrap(&self, created_at: i64) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO bootstrap (id, created_at) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(created_at)
        .execute(&self.pool)
        .await
        .db()
        .map(|_| ())
    }

    /// Inserts repositories. The id is the rowid, so SQLite gives later repositories ids above the largest one.
    pub(super) async fn insert_copied_repositories(
        &self,
        rows: &[CopiedRepository],
    ) -> DbResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut inserted = 0;
        for repository in rows {
            inserted += sqlx::query(
                "INSERT INTO repositories (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
            )
            .bind(repository.id)
            .bind(&repository.name)
            .bind(repository.created_at)
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
        }
        tx.commit().await.db()?;
        Ok(inserted)
    }

    pub(super) async fn insert_copied_users(&self, rows: &[CopiedUser]) -> DbResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut inserted = 0;
        for user in rows {
            let added = sqlx::query(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(user.created_at)
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
            if added == 0 {
                continue;
            }
            inserted += added;
            for repository_id in &user.repository_ids {
                sqlx::query("INSERT INTO user_repositories (user_id, repository_id) VALUES (?, ?)")
                    .bind(&user.id)
                    .bind(repository_id)
                    .execute(&mut *tx)
                    .await
                    .db()?;
            }
        }
        tx.commit().await.db()?;
        Ok(inserted)
    }

    pub(super) async fn insert_copied_tokens(&self, rows: &[CopiedToken]) -> DbResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut inserted = 0;
        for token in rows {
            inserted += sqlx::query(
                "INSERT INTO tokens (id, secret_hash, repository_id, user_id, read_only, label, created_at,
                     expires_at, revoked_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&token.id)
            .bind(&token.secret_hash)
            .bind(token.repository_id)
            .bind(&token.user_id)
            .bind(token.read_only)
            .bind(&token.label)
            .bind(token.created_at)
            .bind(token.expires_at)
            .bind(token.revoked_at)
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
        }
        tx.commit().await.db()?;
        Ok(inserted)
    }

    pub(super) async fn insert_copied_tags(&self, rows: &[CopiedTag]) -> DbResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut inserted = 0;
        for tag in rows {
            inserted += sqlx::query(
                "INSERT INTO tags (id, repository_id, name, created_at, last_modified) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&tag.id)
            .bind(tag.repository_id)
            .bind(&tag.name)
            .bind(tag.created_at)
            .bind(tag.last_modified)
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
        }
        tx.commit().await.db()?;
        Ok(inserted)
    }

    /// Triggers fill the search index, the counts per kind and per tag, and the change feed, as for an upload.
    pub(super) async fn insert_copied_assets(&self, rows: &[CopiedAsset]) -> DbResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut inserted = 0;
        for asset in rows {
            let added = sqlx::query(
                "INSERT INTO assets (id, repository_id, filename, uploaded_filename, extension, size, kind,
                     content_type, width, height, notes, credits, alt, uploader_id, content_hash, storage_key, created_at,
                     last_modified, search_filename, search_notes, search_credits, search_alt)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&asset.id)
            .bind(asset.repository_id)
            .bind(&asset.filename)
            .bind(&asset.uploaded_filename)
            .bind(&asset.extension)
            .bind(asset.size)
            .bind(&asset.kind)
            .bind(&asset.content_type)
            .bind(asset.width)
            .bind(asset.height)
            .bind(&asset.notes)
            .bind(&asset.credits)
            .bind(&asset.alt)
            .bind(&asset.uploader_id)
            .bind(&asset.content_hash)
            .bind(&asset.storage_key)
            .bind(asset.created_at)
            .bind(asset.last_modified)
            .bind(fold(&asset.uploaded_filename))
            .bind(fold(asset.notes.as_deref().unwrap_or("")))
            .bind(fold(asset.credits.as_deref().unwrap_or("")))
            .bind(fold(asset.alt.as_deref().unwrap_or("")))
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
            if added == 0 {
                continue;
            }
            inserted += added;
            for tag_id in &asset.tag_ids {
                sqlx::query("INSERT INTO asset_tags (asset_id, tag_id) VALUES (?, ?)")
                    .bind(&asset.id)
                    .bind(tag_id)
                    .execute(&mut *tx)
                    .await
                    .db()?;
            }
        }
        tx.commit().await.db()?;
        Ok(inserted)
    }
}

/// Runs `select` (a query without WHERE, ORDER BY or LIMIT on a table with a text `id`) for the page of rows after
/// `after`, in id order.
async fn fetch_page(
    connection: &mut SqliteConnection,
    select: &str,
    after: Option<&str>,
    limit: u32,
) -> DbResult<Vec<SqliteRow>> {
    match after {
        Some(after) => {
            sqlx::query(&format!("{select} WHERE id > ? ORDER BY id LIMIT ?"))
                .bind(after)
                .bind(limit)
                .fetch_all(connection)
                .await
        }
        None => {
            sqlx::query(&format!("{select} ORDER BY id LIMIT ?"))
                .bind(limit)
                .fetch_all(connection)
                .await
        }
    }
    .db()
}
