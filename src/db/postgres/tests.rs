//! Tests against a PostgreSQL server: the same data and queries on both backends must give the same results, and
//! concurrent writers through separate connection pools (as separate processes have) must lose nothing.
//!
//! They run when `MEDIALIB_TEST_DATABASE_URL` names a server (for example the one of scripts/postgres.sh); each test
//! creates its own database there. Without the variable they return at once and print why.

use std::sync::Arc;

use sqlx::Connection;

use super::PostgresDatabase;
use crate::db::sqlite::SqliteDatabase;
use crate::db::*;
use crate::domain::search::fold;

/// Creates a fresh database on the test server and returns its URL, or `None` without a server.
pub(crate) async fn fresh_database_url() -> Option<String> {
    let Ok(server_url) = std::env::var("MEDIALIB_TEST_DATABASE_URL") else {
        eprintln!("MEDIALIB_TEST_DATABASE_URL is not set; skipping this PostgreSQL test");
        return None;
    };
    let name = format!("unit_{}", uuid::Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(&server_url)
        .await
        .expect("connect to MEDIALIB_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut connection)
        .await
        .expect("create a test database");
    let base = server_url.split('?').next().unwrap_or(&server_url);
    let host_end = base
        .rfind('/')
        .filter(|&index| index > base.find("://").map_or(0, |i| i + 2));
    Some(format!(
        "{}/{name}",
        &base[..host_end.unwrap_or(base.len())]
    ))
}

/// One asset of the parity data: filename, notes, credits, alt, kind, and a creation time shared by some assets,
/// so that ties are broken by id.
const ASSETS: &[(&str, Option<&str>, Option<&str>, Option<&str>, &str, i64)] = &[
    ("100% done.png", None, None, None, "image", 1_000),
    ("a_b.jpg", Some("under_score"), None, None, "image", 1_000),
    ("ab.jpg", None, Some("a%b"), None, "image", 1_000),
    (
        "back\\slash.png",
        None,
        None,
        Some("C:\\path\\0"),
        "image",
        2_000,
    ),
    ("Café.png", Some("CAFÉ au lait"), None, None, "image", 2_000),
    ("STRASSE.jpg", None, None, Some("Straße"), "image", 3_000),
    (
        "nul.txt",
        Some("before\0after"),
        None,
        Some("a\0b"),
        "document",
        3_000,
    ),
    (
        "photo.png",
        Some("a photo"),
        Some("Photographer"),
        Some("photo"),
        "image",
        4_000,
    ),
    ("Photo_2.png", None, None, None, "image", 4_000),
    (
        "quote\"d'.txt",
        Some("*star*"),
        None,
        None,
        "document",
        5_000,
    ),
    ("ﬁle.pdf", None, None, None, "document", 5_000),
    ("Σίσυφος.png", Some("ΣΊΣΥΦΟΣ"), None, None, "image", 6_000),
    (
        "escape\u{ffff}mark.txt",
        Some("\u{ffff}\\0 starts with the mark"),
        None,
        None,
        "document",
        6_000,
    ),
    ("photo", None, None, None, "document", 7_000),
    (
        "e\u{301}toile.png",
        Some("e\u{301}"),
        None,
        None,
        "image",
        7_000,
    ),
];

const KEYWORDS: &[&str] = &[
    "%",
    "_",
    "\\",
    "\\0",
    "100%",
    "a_b",
    "a%b",
    "%_",
    "\0",
    "a\0b",
    "\0a",
    "caf",
    "CAFÉ",
    "cafe",
    "straße",
    "ss",
    "é",
    "e",
    ".png",
    "photo",
    "PHOTO",
    "x",
    "ph",
    "\"",
    "'",
    "*",
    "fi",
    "ﬁ",
    "σίσυφος",
    "ς",
    "\u{ffff}",
    "mark",
    "star",
    "ab",
    "b",
    "zzz",
    "photo.png",
    "etoile",
];

/// Inserts the parity data into a backend: the repository, the assets, five tags and their assignments.
async fn seed(database: &dyn Database) -> (i64, Vec<String>) {
    let repository = database
        .create_repository("parity", 1)
        .await
        .expect("create the repository");
    let mut ids = Vec::new();
    for (index, (filename, notes, credits, alt, kind, created_at)) in ASSETS.iter().enumerate() {
        let id = format!("asset{index:02}");
        let key = format!("key{index:02}");
        database
            .add_pending_object(&key, i64::MAX)
            .await
            .expect("record the pending object");
        database
            .insert_asset(NewAsset {
                id: id.clone(),
                repository_id: repository.id,
                filename: filename.to_string(),
                extension: filename
                    .rsplit_once('.')
                    .map(|(_, ext)| ext.to_string())
                    .unwrap_or_default(),
                size: index as i64,
                kind: kind.to_string(),
                content_type: "application/octet-stream".into(),
                width: None,
                height: None,
                notes: notes.map(str::to_owned),
                credits: credits.map(str::to_owned),
                alt: alt.map(str::to_owned),
                uploader_id: format!("user{}", index % 3),
                content_hash: format!("blake3:{index:064}"),
                storage_key: key,
                created_at: *created_at,
            })
            .await
            .expect("insert an asset");
        ids.push(id);
    }

    let mut tag_ids = Vec::new();
    for (index, name) in ["zeta", "a\0nul", "\u{ffff}mark", "Alpha", "alpha"]
        .iter()
        .enumerate()
    {
        let tag = database
            .create_tag(repository.id, name, 10 + index as i64)
            .await
            .expect("create a tag");
        tag_ids.push(tag.id);
    }
    // Tag number n goes on every (n+1)th asset from the nth, so the tags have different counts.
    for (tag_index, tag_id) in tag_ids.iter().enumerate() {
        let tagged: Vec<String> = ids
            .iter()
            .skip(tag_index)
            .step_by(tag_index + 1)
            .cloned()
            .collect();
        database
            .set_tag_on_assets(repository.id, tag_id, &tagged, true, 20)
            .await
            .expect("assign a tag");
    }
    (repository.id, tag_ids)
}

/// Walks every page of a listing, two items at a time, and returns the pages as text, with the total.
async fn walk(database: &dyn Database, mut query: ListQuery) -> Vec<String> {
    query.limit = 2;
    let mut pages = Vec::new();
    loop {
        let page = database.list_assets(&query).await.expect("list assets");
        pages.push(format!(
            "total {} missing {:?}",
            page.total, page.missing_ids
        ));
        for item in &page.items {
            let mut asset = item.asset.clone();
            // Tag ids are random per backend; names identify the tags.
            asset.tags.iter_mut().for_each(|tag| tag.id.clear());
            pages.push(format!("{:?} {:?}", item.position.score, asset));
        }
        match page.items.last() {
            Some(last) if page.items.len() == 2 => query.after = Some(last.position.clone()),
            _ => return pages,
        }
    }
}

#[tokio::test]
async fn listings_match_sqlite() {
    let Some(url) = fresh_database_url().await else {
        return;
    };
    let postgres = PostgresDatabase::open(&url).await.expect("open PostgreSQL");
    let directory = tempfile::tempdir().expect("create a temporary directory");
    let sqlite = SqliteDatabase::open(&directory.path().join("parity.sqlite"))
        .await
        .expect("open SQLite");
    let (sqlite_repository, sqlite_tags) = seed(&sqlite).await;
    let (postgres_repository, postgres_tags) = seed(&postgres).await;

    let query_for = |repository_id: i64, tags: &[String]| ListQuery {
        repository_id,
        tags: tags.to_vec(),
        ..ListQuery::default()
    };
    let mut cases: Vec<(String, ListQuery, ListQuery)> = vec![(
        "no filter".into(),
        query_for(sqlite_repository, &[]),
        query_for(postgres_repository, &[]),
    )];
    for keyword in KEYWORDS {
        let folded = fold(keyword);
        let mut sqlite_query = query_for(sqlite_repository, &[]);
        sqlite_query.keyword = Some(folded.clone());
        let mut postgres_query = query_for(postgres_repository, &[]);
        postgres_query.keyword = Some(folded);
        cases.push((format!("keyword {keyword:?}"), sqlite_query, postgres_query));
    }
    for (label, picks) in [
        ("one tag", vec![0]),
        ("two tags", vec![0, 1]),
        ("three tags", vec![1, 2, 4]),
    ] {
        let sqlite_picked: Vec<String> = picks
            .iter()
            .map(|&index| sqlite_tags[index].clone())
            .collect();
        let postgres_picked: Vec<String> = picks
            .iter()
            .map(|&index| postgres_tags[index].clone())
            .collect();
        cases.push((
            label.into(),
            query_for(sqlite_repository, &sqlite_picked),
            query_for(postgres_repository, &postgres_picked),
        ));
    }
    let mut sqlite_query = query_for(sqlite_repository, &["unknown".into()]);
    let mut postgres_query = query_for(postgres_repository, &["unknown".into()]);
    cases.push((
        "unknown tag".into(),
        sqlite_query.clone(),
        postgres_query.clone(),
    ));
    sqlite_query.tags = vec!["nul\0tag".into()];
    postgres_query.tags = vec!["nul\0tag".into()];
    cases.push(("tag id with U+0000".into(), sqlite_query, postgres_query));
    for (label, kind, uploader, ids) in [
        ("kind", Some("document"), None, vec![]),
        ("uploader", None, Some("user1"), vec![]),
        ("uploader with U+0000", None, Some("user\0"), vec![]),
        (
            "ids",
            None,
            None,
            vec!["asset03", "missing", "asset01", "a\0b"],
        ),
        ("kind and keyword", Some("image"), None, vec![]),
    ] {
        let build = |repository_id| ListQuery {
            repository_id,
            kind: kind.map(str::to_owned),
            uploader_id: uploader.map(str::to_owned),
            ids: ids.iter().map(|id| id.to_string()).collect(),
            keyword: (label == "kind and keyword").then(|| "photo".to_owned()),
            ..ListQuery::default()
        };
        cases.push((
            label.into(),
            build(sqlite_repository),
            build(postgres_repository),
        ));
    }

    for (label, sqlite_query, postgres_query) in cases {
        let expected = walk(&sqlite, sqlite_query).await;
        let actual = walk(&postgres, postgres_query).await;
        assert_eq!(actual, expected, "{label}: PostgreSQL differs from SQLite");
    }

    let names = |tags: Vec<TagWithCount>| -> Vec<(String, i64)> {
        tags.into_iter()
            .map(|tag| (tag.tag.name, tag.count))
            .collect()
    };
    assert_eq!(
        names(postgres.list_tags(postgres_repository).await.unwrap()),
        names(sqlite.list_tags(sqlite_repository).await.unwrap()),
        "tag lists differ"
    );
    assert_eq!(
        postgres.list_uploaders(postgres_repository).await.unwrap(),
        sqlite.list_uploaders(sqlite_repository).await.unwrap()
    );
}

#[tokio::test]
async fn errors_match_sqlite() {
    let Some(url) = fresh_database_url().await else {
        return;
    };
    let postgres = PostgresDatabase::open(&url).await.expect("open PostgreSQL");
    let directory = tempfile::tempdir().expect("create a temporary directory");
    let sqlite = SqliteDatabase::open(&directory.path().join("errors.sqlite"))
        .await
        .expect("open SQLite");

    let expected = write_outcomes(&sqlite).await;
    let actual = write_outcomes(&postgres).await;
    for (index, (actual, expected)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(
            actual, expected,
            "outcome {index} differs between PostgreSQL and SQLite"
        );
    }
    assert_eq!(actual.len(), expected.len());
}

/// Runs writes that fail or touch U+0000 on the parity data and describes each outcome.
async fn write_outcomes(database: &dyn Database) -> Vec<String> {
    let (repository, tags) = seed(database).await;
    let outcome = |result: DbResult<String>| match result {
        Ok(value) => format!("ok {value:?}"),
        Err(DbError::NotFound) => "not found".into(),
        Err(DbError::Conflict) => "conflict".into(),
        Err(DbError::UnknownReference(id)) => format!("unknown {id:?}"),
        Err(other) => panic!("unexpected error {other:#}"),
    };
    let mut outcomes = vec![
        outcome(
            database
                .create_repository("parity", 2)
                .await
                .map(|r| r.name),
        ),
        outcome(
            database
                .create_tag(repository, "zeta", 2)
                .await
                .map(|t| t.name),
        ),
        outcome(
            database
                .create_tag(repository, "a\0nul", 2)
                .await
                .map(|t| t.name),
        ),
        outcome(
            database
                .create_tag(repository, "\u{ffff}mark", 2)
                .await
                .map(|t| t.name),
        ),
        outcome(
            database
                .rename_tag(repository, &tags[0], "alpha", 2)
                .await
                .map(|t| t.name),
        ),
        outcome(
            database
                .rename_tag(repository, &tags[0], "new\0name", 2)
                .await
                .map(|t| t.name),
        ),
        outcome(
            database
                .rename_tag(repository, "missing", "x", 2)
                .await
                .map(|t| t.name),
        ),
        outcome(
            database
                .rename_tag(repository, "a\0b", "x", 2)
                .await
                .map(|t| t.name),
        ),
        outcome(
            database
                .delete_tag(repository, "a\0b")
                .await
                .map(|()| String::new()),
        ),
        outcome(
            database
                .delete_tag(repository, &tags[4])
                .await
                .map(|()| String::new()),
        ),
        outcome(
            database
                .delete_tag(repository, &tags[4])
                .await
                .map(|()| String::new()),
        ),
    ];

    let ids = |list: &[&str]| list.iter().map(|id| id.to_string()).collect::<Vec<_>>();
    for (tag, assets) in [
        (tags[0].as_str(), ids(&["asset01", "zz\0", "asset00"])),
        (tags[0].as_str(), ids(&["asset02", "missing"])),
        (tags[0].as_str(), ids(&["asset02", "asset02", "asset03"])),
        ("missing", ids(&["asset01"])),
        ("t\0", ids(&["asset01"])),
    ] {
        outcomes.push(outcome(
            database
                .set_tag_on_assets(repository, tag, &assets, true, 3)
                .await
                .map(|()| String::new()),
        ));
    }

    let patch = |tags: Option<Vec<String>>, notes: Option<&str>| AssetPatch {
        notes: notes.map(str::to_owned),
        tags,
        ..AssetPatch::default()
    };
    for (id, patch) in [
        (
            "asset00",
            patch(Some(vec![tags[1].clone(), "missing".into()]), Some("n")),
        ),
        ("asset00", patch(Some(vec!["x\0".into()]), None)),
        ("missing", patch(None, Some("n"))),
        ("asset\0", patch(None, Some("n"))),
        (
            "asset05",
            patch(
                Some(vec![tags[2].clone(), tags[1].clone(), tags[2].clone()]),
                Some("with\0nul"),
            ),
        ),
        (
            "asset05",
            patch(
                Some(vec![tags[1].clone(), tags[2].clone()]),
                Some("with\0nul"),
            ),
        ),
        ("asset06", patch(Some(vec![]), Some(""))),
    ] {
        outcomes.push(outcome(
            database
                .update_asset(repository, id, patch, 4)
                .await
                .map(|asset| {
                    let names: Vec<String> = asset.tags.into_iter().map(|tag| tag.name).collect();
                    format!("{:?} {names:?} {}", asset.notes, asset.last_modified)
                }),
        ));
    }
    let deleted = database
        .delete_assets(
            repository,
            &ids(&["asset03", "a\0", "missing", "asset03"]),
            5,
        )
        .await
        .expect("delete assets");
    outcomes.push(format!("deleted {}", deleted.len()));
    outcomes.push(format!(
        "{:?}",
        database
            .find_asset("parity", "asset\0")
            .await
            .unwrap()
            .is_some()
    ));
    outcomes.push(format!(
        "{:?}",
        database
            .find_asset("parity", "asset04")
            .await
            .unwrap()
            .map(|a| a.notes)
    ));
    outcomes.push(format!(
        "{:?}",
        database
            .find_user_by_email("a\0@b")
            .await
            .unwrap()
            .is_some()
    ));
    let tags_now: Vec<(String, i64)> = database
        .list_tags(repository)
        .await
        .unwrap()
        .into_iter()
        .map(|tag| (tag.tag.name, tag.count))
        .collect();
    outcomes.push(format!("{tags_now:?}"));
    outcomes
}

#[tokio::test]
async fn access_and_settling() {
    let Some(url) = fresh_database_url().await else {
        return;
    };
    let postgres = PostgresDatabase::open(&url).await.expect("open PostgreSQL");
    crate::db::tests::check_access_and_settling(&postgres).await;
}

#[tokio::test]
async fn concurrent_writers_lose_nothing() {
    let Some(url) = fresh_database_url().await else {
        return;
    };
    // Two pools stand for two server processes.
    let first = Arc::new(PostgresDatabase::open(&url).await.expect("open PostgreSQL"));
    let second = Arc::new(PostgresDatabase::open(&url).await.expect("open PostgreSQL"));
    let (repository, tags) = seed(first.as_ref()).await;
    let assets: Vec<String> = (0..ASSETS.len())
        .map(|index| format!("asset{index:02}"))
        .collect();

    let mut tasks = Vec::new();
    for round in 0..60usize {
        let database = if round % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let tags = tags.clone();
        let assets = assets.clone();
        tasks.push(tokio::spawn(async move {
            let tag = &tags[round % tags.len()];
            match round % 3 {
                0 => {
                    let picked: Vec<String> =
                        assets.iter().skip(round % 4).step_by(2).cloned().collect();
                    database
                        .set_tag_on_assets(repository, tag, &picked, round % 4 != 0, 100)
                        .await
                }
                1 => {
                    let picked = vec![tags[round % 5].clone(), tags[(round + 2) % 5].clone()];
                    let patch = AssetPatch {
                        tags: Some(picked),
                        ..AssetPatch::default()
                    };
                    database
                        .update_asset(repository, &assets[round % 4], patch, 100)
                        .await
                        .map(|_| ())
                }
                _ => {
                    // Each of these writes one field of one asset: all of them must survive.
                    let field = format!("round {round}");
                    let patch = match round % 4 {
                        0 => AssetPatch {
                            notes: Some(field),
                            ..AssetPatch::default()
                        },
                        1 => AssetPatch {
                            credits: Some(field),
                            ..AssetPatch::default()
                        },
                        _ => AssetPatch {
                            alt: Some(field),
                            ..AssetPatch::default()
                        },
                    };
                    database
                        .update_asset(repository, "asset14", patch, 100)
                        .await
                        .map(|_| ())
                }
            }
        }));
    }
    for task in tasks {
        task.await
            .expect("task")
            .expect("a concurrent write failed");
    }

    let page = first
        .list_assets(&ListQuery {
            repository_id: repository,
            limit: 100,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    for tag in first.list_tags(repository).await.unwrap() {
        let carried = page
            .items
            .iter()
            .filter(|item| {
                item.asset
                    .tags
                    .iter()
                    .any(|assigned| assigned.id == tag.tag.id)
            })
            .count() as i64;
        assert_eq!(tag.count, carried, "kept count of tag {:?}", tag.tag.name);
    }
    let written = page
        .items
        .iter()
        .find(|item| item.asset.id == "asset14")
        .expect("asset14");
    for (field, value) in [
        ("notes", &written.asset.notes),
        ("credits", &written.asset.credits),
        ("alt", &written.asset.alt),
    ] {
        assert!(
            value
                .as_deref()
                .is_some_and(|value| value.starts_with("round ")),
            "{field} of asset14 lost its concurrent write: {value:?}"
        );
    }
}

#[tokio::test]
async fn processes_start_together() {
    let Some(url) = fresh_database_url().await else {
        return;
    };
    let opened = futures::future::join_all((0..4).map(|_| PostgresDatabase::open(&url))).await;
    let databases: Vec<PostgresDatabase> = opened
        .into_iter()
        .map(|result| result.expect("every process applies or finds the migrations"))
        .collect();

    let token = |index: usize| NewToken {
        id: format!("tok{index}"),
        secret_hash: format!("hash{index}"),
        repository_id: None,
        user_id: None,
        read_only: false,
        label: None,
        created_at: 1,
        expires_at: None,
    };
    let created = futures::future::join_all(
        databases
            .iter()
            .enumerate()
            .map(|(index, db)| db.bootstrap("demo", token(index))),
    )
    .await;
    let created: Vec<bool> = created
        .into_iter()
        .map(|result| result.expect("bootstrap"))
        .collect();
    assert_eq!(
        created.iter().filter(|&&done| done).count(),
        1,
        "one process bootstraps: {created:?}"
    );
    assert_eq!(databases[0].list_repositories().await.unwrap().len(), 1);
    assert_eq!(databases[0].list_tokens().await.unwrap().len(), 1);
    assert!(
        !databases[1].bootstrap("demo", token(9)).await.unwrap(),
        "a later start does not bootstrap"
    );
}
