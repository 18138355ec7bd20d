//! Reads and inserts of `medialib copy` on PostgreSQL.
//!
//! Rows are read and written in their logical form: notes, credits, alt, tag names and token labels pass through
//! the escape of [`super::text`], and search keys are computed here from the copied fields, as an upload does.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, Postgres, Row, Transaction};

use super::text::{self, search_key};
use super::{PostgresDatabase, ResultExt};
use crate::db::copy::*;
use crate::db::*;
use crate::domain::search::fold;

/// Connections of a copy's source pool: the copy reads one page at a time.
const SOURCE_CONNECTIONS: u32 = 4;

impl PostgresDatabase {
    /// Connects to an existing database as the source of a copy. Unlike [`PostgresDatabase::open`] it applies no
    /// migration, so the source stays as it was. It fails unless the applied migrations are exactly those of this
    /// version.
    pub async fn open_copy_source(url: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("medialib copy");
        // A direct connection first reports a refused connection or a wrong password as such.
        PgConnection::connect_with(&options).await?.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(SOURCE_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await?;
        let has_migrations: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
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
        check_migrations(&applied, &sqlx::migrate!("./migrations/postgres"))
            .context("the source database does not match this medialib version")?;
        Ok(Self { pool })
    }

    /// Starts a read-only transaction whose reads all see one snapshot.
    async fn begin_snapshot(&self) -> DbResult<Transaction<'static, Postgres>> {
        let mut reader = self.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *reader)
            .await
            .db()?;
        Ok(reader)
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
                    (SELECT coalesce(sum(size), 0)::bigint FROM assets) AS asset_bytes,
                    (SELECT created_at FROM bootstrap WHERE id = 1) AS bootstrapped_at",
        )
        .fetch_one(&self.pool)
        .await
        .db()?;
        Ok(CopySummary {
            repositories: row.try_get("repositories").db()?,
            users: row.try_get("users").db()?,
            user_repositories: row.try_get("user_repositories").db()?,
            tokens: row.try_get("tokens").db()?,
            tags: row.try_get("tags").db()?,
            assets: row.try_get("assets").db()?,
            asset_tags: row.try_get("asset_tags").db()?,
            asset_bytes: row.try_get("asset_bytes").db()?,
            bootstrapped_at: row.try_get("bootstrapped_at").db()?,
        })
    }

    pub(super) async fn copy_repositories(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> DbResult<Vec<CopiedRepository>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at FROM repositories WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter()
            .map(|row| {
                Ok(CopiedRepository {
                    id: row.try_get("id").db()?,
                    name: row.try_get("name").db()?,
                    created_at: row.try_get("created_at").db()?,
                })
            })
            .collect()
    }

    pub(super) async fn copy_users(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<CopiedUser>> {
        let mut reader = self.begin_snapshot().await?;
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
             WHERE user_id >= $1 AND user_id <= $2 ORDER BY user_id, repository_id",
        )
        .bind(first.try_get::<String, _>("id").db()?)
        .bind(last.try_get::<String, _>("id").db()?)
        .fetch_all(&mut *reader)
        .await
        .db()?;
        let mut repositories = group_by_key(memberships);

        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id").db()?;
                Ok(CopiedUser {
                    repository_ids: repositories.remove(&id).unwrap_or_default(),
                    id,
                    email: row.try_get("email").db()?,
                    password_hash: row.try_get("password_hash").db()?,
                    created_at: row.try_get("created_at").db()?,
                })
            })
            .collect()
    }

    pub(super) async fn copy_tokens(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<CopiedToken>> {
        let mut reader = self.begin_snapshot().await?;
        let rows = fetch_page(
            &mut *reader,
            "SELECT id, secret_hash, repository_id, user_id, read_only, label, created_at, expires_at, revoked_at
             FROM tokens",
            after,
            limit,
        )
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CopiedToken {
                    id: row.try_get("id").db()?,
                    secret_hash: row.try_get("secret_hash").db()?,
                    repository_id: row.try_get("repository_id").db()?,
                    user_id: row.try_get("user_id").db()?,
                    read_only: row.try_get("read_only").db()?,
                    label: text::decode_option(row.try_get("label").db()?),
                    created_at: row.try_get("created_at").db()?,
                    expires_at: row.try_get("expires_at").db()?,
                    revoked_at: row.try_get("revoked_at").db()?,
                })
            })
            .collect()
    }

    pub(super) async fn copy_tags(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<CopiedTag>> {
        let mut reader = self.begin_snapshot().await?;
        let rows = fetch_page(
            &mut *reader,
            "SELECT id, repository_id, name, created_at, last_modified FROM tags",
            after,
            limit,
        )
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CopiedTag {
                    id: row.try_get("id").db()?,
                    repository_id: row.try_get("repository_id").db()?,
                    name: text::decode(row.try_get("name").db()?),
                    created_at: row.try_get("created_at").db()?,
                    last_modified: row.try_get("last_modified").db()?,
                })
            })
            .collect()
    }

    pub(super) async fn copy_assets(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<CopiedAsset>> {
        let mut reader = self.begin_snapshot().await?;
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
            "SELECT asset_id, tag_id FROM asset_tags
             WHERE asset_id >= $1 AND asset_id <= $2 ORDER BY asset_id, tag_id",
        )
        .bind(first.try_get::<String, _>("id").db()?)
        .bind(last.try_get::<String, _>("id").db()?)
        .fetch_all(&mut *reader)
        .await
        .db()?;
        let mut tags = group_by_key(assignments);

        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id").db()?;
                Ok(CopiedAsset {
                    tag_ids: tags.remove(&id).unwrap_or_default(),
                    id,
                    repository_id: row.try_get("repository_id").db()?,
                    filename: row.try_get("filename").db()?,
                    uploaded_filename: row.try_get("uploaded_filename").db()?,
                    extension: row.try_get("extension").db()?,
                    size: row.try_get("size").db()?,
                    kind: row.try_get("kind").db()?,
                    content_type: row.try_get("content_type").db()?,
                    width: row.try_get("width").db()?,
                    height: row.try_get("height").db()?,
                    notes: text::decode_option(row.try_get("notes").db()?),
                    credits: text::decode_option(row.try_get("credits").db()?),
                    alt: text::decode_option(row.try_get("alt").db()?),
                    uploader_id: row.try_get("uploader_id").db()?,
                    content_hash: row.try_get("content_hash").db()?,
                    storage_key: row.try_get("storage_key").db()?,
                    created_at: row.try_get("created_at").db()?,
                    last_modified: row.try_get("last_modified").db()?,
                })
            })
            .collect()
    }

    pub(super) async fn insert_copied_bootstrap(&self, created_at: i64) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO bootstrap (id, created_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(created_at)
        .execute(&self.pool)
        .await
        .db()
        .map(|_| ())
    }

    /// Inserts repositories and moves the identity sequence of `repositories.id` to the largest id, because explicit
    /// ids do not advance it and `repository create` would otherwise get an id that is in use.
    pub(super) async fn insert_copied_repositories(
        &self,
        rows: &[CopiedRepository],
    ) -> DbResult<u64> {
        let mut tx = self.begin().await?;
        let mut inserted = 0;
        for repository in rows {
            inserted += sqlx::query(
                "INSERT INTO repositories (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(repository.id)
            .bind(&repository.name)
            .bind(repository.created_at)
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
        }
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('repositories', 'id'), max(id)) FROM repositories
             HAVING max(id) IS NOT NULL",
        )
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(inserted)
    }

    pub(super) async fn insert_copied_users(&self, rows: &[CopiedUser]) -> DbResult<u64> {
        let mut tx = self.begin().await?;
        let mut inserted = 0;
        for user in rows {
            let added = sqlx::query(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)
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
            sqlx::query(
                "INSERT INTO user_repositories (user_id, repository_id) SELECT $1, unnest($2::bigint[])",
            )
            .bind(&user.id)
            .bind(&user.repository_ids)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        tx.commit().await.db()?;
        Ok(inserted)
    }

    pub(super) async fn insert_copied_tokens(&self, rows: &[CopiedToken]) -> DbResult<u64> {
        let mut tx = self.begin().await?;
        let mut inserted = 0;
        for token in rows {
            inserted += sqlx::query(
                "INSERT INTO tokens (id, secret_hash, repository_id, user_id, read_only, label, created_at,
                     expires_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&token.id)
            .bind(&token.secret_hash)
            .bind(token.repository_id)
            .bind(&token.user_id)
            .bind(token.read_only)
            .bind(text::encode_option(token.label.as_deref()))
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
        let mut tx = self.begin().await?;
        let mut inserted = 0;
        for tag in rows {
            inserted += sqlx::query(
                "INSERT INTO tags (id, repository_id, name, created_at, last_modified) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&tag.id)
            .bind(tag.repository_id)
            .bind(text::encode(&tag.name))
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

    /// Triggers keep the counts per kind and per tag, as for an upload.
    pub(super) async fn insert_copied_assets(&self, rows: &[CopiedAsset]) -> DbResult<u64> {
        let mut tx = self.begin().await?;
        let mut inserted = 0;
        for asset in rows {
            let added = sqlx::query(
                "INSERT INTO assets (id, repository_id, filename, uploaded_filename, extension, size, kind,
                     content_type, width, height, notes, credits, alt, uploader_id, content_hash, storage_key, created_at,
                     last_modified, search_filename, search_notes, search_credits, search_alt)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                     $21, $22)
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
            .bind(text::encode_option(asset.notes.as_deref()))
            .bind(text::encode_option(asset.credits.as_deref()))
            .bind(text::encode_option(asset.alt.as_deref()))
            .bind(&asset.uploader_id)
            .bind(&asset.content_hash)
            .bind(&asset.storage_key)
            .bind(asset.created_at)
            .bind(asset.last_modified)
            .bind(search_key(&fold(&asset.filename)))
            .bind(search_key(&fold(asset.notes.as_deref().unwrap_or(""))))
            .bind(search_key(&fold(asset.credits.as_deref().unwrap_or(""))))
            .bind(search_key(&fold(asset.alt.as_deref().unwrap_or(""))))
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
            if added == 0 {
                continue;
            }
            inserted += added;
            sqlx::query("INSERT INTO asset_tags (asset_id, tag_id) SELECT $1, unnest($2::text[])")
                .bind(&asset.id)
                .bind(&asset.tag_ids)
                .execute(&mut *tx)
                .await
                .db()?;
        }
        tx.commit().await.db()?;
        Ok(inserted)
    }
}

/// Runs `select` (a query without WHERE, ORDER BY or LIMIT on a table with a text `id`) for the page of rows after
/// `after`, in id order.
async fn fetch_page(
    connection: &mut PgConnection,
    select: &str,
    after: Option<&str>,
    limit: u32,
) -> DbResult<Vec<PgRow>> {
    match after {
        Some(after) => {
            sqlx::query(&format!("{select} WHERE id > $1 ORDER BY id LIMIT $2"))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(connection)
                .await
        }
        None => {
            sqlx::query(&format!("{select} ORDER BY id LIMIT $1"))
                .bind(i64::from(limit))
                .fetch_all(connection)
                .await
        }
    }
    .db()
}
