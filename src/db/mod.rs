//! Metadata storage: the interface every database backend implements, and its records.
//!
//! Handlers see only [`Database`]; the SQLite backend lives in [`sqlite`], the PostgreSQL backend in [`postgres`].
//! Times are Unix epoch milliseconds.

pub mod copy;
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
mod tests;

use async_trait::async_trait;

/// Failure of a database operation.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The row the operation targets does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule would be broken (a repository or tag name in use, a duplicate email).
    #[error("conflict")]
    Conflict,
    /// The operation names a row that does not exist, such as an unknown tag id in an asset's tag list.
    #[error("unknown reference {0}")]
    UnknownReference(String),
    /// The database cannot be reached or is busy beyond the timeout.
    #[error("database unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    #[error("database failure: {0:#}")]
    Other(anyhow::Error),
}

pub type DbResult<T> = Result<T, DbError>;

#[derive(Debug, Clone)]
pub struct RepositoryRecord {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RepositorySummary {
    pub name: String,
    pub created_at: i64,
    pub assets: i64,
    pub tokens: i64,
}

/// A token to store; only the hash of its secret is kept.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    pub secret_hash: String,
    pub repository_id: Option<i64>,
    pub user_id: Option<String>,
    pub read_only: bool,
    pub label: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: String,
    pub repository_id: Option<i64>,
    pub user_id: Option<String>,
    pub read_only: bool,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A token, and what it may reach in the repository that a request names.
#[derive(Debug, Clone)]
pub struct TokenAccess {
    pub token: TokenRecord,
    /// The named repository, when it exists.
    pub repository: Option<RepositoryRecord>,
    /// Whether the token may reach that repository: it was created for it, or its user is a member.
    pub allowed: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenSummary {
    pub id: String,
    pub kind: &'static str,
    pub repository: Option<String>,
    pub user_email: Option<String>,
    pub read_only: bool,
    pub label: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct UserSummary {
    pub id: String,
    pub email: String,
    pub repositories: Vec<String>,
    pub has_password: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_modified: i64,
}

#[derive(Debug, Clone)]
pub struct TagWithCount {
    pub tag: TagRecord,
    pub count: i64,
}

#[derive(Debug, Clone)]
pub struct AssetRecord {
    pub id: String,
    pub repository_id: i64,
    pub filename: String,
    pub uploaded_filename: String,
    pub extension: String,
    pub size: i64,
    pub kind: String,
    pub content_type: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub notes: Option<String>,
    pub credits: Option<String>,
    pub alt: Option<String>,
    pub uploader_id: String,
    pub content_hash: String,
    pub storage_key: String,
    pub created_at: i64,
    pub last_modified: i64,
    /// Tags ordered by name.
    pub tags: Vec<TagRecord>,
}

/// An asset whose bytes are stored; inserting it also removes its pending-object row.
#[derive(Debug, Clone)]
pub struct NewAsset {
    pub id: String,
    pub repository_id: i64,
    pub filename: String,
    pub extension: String,
    pub size: i64,
    pub kind: String,
    pub content_type: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub notes: Option<String>,
    pub credits: Option<String>,
    pub alt: Option<String>,
    pub uploader_id: String,
    pub content_hash: String,
    pub storage_key: String,
    pub created_at: i64,
}

/// A stored object that no asset may reference, and the multipart upload that was writing it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingObject {
    pub storage_key: String,
    pub upload_id: Option<String>,
}

/// Storage key and content hash of a deleted asset.
#[derive(Debug, Clone)]
pub struct DeletedAsset {
    pub storage_key: String,
    pub content_hash: String,
}

/// New filename of an asset with its derived values.
#[derive(Debug, Clone)]
pub struct Rename {
    pub filename: String,
    pub extension: String,
}

/// Changes to an asset; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AssetPatch {
    pub notes: Option<String>,
    pub credits: Option<String>,
    pub alt: Option<String>,
    pub filename: Option<Rename>,
    /// The whole new set of tag ids.
    pub tags: Option<Vec<String>>,
}

/// Sort position of an item in a listing: the score (keyword searches only), then newest first, then id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPosition {
    pub score: Option<i64>,
    pub created_at: i64,
    pub id: String,
}

/// A validated `GET /assets` query.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub repository_id: i64,
    pub limit: u32,
    pub after: Option<ListPosition>,
    pub kind: Option<String>,
    /// The folded keyword; `None` when there is no keyword filter.
    pub keyword: Option<String>,
    /// Distinct tag ids an asset must all carry.
    pub tags: Vec<String>,
    /// Distinct asset ids, in request order.
    pub ids: Vec<String>,
    pub uploader_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ListedAsset {
    pub asset: AssetRecord,
    pub position: ListPosition,
}

#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<ListedAsset>,
    pub total: i64,
    /// Requested ids that do not exist in the repository, in request order.
    pub missing_ids: Vec<String>,
}

/// An asset's listing fields, as the in-memory listing index keeps them: what filters and orders a listing.
#[derive(Debug, Clone)]
pub struct IndexedAsset {
    pub id: String,
    pub created_at: i64,
    pub kind: String,
    pub uploader_id: String,
    /// Folded search keys, as stored: filename, alt, notes, credits.
    pub search: [String; 4],
    pub tag_ids: Vec<String>,
}

/// Every asset of a repository, and the position in the change feed that this state includes.
#[derive(Debug, Clone)]
pub struct IndexSnapshot {
    pub position: i64,
    pub assets: Vec<IndexedAsset>,
}

/// Changes to a repository's assets after a position of the change feed.
#[derive(Debug, Clone)]
pub enum IndexChanges {
    /// The assets that changed, with their current state; an id without a state was deleted.
    Changed {
        position: i64,
        changed: Vec<String>,
        current: Vec<IndexedAsset>,
    },
    /// The feed no longer contains every change after the position, or contains more than the caller's limit, so
    /// the caller must reload the repository.
    Behind,
}

/// Rank of a keyword match: a filename equal to the keyword, then starting with it, then containing it, then a
/// match in alt, notes or credits. Lower ranks come first.
/// Converts a failed migration into the error shown to the user. A database migrated by a newer medialib version has
/// a migration that this version lacks, and sqlx reports that in its own terms.
pub(crate) fn migration_error(error: sqlx::migrate::MigrateError) -> anyhow::Error {
    match error {
        sqlx::migrate::MigrateError::VersionMissing(version) => anyhow::anyhow!(
            "the database has migration {version}, which this medialib version does not have: a newer version \
             migrated it; run that version or a later one"
        ),
        other => other.into(),
    }
}

pub mod score {
    pub const FILENAME_EQUAL: i64 = 0;
    pub const FILENAME_PREFIX: i64 = 1;
    pub const FILENAME_CONTAINS: i64 = 2;
    pub const OTHER_FIELD: i64 = 3;
}

/// Metadata storage shared by every server instance on the same database.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Checks that the database responds.
    async fn ping(&self) -> DbResult<()>;
    /// Closes the connections once the ones in use are returned.
    async fn close(&self) {}

    /// Returns the total size of all assets' bytes.
    async fn stored_bytes(&self) -> DbResult<i64>;

    /// Creates the repository `name` and a token for it when the database has never held a repository; returns
    /// whether this call created it. Safe when several processes start together: only one of them creates it.
    async fn bootstrap(&self, name: &str, token: NewToken) -> DbResult<bool>;

    async fn create_repository(&self, name: &str, now: i64) -> DbResult<RepositoryRecord>;
    async fn list_repositories(&self) -> DbResult<Vec<RepositorySummary>>;
    /// Deletes a repository with its assets, tags and tokens, and returns the storage keys that are now
    /// unreferenced. The keys are also recorded as pending objects, so the sweeper deletes them if the caller does not.
    async fn delete_repository(&self, name: &str, now: i64) -> DbResult<Vec<String>>;
    async fn find_repository(&self, name: &str) -> DbResult<Option<RepositoryRecord>>;

    async fn create_token(&self, token: NewToken) -> DbResult<()>;
    async fn list_tokens(&self) -> DbResult<Vec<TokenSummary>>;
    async fn revoke_token(&self, id: &str, now: i64) -> DbResult<()>;
    async fn find_token(&self, secret_hash: &str) -> DbResult<Option<TokenRecord>>;
    /// Looks up a token with the repository named `repository_name` and whether the token may reach it, in one query:
    /// the check that opens every API request.
    async fn find_token_access(
        &self,
        secret_hash: &str,
        repository_name: &str,
    ) -> DbResult<Option<TokenAccess>>;

    /// Creates a user, or adds the repository to an existing user with that email.
    async fn create_user(&self, email: &str, repository_id: i64, now: i64) -> DbResult<UserRecord>;
    /// Sets a user's password hash and revokes all of that user's session tokens.
    async fn set_password(&self, email: &str, password_hash: &str, now: i64) -> DbResult<()>;
    async fn list_users(&self) -> DbResult<Vec<UserSummary>>;
    async fn find_user_by_email(&self, email: &str) -> DbResult<Option<UserRecord>>;

    /// Records a stored object that no asset references yet; the sweeper deletes it after `not_before`.
    async fn add_pending_object(&self, storage_key: &str, not_before: i64) -> DbResult<()>;
    /// Records the id of the S3 multipart upload that writes a pending object, so the sweeper can abort it.
    async fn set_pending_upload_id(&self, storage_key: &str, upload_id: &str) -> DbResult<()>;
    /// Moves the deadline of a pending object, so that an upload that lasts longer than the grace period keeps its
    /// bytes. Returns false when the row is gone: the sweeper took the object.
    async fn extend_pending_object(&self, storage_key: &str, not_before: i64) -> DbResult<bool>;
    /// Forgets a pending object, once it is referenced or deleted.
    async fn remove_pending_object(&self, storage_key: &str) -> DbResult<()>;
    /// Returns up to `limit` pending objects whose `not_before` has passed.
    async fn due_pending_objects(&self, now: i64, limit: u32) -> DbResult<Vec<PendingObject>>;

    /// Inserts an asset and removes its pending-object row in one transaction. Fails with `NotFound` when that row is
    /// gone, because the sweeper may then have deleted the bytes.
    async fn insert_asset(&self, asset: NewAsset) -> DbResult<AssetRecord>;
    async fn list_assets(&self, query: &ListQuery) -> DbResult<ListPage>;

    /// Loads the listing fields of every asset of a repository for the in-memory listing index. `None` when this
    /// backend keeps no change feed; listings then always run in the database.
    async fn index_snapshot(&self, _repository_id: i64) -> DbResult<Option<IndexSnapshot>> {
        Ok(None)
    }
    /// Returns the assets of a repository that changed after `position` in the change feed, or `Behind` when more
    /// than `max_changes` did. `None` when this backend keeps no change feed.
    async fn index_changes(
        &self,
        _repository_id: i64,
        _position: i64,
        _max_changes: u32,
    ) -> DbResult<Option<IndexChanges>> {
        Ok(None)
    }
    /// Deletes all but the newest `keep` rows of the change feed.
    async fn prune_index_changes(&self, _keep: i64) -> DbResult<()> {
        Ok(())
    }
    /// Returns the assets of a repository among `ids`, in no particular order; unknown ids are left out.
    async fn assets_by_ids(
        &self,
        repository_id: i64,
        ids: &[String],
    ) -> DbResult<Vec<AssetRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let query = ListQuery {
            repository_id,
            limit: u32::try_from(ids.len()).unwrap_or(u32::MAX),
            ids: ids.to_vec(),
            ..ListQuery::default()
        };
        let page = self.list_assets(&query).await?;
        Ok(page.items.into_iter().map(|item| item.asset).collect())
    }
    /// Applies a patch; `NotFound` for an unknown asset, `UnknownReference` for an unknown tag id.
    async fn update_asset(
        &self,
        repository_id: i64,
        id: &str,
        patch: AssetPatch,
        now: i64,
    ) -> DbResult<AssetRecord>;
    /// Deletes the assets among `ids` that exist and returns them. Their storage keys are recorded as pending
    /// objects due at once.
    async fn delete_assets(
        &self,
        repository_id: i64,
        ids: &[String],
        now: i64,
    ) -> DbResult<Vec<DeletedAsset>>;
    async fn list_uploaders(&self, repository_id: i64) -> DbResult<Vec<String>>;
    /// Finds an asset by repository name and id, for file delivery.
    async fn find_asset(&self, repository: &str, id: &str) -> DbResult<Option<AssetRecord>>;

    /// Records a stored variant, or marks it used now when it is already recorded.
    async fn record_variant(
        &self,
        storage_key: &str,
        source_hash: &str,
        size: i64,
        now: i64,
    ) -> DbResult<()>;
    /// Returns the total size of the recorded variants.
    async fn variants_size(&self) -> DbResult<i64>;
    /// Returns up to `limit` variants with their sizes, least recently used first.
    async fn least_used_variants(&self, limit: u32) -> DbResult<Vec<(String, i64)>>;
    /// Returns the variants rendered from the bytes hashed as `source_hash` when no asset has those bytes any more.
    async fn orphaned_variants(&self, source_hash: &str) -> DbResult<Vec<String>>;
    async fn remove_variant(&self, storage_key: &str) -> DbResult<()>;

    async fn list_tags(&self, repository_id: i64) -> DbResult<Vec<TagWithCount>>;
    async fn create_tag(&self, repository_id: i64, name: &str, now: i64) -> DbResult<TagRecord>;
    async fn rename_tag(
        &self,
        repository_id: i64,
        id: &str,
        name: &str,
        now: i64,
    ) -> DbResult<TagRecord>;
    async fn delete_tag(&self, repository_id: i64, id: &str) -> DbResult<()>;
    /// Adds (`assign` true) or removes a tag on assets. Fails with `NotFound` for an unknown tag and with
    /// `UnknownReference` when any asset id is unknown; nothing changes then.
    async fn set_tag_on_assets(
        &self,
        repository_id: i64,
        tag_id: &str,
        asset_ids: &[String],
        assign: bool,
        now: i64,
    ) -> DbResult<()>;

    // Copy methods, used by `medialib copy`. Each read returns up to `limit` rows in ascending id order, starting
    // after the id `after` (at the first row when `None`), so a copy pages through a table. Each insert keeps the
    // rows' ids and timestamps, skips rows whose id is already present, and returns the number of rows inserted.

    /// Counts the rows of every table that a copy writes.
    async fn copy_summary(&self) -> DbResult<copy::CopySummary>;
    async fn copy_repositories(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> DbResult<Vec<copy::CopiedRepository>>;
    async fn copy_users(&self, after: Option<&str>, limit: u32) -> DbResult<Vec<copy::CopiedUser>>;
    async fn copy_tokens(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<copy::CopiedToken>>;
    async fn copy_tags(&self, after: Option<&str>, limit: u32) -> DbResult<Vec<copy::CopiedTag>>;
    async fn copy_assets(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<copy::CopiedAsset>>;
    /// Records that the first start happened at `created_at`, so `serve` creates no demo repository; keeps an
    /// existing record.
    async fn insert_copied_bootstrap(&self, created_at: i64) -> DbResult<()>;
    /// Inserts repositories. New repositories created afterwards get ids above the largest copied id.
    async fn insert_copied_repositories(&self, rows: &[copy::CopiedRepository]) -> DbResult<u64>;
    /// Inserts users with their repository memberships, in one transaction.
    async fn insert_copied_users(&self, rows: &[copy::CopiedUser]) -> DbResult<u64>;
    async fn insert_copied_tokens(&self, rows: &[copy::CopiedToken]) -> DbResult<u64>;
    async fn insert_copied_tags(&self, rows: &[copy::CopiedTag]) -> DbResult<u64>;
    /// Inserts assets with their tag assignments, in one transaction. The caller stores the bytes first, because an
    /// asset row must never name bytes that are missing.
    async fn insert_copied_assets(&self, rows: &[copy::CopiedAsset]) -> DbResult<u64>;
}
