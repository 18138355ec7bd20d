//! The two sides of a copy: where they are, and opening them.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::config::{DatabaseUrl, StorageSettings};
use crate::db::postgres::PostgresDatabase;
use crate::db::sqlite::SqliteDatabase;
use crate::db::Database;
use crate::startup::open_database;
use crate::storage::{BlobStore, StorageUrl};

/// The database and the file store of one side.
pub struct Installation {
    pub database: Arc<dyn Database>,
    pub store: BlobStore,
}

/// Location of one side's database and file store, before anything is opened.
pub struct Location {
    database: DatabaseUrl,
    storage: StorageUrl,
    /// The data directory the locations come from, when one was given.
    data_dir: Option<PathBuf>,
}

impl Location {
    /// Combines a side's data directory and URLs; `side` is "source" or "target" and `prefix` is "from" or "to".
    pub fn resolve(
        side: &str,
        prefix: &str,
        data_dir: Option<PathBuf>,
        database: Option<DatabaseUrl>,
        storage: Option<StorageUrl>,
    ) -> anyhow::Result<Self> {
        if data_dir.is_none() && (database.is_none() || storage.is_none()) {
            anyhow::bail!(
                "the {side} is missing: give --{prefix}-data-dir DIR for an embedded installation, or both \
                 --{prefix}-database-url and --{prefix}-storage-url"
            );
        }
        let settings = StorageSettings {
            data_dir: data_dir.clone().unwrap_or_default(),
            storage_url: storage,
            database_url: database,
        };
        Ok(Self {
            database: settings.database(),
            storage: settings.storage_location(),
            data_dir,
        })
    }

    /// Settings that `open_database` takes for this location.
    fn storage_settings(&self) -> StorageSettings {
        StorageSettings {
            data_dir: self.data_dir.clone().unwrap_or_default(),
            storage_url: Some(self.storage.clone()),
            database_url: Some(self.database.clone()),
        }
    }
}

/// Rejects a target that is the source's database or file store, which the copy would read and write at once.
pub fn check_distinct(source: &Location, target: &Location) -> anyhow::Result<()> {
    if same_database(&source.database, &target.database) {
        anyhow::bail!(
            "the source and the target are the same database ({}); give the target its own database",
            target.database.redacted()
        );
    }
    if same_storage(&source.storage, &target.storage) {
        anyhow::bail!(
            "the source and the target are the same file store ({}); give the target its own directory, bucket \
             or key prefix",
            target.storage
        );
    }
    Ok(())
}

fn same_database(first: &DatabaseUrl, second: &DatabaseUrl) -> bool {
    match (first, second) {
        (DatabaseUrl::Sqlite(first), DatabaseUrl::Sqlite(second)) => {
            let path = |url: &str| {
                let path = url
                    .trim_start_matches("sqlite:")
                    .trim_start_matches("//")
                    .split('?')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                std::fs::canonicalize(&path).unwrap_or_else(|_| PathBuf::from(path))
            };
            path(first) == path(second)
        }
        (DatabaseUrl::Postgres(first), DatabaseUrl::Postgres(second)) => first == second,
        _ => false,
    }
}

fn same_storage(first: &StorageUrl, second: &StorageUrl) -> bool {
    match (first, second) {
        (StorageUrl::File(first), StorageUrl::File(second)) => {
            let canonical =
                |path: &PathBuf| std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            canonical(first) == canonical(second)
        }
        (StorageUrl::S3(first), StorageUrl::S3(second)) => {
            first.bucket == second.bucket
                && first.prefix == second.prefix
                && first.endpoint == second.endpoint
        }
        _ => false,
    }
}

/// Opens the source without creating, migrating or writing anything.
pub async fn open_source(location: &Location) -> anyhow::Result<Installation> {
    let database: Arc<dyn Database> = match &location.database {
        DatabaseUrl::Sqlite(url) => Arc::new(
            SqliteDatabase::open_copy_source(url)
                .await
                .with_context(|| {
                    format!(
                        "failed to open the source database {}",
                        location.database.redacted()
                    )
                })?,
        ),
        DatabaseUrl::Postgres(url) => Arc::new(
            PostgresDatabase::open_copy_source(url)
                .await
                .with_context(|| {
                    format!(
                        "failed to open the source database {}",
                        location.database.redacted()
                    )
                })?,
        ),
    };
    if let StorageUrl::File(path) = &location.storage {
        if !path.is_dir() {
            anyhow::bail!(
                "the source file store {} is not a directory",
                path.display()
            );
        }
    }
    let store = BlobStore::open(&location.storage)
        .with_context(|| format!("failed to open the source file store {}", location.storage))?;
    Ok(Installation { database, store })
}

/// Opens the target, creating a missing embedded database or directory and applying migrations.
pub async fn open_target(location: &Location) -> anyhow::Result<Installation> {
    if let Some(data_dir) = &location.data_dir {
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!(
                "failed to create the target data directory {}",
                data_dir.display()
            )
        })?;
    }
    let database = open_database(&location.storage_settings())
        .await
        .context("failed to open the target database")?;
    let store = BlobStore::open(&location.storage)
        .with_context(|| format!("failed to open the target file store {}", location.storage))?;
    Ok(Installation { database, store })
}
