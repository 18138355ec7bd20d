//! Checks that every backend must pass: run on SQLite here, and on PostgreSQL by `postgres::tests`.

use super::sqlite::SqliteDatabase;
use super::*;

/// The token id, the repository name and the access that `find_token_access` returns.
type Access = Option<(String, Option<String>, bool)>;

async fn access(database: &dyn Database, secret_hash: &str, repository_name: &str) -> Access {
    database
        .find_token_access(secret_hash, repository_name)
        .await
        .expect("look up a token")
        .map(|access| {
            (
                access.token.id,
                access.repository.map(|repository| repository.name),
                access.allowed,
            )
        })
}

fn token(
    id: &str,
    secret_hash: &str,
    repository_id: Option<i64>,
    user_id: Option<String>,
) -> NewToken {
    NewToken {
        id: id.to_owned(),
        secret_hash: secret_hash.to_owned(),
        repository_id,
        user_id,
        read_only: false,
        label: None,
        created_at: 1,
        expires_at: None,
    }
}

fn asset(repository_id: i64, id: &str, storage_key: &str) -> NewAsset {
    NewAsset {
        id: id.to_owned(),
        repository_id,
        filename: format!("{id}.txt"),
        extension: "txt".into(),
        size: 1,
        kind: "document".into(),
        content_type: "text/plain".into(),
        width: None,
        height: None,
        notes: None,
        credits: None,
        alt: None,
        uploader_id: "ghost".into(),
        content_hash: format!("blake3:{}", "0".repeat(64)),
        storage_key: storage_key.to_owned(),
        created_at: 1,
    }
}

/// Checks a token's lookup with the repository a request names, and the insert of an asset, which needs the pending
/// row of its bytes and removes it.
pub(crate) async fn check_access_and_settling(database: &dyn Database) {
    let first = database.create_repository("first", 1).await.unwrap();
    let second = database.create_repository("second", 1).await.unwrap();
    database
        .create_token(token("repository-token", "hash-1", Some(first.id), None))
        .await
        .unwrap();
    let member = database
        .create_user("member@example.com", second.id, 1)
        .await
        .unwrap();
    database
        .create_token(token("session-token", "hash-2", None, Some(member.id)))
        .await
        .unwrap();

    let found = |id: &str, repository: Option<&str>, allowed: bool| -> Access {
        Some((id.to_owned(), repository.map(str::to_owned), allowed))
    };
    assert_eq!(
        access(database, "hash-1", "first").await,
        found("repository-token", Some("first"), true)
    );
    assert_eq!(
        access(database, "hash-1", "second").await,
        found("repository-token", Some("second"), false)
    );
    assert_eq!(
        access(database, "hash-1", "missing").await,
        found("repository-token", None, false)
    );
    assert_eq!(
        access(database, "hash-1", "").await,
        found("repository-token", None, false)
    );
    assert_eq!(
        access(database, "hash-1", "fi\0rst").await,
        found("repository-token", None, false)
    );
    assert_eq!(
        access(database, "hash-2", "second").await,
        found("session-token", Some("second"), true)
    );
    assert_eq!(
        access(database, "hash-2", "first").await,
        found("session-token", Some("first"), false)
    );
    assert_eq!(access(database, "unknown", "first").await, None);
    assert_eq!(access(database, "hash\0-1", "first").await, None);

    let orphan = database
        .insert_asset(asset(first.id, "orphan", "key-orphan"))
        .await;
    assert!(
        matches!(orphan, Err(DbError::NotFound)),
        "an asset whose bytes have no pending row was inserted: {orphan:?}"
    );
    assert!(database
        .find_asset("first", "orphan")
        .await
        .unwrap()
        .is_none());

    database.add_pending_object("key-settled", 5).await.unwrap();
    database
        .insert_asset(asset(first.id, "settled", "key-settled"))
        .await
        .expect("insert an asset whose bytes are pending");
    assert!(database
        .find_asset("first", "settled")
        .await
        .unwrap()
        .is_some());
    let pending = database.due_pending_objects(i64::MAX, 10).await.unwrap();
    assert!(
        pending.is_empty(),
        "the inserted asset left its pending row: {:?}",
        pending
            .iter()
            .map(|object| &object.storage_key)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn sqlite_access_and_settling() {
    let directory = tempfile::tempdir().unwrap();
    let database = SqliteDatabase::open(&directory.path().join("checks.sqlite"))
        .await
        .unwrap();
    check_access_and_settling(&database).await;
}
