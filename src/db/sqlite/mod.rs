//! The embedded SQLite backend.
//!
//! The database runs in WAL mode with `synchronous = FULL`, so a committed transaction survives a killed process and
//! a power loss; only the rows of uploads in progress are committed without a flush (`pending_pool`). A transaction
//! that writes is either one statement or starts with `BEGIN IMMEDIATE` (`begin_write`). Both take the write lock
//! when they start, so a read-then-write transaction never fails to upgrade when another process (a CLI command, a
//! second server) wrote in between.
//!
//! Each connection runs on a thread of its own, so every statement is a round trip between threads. A request
//! therefore runs as few queries as possible, and the pools do not ping a connection before lending it, because a
//! database file has no network link to check.

mod accounts;
mod assets;
mod changes;
mod copy;
mod tags;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::*;

/// Metadata in one SQLite file.
#[derive(Clone)]
pub struct SqliteDatabase {
    pool: SqlitePool,
    /// Connections with `synchronous = NORMAL`, for the rows of uploads in progress: their commits reach the
    /// operating system, which keeps them when the process is killed, without waiting for the disk. The next commit
    /// of `pool` flushes them with the rest of the log. A power loss may forget such a row, and the bytes of that
    /// upload then stay in storage with nothing that references them (docs/reliability.md).
    pending_pool: SqlitePool,
}

impl SqliteDatabase {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options).await
    }

    /// Opens a database from a `sqlite://` URL.
    pub async fn open_url(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> anyhow::Result<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(15))
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let pending_pool = SqlitePoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(15))
            .test_before_acquire(false)
            .connect_lazy_with(options.synchronous(SqliteSynchronous::Normal));
        let database = Self { pool, pending_pool };
        database.migrate().await?;
        Ok(database)
    }

    /// Applies pending migrations. Several processes may start at once: one applies a migration while the others
    /// wait on the write lock, fail on the tables it created, and find the migration applied when they retry.
    async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = sqlx::migrate!("./migrations/sqlite");
        let mut attempt = 0;
        loop {
            match migrator.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(error @ sqlx::migrate::MigrateError::VersionMissing(_)) => {
                    return Err(migration_error(error))
                }
                Err(error) if attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(error = %error, attempt, "migration failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    async fn begin_write(&self) -> DbResult<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_error)
    }
}

/// Maps a driver error to a [`DbError`]: constraint violations become `Conflict`, lock and pool time-outs
/// `Unavailable`.
pub(crate) fn map_error(error: sqlx::Error) -> DbError {
    match &error {
        sqlx::Error::Database(db_error) => {
            let code = db_error.code().unwrap_or_default();
            match code.as_ref() {
                // SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY.
                "2067" | "1555" => DbError::Conflict,
                // SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
                c if c == "5" || c == "6" || c.parse::<i32>().is_ok_and(|n| n & 0xff == 5) => {
                    DbError::Unavailable(error.into())
                }
                _ => DbError::Other(error.into()),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            DbError::Unavailable(error.into())
        }
        sqlx::Error::RowNotFound => DbError::NotFound,
        _ => DbError::Other(error.into()),
    }
}

trait ResultExt<T> {
    fn db(self) -> DbResult<T>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn db(self) -> DbResult<T> {
        self.map_err(map_error)
    }
}

#[async_trait]
impl Database for SqliteDatabase {
    /// Closes every connection; SQLite then copies the log into the database file and deletes it, unless another
    /// process still has the database open.
    async fn close(&self) {
        self.pending_pool.close().await;
        self.pool.close().await;
    }

    async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .db()
            .map(|_| ())
    }

    async fn stored_bytes(&self) -> DbResult<i64> {
        sqlx::query_scalar("SELECT coalesce(sum(size), 0) FROM assets")
            .fetch_one(&self.pool)
            .await
            .db()
    }

    async fn bootstrap(&self, name: &str, token: NewToken) -> DbResult<bool> {
        self.bootstrap(name, token).await
    }

    async fn create_repository(&self, name: &str, now: i64) -> DbResult<RepositoryRecord> {
        self.create_repository(name, now).await
    }

    async fn list_repositories(&self) -> DbResult<Vec<RepositorySummary>> {
        self.list_repositories().await
    }

    async fn delete_repository(&self, name: &str, now: i64) -> DbResult<Vec<String>> {
        self.delete_repository(name, now).await
    }

    async fn find_repository(&self, name: &str) -> DbResult<Option<RepositoryRecord>> {
        self.find_repository(name).await
    }

    async fn create_token(&self, token: NewToken) -> DbResult<()> {
        self.create_token(token).await
    }

    async fn list_tokens(&self) -> DbResult<Vec<TokenSummary>> {
        self.list_tokens().await
    }

    async fn revoke_token(&self, id: &str, now: i64) -> DbResult<()> {
        self.revoke_token(id, now).await
    }

    async fn find_token(&self, secret_hash: &str) -> DbResult<Option<TokenRecord>> {
        self.find_token(secret_hash).await
    }

    async fn find_token_access(
        &self,
        secret_hash: &str,
        repository_name: &str,
    ) -> DbResult<Option<TokenAccess>> {
        self.find_token_access(secret_hash, repository_name).await
    }

    async fn create_user(&self, email: &str, repository_id: i64, now: i64) -> DbResult<UserRecord> {
        self.create_user(email, repository_id, now).await
    }

    async fn set_password(&self, email: &str, password_hash: &str, now: i64) -> DbResult<()> {
        self.set_password(email, password_hash, now).await
    }

    async fn list_users(&self) -> DbResult<Vec<UserSummary>> {
        self.list_users().await
    }

    async fn find_user_by_email(&self, email: &str) -> DbResult<Option<UserRecord>> {
        self.find_user_by_email(email).await
    }

    async fn add_pending_object(&self, storage_key: &str, not_before: i64) -> DbResult<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO pending_objects (storage_key, not_before) VALUES (?, ?)",
        )
        .bind(storage_key)
        .bind(not_before)
        .execute(&self.pending_pool)
        .await
        .db()
        .map(|_| ())
    }

    async fn extend_pending_object(&self, storage_key: &str, not_before: i64) -> DbResult<bool> {
        sqlx::query("UPDATE pending_objects SET not_before = ? WHERE storage_key = ?")
            .bind(not_before)
            .bind(storage_key)
            .execute(&self.pending_pool)
            .await
            .db()
            .map(|result| result.rows_affected() == 1)
    }

    async fn remove_pending_object(&self, storage_key: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM pending_objects WHERE storage_key = ?")
            .bind(storage_key)
            .execute(&self.pool)
            .await
            .db()
            .map(|_| ())
    }

    async fn set_pending_upload_id(&self, storage_key: &str, upload_id: &str) -> DbResult<()> {
        sqlx::query("UPDATE pending_objects SET upload_id = ? WHERE storage_key = ?")
            .bind(upload_id)
            .bind(storage_key)
            .execute(&self.pool)
            .await
            .db()
            .map(|_| ())
    }

    async fn due_pending_objects(&self, now: i64, limit: u32) -> DbResult<Vec<PendingObject>> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT storage_key, upload_id FROM pending_objects WHERE not_before <= ? ORDER BY not_before LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(rows
            .into_iter()
            .map(|(storage_key, upload_id)| PendingObject {
                storage_key,
                upload_id,
            })
            .collect())
    }

    async fn insert_asset(&self, asset: NewAsset) -> DbResult<AssetRecord> {
        self.insert_asset(asset).await
    }

    async fn list_assets(&self, query: &ListQuery) -> DbResult<ListPage> {
        self.list_assets(query).await
    }

    async fn index_snapshot(&self, repository_id: i64) -> DbResult<Option<IndexSnapshot>> {
        self.index_snapshot(repository_id).await.map(Some)
    }

    async fn index_changes(
        &self,
        repository_id: i64,
        position: i64,
        max_changes: u32,
    ) -> DbResult<Option<IndexChanges>> {
        self.index_changes(repository_id, position, max_changes)
            .await
            .map(Some)
    }

    async fn prune_index_changes(&self, keep: i64) -> DbResult<()> {
        self.prune_index_changes(keep).await
    }

    async fn assets_by_ids(
        &self,
        repository_id: i64,
        ids: &[String],
    ) -> DbResult<Vec<AssetRecord>> {
        self.assets_by_ids(repository_id, ids).await
    }

    async fn update_asset(
        &self,
        repository_id: i64,
        id: &str,
        patch: AssetPatch,
        now: i64,
    ) -> DbResult<AssetRecord> {
        self.update_asset(repository_id, id, patch, now).await
    }

    async fn delete_assets(
        &self,
        repository_id: i64,
        ids: &[String],
        now: i64,
    ) -> DbResult<Vec<DeletedAsset>> {
        self.delete_assets(repository_id, ids, now).await
    }

    async fn list_uploaders(&self, repository_id: i64) -> DbResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT uploader_id FROM assets WHERE repository_id = ? ORDER BY uploader_id",
        )
        .bind(repository_id)
        .fetch_all(&self.pool)
        .await
        .db()
    }

    async fn find_asset(&self, repository: &str, id: &str) -> DbResult<Option<AssetRecord>> {
        self.find_asset(repository, id).await
    }

    async fn record_variant(
        &self,
        storage_key: &str,
        source_hash: &str,
        size: i64,
        now: i64,
    ) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO variants (storage_key, source_hash, size, created_at, last_used) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (storage_key) DO UPDATE SET last_used = excluded.last_used",
        )
        .bind(storage_key)
        .bind(source_hash)
        .bind(size)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .db()
        .map(|_| ())
    }

    async fn variants_size(&self) -> DbResult<i64> {
        sqlx::query_scalar("SELECT coalesce(sum(size), 0) FROM variants")
            .fetch_one(&self.pool)
            .await
            .db()
    }

    async fn least_used_variants(&self, limit: u32) -> DbResult<Vec<(String, i64)>> {
        sqlx::query_as("SELECT storage_key, size FROM variants ORDER BY last_used, rowid LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .db()
    }

    async fn orphaned_variants(&self, source_hash: &str) -> DbResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT storage_key FROM variants WHERE source_hash = ?
             AND NOT EXISTS (SELECT 1 FROM assets WHERE content_hash = ?)",
        )
        .bind(source_hash)
        .bind(source_hash)
        .fetch_all(&self.pool)
        .await
        .db()
    }

    async fn remove_variant(&self, storage_key: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM variants WHERE storage_key = ?")
            .bind(storage_key)
            .execute(&self.pool)
            .await
            .db()
            .map(|_| ())
    }

    async fn list_tags(&self, repository_id: i64) -> DbResult<Vec<TagWithCount>> {
        self.list_tags(repository_id).await
    }

    async fn create_tag(&self, repository_id: i64, name: &str, now: i64) -> DbResult<TagRecord> {
        self.create_tag(repository_id, name, now).await
    }

    async fn rename_tag(
        &self,
        repository_id: i64,
        id: &str,
        name: &str,
        now: i64,
    ) -> DbResult<TagRecord> {
        self.rename_tag(repository_id, id, name, now).await
    }

    async fn delete_tag(&self, repository_id: i64, id: &str) -> DbResult<()> {
        self.delete_tag(repository_id, id).await
    }

    async fn set_tag_on_assets(
        &self,
        repository_id: i64,
        tag_id: &str,
        asset_ids: &[String],
        assign: bool,
        now: i64,
    ) -> DbResult<()> {
        self.set_tag_on_assets(repository_id, tag_id, asset_ids, assign, now)
            .await
    }

    async fn copy_summary(&self) -> DbResult<crate::db::copy::CopySummary> {
        self.copy_summary().await
    }

    async fn copy_repositories(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> DbResult<Vec<crate::db::copy::CopiedRepository>> {
        self.copy_repositories(after, limit).await
    }

    async fn copy_users(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<crate::db::copy::CopiedUser>> {
        self.copy_users(after, limit).await
    }

    async fn copy_tokens(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<crate::db::copy::CopiedToken>> {
        self.copy_tokens(after, limit).await
    }

    async fn copy_tags(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<crate::db::copy::CopiedTag>> {
        self.copy_tags(after, limit).await
    }

    async fn copy_assets(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<crate::db::copy::CopiedAsset>> {
        self.copy_assets(after, limit).await
    }

    async fn insert_copied_bootstrap(&self, created_at: i64) -> DbResult<()> {
        self.insert_copied_bootstrap(created_at).await
    }

    async fn insert_copied_repositories(
        &self,
        rows: &[crate::db::copy::CopiedRepository],
    ) -> DbResult<u64> {
        self.insert_copied_repositories(rows).await
    }

    async fn insert_copied_users(&self, rows: &[crate::db::copy::CopiedUser]) -> DbResult<u64> {
        self.insert_copied_users(rows).await
    }

    async fn insert_copied_tokens(&self, rows: &[crate::db::copy::CopiedToken]) -> DbResult<u64> {
        self.insert_copied_tokens(rows).await
    }

    async fn insert_copied_tags(&self, rows: &[crate::db::copy::CopiedTag]) -> DbResult<u64> {
        self.insert_copied_tags(rows).await
    }

    async fn insert_copied_assets(&self, rows: &[crate::db::copy::CopiedAsset]) -> DbResult<u64> {
        self.insert_copied_assets(rows).await
    }
}
