//! The PostgreSQL backend, for several server instances on one database.
//!
//! It behaves as the SQLite backend does, down to orderings, totals and error mapping. Transactions run at READ
//! COMMITTED and take row locks where a read decides a write. An asset row is locked (`FOR NO KEY UPDATE`) before
//! its fields or tags change, and tag rows are locked in id order before their `asset_count` changes. So concurrent
//! writers through several processes wait for each other instead of losing updates. A transaction that still fails
//! with a deadlock or a serialization failure is retried from the start a few times.
//!
//! Listings run in one REPEATABLE READ read-only transaction, so a page and its total come from the same snapshot.

mod accounts;
mod assets;
mod changes;
mod copy;
mod tags;
#[cfg(test)]
pub(crate) mod tests;
pub mod text;

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};

use super::*;

/// Connections of one process to the database.
const MAX_CONNECTIONS: u32 = 10;
/// Attempts of a transaction that fails with a deadlock or a serialization failure.
const MAX_ATTEMPTS: u32 = 5;

/// Metadata in a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresDatabase {
    pool: PgPool,
}

impl PostgresDatabase {
    /// Connects to the database at a `postgres://` or `postgresql://` URL and applies pending migrations.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("medialib");
        // One direct connection first: a refused connection, a wrong password or a missing database is reported as
        // such, where the pool would only report that it timed out.
        PgConnection::connect_with(&options).await?.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await?;
        let database = Self { pool };
        database.migrate().await?;
        Ok(database)
    }

    /// Applies pending migrations. sqlx holds a session-level advisory lock on the database while it migrates, so
    /// processes that start together apply each migration once, one after the other.
    async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(migration_error)
    }

    async fn begin(&self) -> DbResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.db()
    }
}

/// Runs a transaction, and runs it again when it failed with a deadlock or a serialization failure. Both roll the
/// whole transaction back, so repeating it is safe.
async fn retry<T, F, Fut>(mut transaction: F) -> DbResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = DbResult<T>>,
{
    let mut attempt = 1;
    loop {
        match transaction().await {
            Err(DbError::Unavailable(error)) if attempt < MAX_ATTEMPTS && is_transient(&error) => {
                tracing::debug!(error = %error, attempt, "transaction conflicted with another; retrying");
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// SQLSTATE serialization_failure and deadlock_detected.
const TRANSIENT_CODES: [&str; 2] = ["40001", "40P01"];

fn is_transient(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<sqlx::Error>()
        .and_then(|error| error.as_database_error())
        .and_then(|error| error.code())
        .is_some_and(|code| TRANSIENT_CODES.contains(&code.as_ref()))
}

/// Maps a driver error to a [`DbError`]: unique violations become `Conflict`; conflicts between transactions,
/// connection failures and pool time-outs `Unavailable`.
pub(crate) fn map_error(error: sqlx::Error) -> DbError {
    match &error {
        sqlx::Error::Database(db_error) => {
            let code = db_error.code().unwrap_or_default();
            match code.as_ref() {
                "23505" => DbError::Conflict,
                c if TRANSIENT_CODES.contains(&c) => DbError::Unavailable(error.into()),
                // lock_not_available, too_many_connections, admin_shutdown, crash_shutdown, cannot_connect_now.
                "55P03" | "53300" | "57P01" | "57P02" | "57P03" => {
                    DbError::Unavailable(error.into())
                }
                // Class 08: connection exceptions.
                c if c.starts_with("08") => DbError::Unavailable(error.into()),
                _ => DbError::Other(error.into()),
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => DbError::Unavailable(error.into()),
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
impl Database for PostgresDatabase {
    async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .db()
            .map(|_| ())
    }

    async fn stored_bytes(&self) -> DbResult<i64> {
        sqlx::query_scalar("SELECT coalesce(sum(size), 0)::bigint FROM assets")
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

    /// Commits with `synchronous_commit` off: the server acknowledges before its log reaches the disk. The row
    /// survives a killed medialib process, which is what it is for. A crash of the database server may lose it, and
    /// the bytes of that upload then stay in storage with nothing that references them (docs/reliability.md).
    async fn add_pending_object(&self, storage_key: &str, not_before: i64) -> DbResult<()> {
        let mut tx = self.pool.begin().await.db()?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query(
            "INSERT INTO pending_objects (storage_key, not_before) VALUES ($1, $2)
             ON CONFLICT (storage_key) DO UPDATE SET not_before = excluded.not_before",
        )
        .bind(storage_key)
        .bind(not_before)
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()
    }

    async fn extend_pending_object(&self, storage_key: &str, not_before: i64) -> DbResult<bool> {
        sqlx::query("UPDATE pending_objects SET not_before = $1 WHERE storage_key = $2")
            .bind(not_before)
            .bind(storage_key)
            .execute(&self.pool)
            .await
            .db()
            .map(|result| result.rows_affected() == 1)
    }

    async fn remove_pending_object(&self, storage_key: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM pending_objects WHERE storage_key = $1")
            .bind(storage_key)
            .execute(&self.pool)
            .await
            .db()
            .map(|_| ())
    }

    async fn set_pending_upload_id(&self, storage_key: &str, upload_id: &str) -> DbResult<()> {
        sqlx::query("UPDATE pending_objects SET upload_id = $1 WHERE storage_key = $2")
            .bind(upload_id)
            .bind(storage_key)
            .execute(&self.pool)
            .await
            .db()
            .map(|_| ())
    }

    async fn due_pending_objects(&self, now: i64, limit: u32) -> DbResult<Vec<PendingObject>> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT storage_key, upload_id FROM pending_objects WHERE not_before <= $1 ORDER BY not_before LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
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
            "SELECT DISTINCT uploader_id FROM assets WHERE repository_id = $1 ORDER BY uploader_id",
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
            "INSERT INTO variants (storage_key, source_hash, size, created_at, last_used) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (storage_key) DO UPDATE SET last_used = excluded.last_used",
        )
        .bind(storage_key)
        .bind(source_hash)
        .bind(size)
        .bind(now)
        .execute(&self.pool)
        .await
        .db()
        .map(|_| ())
    }

    async fn variants_size(&self) -> DbResult<i64> {
        sqlx::query_scalar("SELECT coalesce(sum(size), 0)::bigint FROM variants")
            .fetch_one(&self.pool)
            .await
            .db()
    }

    async fn least_used_variants(&self, limit: u32) -> DbResult<Vec<(String, i64)>> {
        sqlx::query_as("SELECT storage_key, size FROM variants ORDER BY last_used, seq LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .db()
    }

    async fn orphaned_variants(&self, source_hash: &str) -> DbResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT storage_key FROM variants WHERE source_hash = $1
             AND NOT EXISTS (SELECT 1 FROM assets WHERE content_hash = $1)",
        )
        .bind(source_hash)
        .fetch_all(&self.pool)
        .await
        .db()
    }

    async fn remove_variant(&self, storage_key: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM variants WHERE storage_key = $1")
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
