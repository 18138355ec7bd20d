//! Rows that `medialib copy` reads from one database and writes to another, with their ids and timestamps.
//!
//! Each type contains the logical values of a row, decoded from the backend's storage form, so rows of a SQLite
//! database and a PostgreSQL database compare equal when they contain the same data. Values that the target derives
//! from others are left out: tag counts, asset counts per kind, search keys, the change feed and the asset
//! sequence numbers.

/// Number of rows per table, the total size of the assets' bytes, and the first-start marker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopySummary {
    pub repositories: i64,
    pub users: i64,
    /// Memberships of users in repositories.
    pub user_repositories: i64,
    pub tokens: i64,
    pub tags: i64,
    pub assets: i64,
    /// Assignments of tags to assets.
    pub asset_tags: i64,
    /// Sum of the assets' sizes, in bytes.
    pub asset_bytes: i64,
    /// Time of the first start that created the demo repository; `None` when no server has bootstrapped the
    /// database.
    pub bootstrapped_at: Option<i64>,
}

impl CopySummary {
    /// Returns true when the database contains no row of the tables that a copy writes.
    pub fn is_empty(&self) -> bool {
        self.repositories == 0
            && self.users == 0
            && self.user_repositories == 0
            && self.tokens == 0
            && self.tags == 0
            && self.assets == 0
            && self.asset_tags == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedRepository {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

/// A user with the stored password hash (an Argon2 PHC string, so the password keeps working) and the ids of the
/// user's repositories in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedUser {
    pub id: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub created_at: i64,
    pub repository_ids: Vec<i64>,
}

/// A permanent or session token; only the SHA-256 of its secret is stored, and copying it keeps the token working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedToken {
    pub id: String,
    pub secret_hash: String,
    pub repository_id: Option<i64>,
    pub user_id: Option<String>,
    pub read_only: bool,
    pub label: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedTag {
    pub id: String,
    pub repository_id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_modified: i64,
}

/// An asset row with the ids of its tags in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedAsset {
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
    /// Hash of the bytes, as `{algorithm}:{hex}` (see `storage::content_hash`).
    pub content_hash: String,
    pub storage_key: String,
    pub created_at: i64,
    pub last_modified: i64,
    pub tag_ids: Vec<String>,
}

/// Checks that the migrations applied to a copy's source are exactly those of this version, because the copy reads
/// the columns that this version's migrations create. The error message says how to fix it.
pub(crate) fn check_migrations(
    applied: &[i64],
    migrator: &sqlx::migrate::Migrator,
) -> anyhow::Result<()> {
    let known: Vec<i64> = migrator
        .iter()
        .filter(|migration| migration.migration_type.is_up_migration())
        .map(|migration| migration.version)
        .collect();
    if applied.is_empty() {
        anyhow::bail!("it has no medialib tables; check the URL");
    }
    let unknown: Vec<i64> = applied
        .iter()
        .filter(|version| !known.contains(version))
        .copied()
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "it has migrations that this version does not know ({}); copy it with the medialib version that wrote it",
            join_versions(&unknown)
        );
    }
    let missing: Vec<i64> = known
        .iter()
        .filter(|version| !applied.contains(version))
        .copied()
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "migrations {} are not applied to it; apply them with `medialib migrate --database-url URL` (this \
             changes the source) and run the copy again",
            join_versions(&missing)
        );
    }
    Ok(())
}

fn join_versions(versions: &[i64]) -> String {
    versions
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Groups (key, value) pairs by key, keeping the values in the order given.
pub(crate) fn group_by_key<V>(
    pairs: Vec<(String, V)>,
) -> std::collections::HashMap<String, Vec<V>> {
    let mut groups: std::collections::HashMap<String, Vec<V>> = std::collections::HashMap::new();
    for (key, value) in pairs {
        groups.entry(key).or_default().push(value);
    }
    groups
}
