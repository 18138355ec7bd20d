//! The index must list exactly what the database lists: these tests run the same queries both ways on a real SQLite
//! file, through inserts, edits, tag changes and deletes, and compare every page, cursor and total. The `postgres_`
//! tests do the same on a PostgreSQL database when `MEDIALIB_TEST_DATABASE_URL` names a server, and return at once
//! otherwise.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqlx::Connection;

use super::*;
use crate::db::postgres::PostgresDatabase;
use crate::db::sqlite::SqliteDatabase;
use crate::db::{AssetPatch, IndexedAsset, ListPosition, NewAsset, Rename};
use crate::domain::search::fold;

const WORDS: [&str; 12] = [
    "sunset",
    "beach",
    "Café",
    "logo",
    "image",
    "IMAGE-2",
    "rabbit",
    "ab",
    "a",
    "straße",
    "猫の写真",
    "x%_y",
];
const KINDS: [&str; 3] = ["image", "document", "video"];
const UPLOADERS: [&str; 2] = ["ghost", "user-1"];

struct Fixture {
    _dir: tempfile::TempDir,
    database: Arc<dyn Database>,
    listing: Arc<Listing>,
    repository_id: i64,
    tags: Vec<String>,
    ids: Vec<String>,
    rng: StdRng,
}

impl Fixture {
    async fn new(seed: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database: Arc<dyn Database> = Arc::new(
            SqliteDatabase::open(&dir.path().join("test.sqlite"))
                .await
                .unwrap(),
        );
        Self::with_database(seed, dir, database).await
    }

    /// A fixture on a fresh PostgreSQL database, or `None` without a test server.
    async fn postgres(seed: u64) -> Option<Self> {
        let url = crate::db::postgres::tests::fresh_database_url().await?;
        let database: Arc<dyn Database> = Arc::new(PostgresDatabase::open(&url).await.unwrap());
        Some(Self::with_database(seed, tempfile::tempdir().unwrap(), database).await)
    }

    async fn with_database(seed: u64, dir: tempfile::TempDir, database: Arc<dyn Database>) -> Self {
        let repository_id = database.create_repository("test", 1).await.unwrap().id;
        // Another repository's assets and tags must never show up.
        let other = database.create_repository("other", 1).await.unwrap().id;
        let mut fixture = Self {
            _dir: dir,
            database,
            listing: Listing::new(true),
            repository_id,
            tags: Vec::new(),
            ids: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        };
        for name in ["red", "green", "blue", "gold"] {
            let tag = fixture
                .database
                .create_tag(repository_id, name, 1)
                .await
                .unwrap();
            fixture.tags.push(tag.id);
        }
        let foreign = fixture.database.create_tag(other, "red", 1).await.unwrap();
        fixture.tags.push(foreign.id);
        fixture.insert(other, 1_000).await;
        fixture
    }

    fn words(&mut self, count: usize) -> String {
        let separators = ["-", " ", "_"];
        (0..count)
            .map(|_| *WORDS.choose(&mut self.rng).unwrap())
            .collect::<Vec<_>>()
            .join(separators.choose(&mut self.rng).unwrap())
    }

    async fn insert(&mut self, repository_id: i64, created_at: i64) -> String {
        let id = format!("asset{:011}", self.rng.gen_range(0..100_000_000_000u64));
        let storage_key = format!("assets/{repository_id}/{id}");
        self.database
            .add_pending_object(&storage_key, i64::MAX)
            .await
            .unwrap();
        let count = self.rng.gen_range(1..4);
        let filename = format!("{}.jpg", self.words(count));
        let alt = self.rng.gen_bool(0.3).then(|| self.words(2));
        let notes = self.rng.gen_bool(0.2).then(|| self.words(3));
        let asset = NewAsset {
            id: id.clone(),
            repository_id,
            filename,
            extension: "jpg".into(),
            size: 1,
            kind: KINDS.choose(&mut self.rng).unwrap().to_string(),
            content_type: "image/jpeg".into(),
            width: None,
            height: None,
            notes,
            credits: None,
            alt,
            uploader_id: UPLOADERS.choose(&mut self.rng).unwrap().to_string(),
            content_hash: format!("blake3:{}", "0".repeat(64)),
            storage_key,
            created_at,
        };
        self.database.insert_asset(asset).await.unwrap();
        if repository_id == self.repository_id {
            self.ids.push(id.clone());
        }
        id
    }

    /// Inserts assets, with some sharing a creation time so the id breaks ties.
    async fn insert_many(&mut self, count: usize, start: i64) {
        let mut created_at = start;
        for _ in 0..count {
            if !self.rng.gen_bool(0.2) {
                created_at += self.rng.gen_range(1..5);
            }
            self.insert(self.repository_id, created_at).await;
            let id = self.ids.last().unwrap().clone();
            for tag in self.tags[..4].to_vec() {
                if self.rng.gen_bool(0.4) {
                    self.database
                        .set_tag_on_assets(self.repository_id, &tag, &[id.clone()], true, 1)
                        .await
                        .unwrap();
                }
            }
        }
    }

    fn random_query(&mut self) -> ListQuery {
        let mut query = ListQuery {
            repository_id: self.repository_id,
            limit: *[1u32, 3, 7, 50].choose(&mut self.rng).unwrap(),
            ..ListQuery::default()
        };
        if self.rng.gen_bool(0.7) {
            let keyword = match self.rng.gen_range(0..4) {
                0 => WORDS.choose(&mut self.rng).unwrap().to_string(),
                1 => {
                    let word = WORDS.choose(&mut self.rng).unwrap();
                    word.chars().skip(1).take(3).collect()
                }
                2 => self.words(2),
                _ => ".jpg".to_string(),
            };
            let keyword = fold(&keyword);
            if !keyword.is_empty() {
                query.keyword = Some(keyword);
            }
        }
        if query.keyword.is_none() || self.rng.gen_bool(0.4) {
            let count = self.rng.gen_range(1..3);
            query.tags = self
                .tags
                .choose_multiple(&mut self.rng, count)
                .cloned()
                .collect();
        }
        if self.rng.gen_bool(0.3) {
            query.kind = Some(KINDS.choose(&mut self.rng).unwrap().to_string());
        }
        if self.rng.gen_bool(0.2) {
            query.uploader_id = Some(UPLOADERS.choose(&mut self.rng).unwrap().to_string());
        }
        query
    }

    /// Walks every page of `query` through the index and through the database and compares them.
    async fn compare_walk(&self, mut query: ListQuery) {
        let mut pages = 0;
        loop {
            let from_index = self.listing.list(&self.database, &query).await.unwrap();
            let from_database = self.database.list_assets(&query).await.unwrap();
            let summary = |page: &ListPage| -> Vec<(String, Option<i64>, i64)> {
                page.items
                    .iter()
                    .map(|item| {
                        (
                            item.asset.id.clone(),
                            item.position.score,
                            item.position.created_at,
                        )
                    })
                    .collect()
            };
            assert_eq!(
                summary(&from_index),
                summary(&from_database),
                "page {pages} of {query:?}"
            );
            assert_eq!(from_index.total, from_database.total, "total of {query:?}");
            let tags = |page: &ListPage| -> Vec<Vec<String>> {
                page.items
                    .iter()
                    .map(|item| item.asset.tags.iter().map(|tag| tag.id.clone()).collect())
                    .collect()
            };
            assert_eq!(tags(&from_index), tags(&from_database));
            let Some(last) = from_database.items.last() else {
                break;
            };
            if from_database.items.len() < query.limit as usize {
                break;
            }
            query.after = Some(last.position.clone());
            pages += 1;
        }
    }

    async fn compare_random_queries(&mut self, count: usize) {
        for _ in 0..count {
            let query = self.random_query();
            self.compare_walk(query).await;
        }
    }
}

#[tokio::test]
async fn index_lists_what_the_database_lists() {
    lists_what_the_database_lists(Fixture::new(7).await).await;
}

#[tokio::test]
async fn postgres_index_lists_what_the_database_lists() {
    if let Some(fixture) = Fixture::postgres(7).await {
        lists_what_the_database_lists(fixture).await;
    }
}

async fn lists_what_the_database_lists(mut fixture: Fixture) {
    fixture.insert_many(300, 10_000).await;

    fixture.compare_random_queries(150).await;
}

#[tokio::test]
async fn index_follows_edits_tag_changes_and_deletes() {
    follows_edits_tag_changes_and_deletes(Fixture::new(11).await).await;
}

#[tokio::test]
async fn postgres_index_follows_edits_tag_changes_and_deletes() {
    if let Some(fixture) = Fixture::postgres(11).await {
        follows_edits_tag_changes_and_deletes(fixture).await;
    }
}

async fn follows_edits_tag_changes_and_deletes(mut fixture: Fixture) {
    fixture.insert_many(200, 10_000).await;
    // Load the index before the changes, so they arrive through the change feed.
    fixture.compare_random_queries(5).await;

    for round in 0..4 {
        for _ in 0..15 {
            let id = fixture.ids.choose(&mut fixture.rng).unwrap().clone();
            let alt = fixture.words(2);
            let filename = format!("{}.png", fixture.words(2));
            let patch = AssetPatch {
                alt: Some(alt),
                filename: fixture.rng.gen_bool(0.5).then(|| Rename {
                    filename,
                    extension: "png".into(),
                }),
                tags: fixture.rng.gen_bool(0.5).then(|| {
                    fixture.tags[..4]
                        .choose_multiple(&mut fixture.rng, 2)
                        .cloned()
                        .collect()
                }),
                ..AssetPatch::default()
            };
            match fixture
                .database
                .update_asset(fixture.repository_id, &id, patch, 2)
                .await
            {
                Ok(_) | Err(DbError::NotFound) => {}
                Err(error) => panic!("{error}"),
            }
        }
        let doomed: Vec<String> = fixture
            .ids
            .choose_multiple(&mut fixture.rng, 10)
            .cloned()
            .collect();
        fixture
            .database
            .delete_assets(fixture.repository_id, &doomed, 2)
            .await
            .unwrap();
        fixture.ids.retain(|id| !doomed.contains(id));
        let tag = fixture.tags[round % 4].clone();
        let some: Vec<String> = fixture
            .ids
            .choose_multiple(&mut fixture.rng, 20)
            .cloned()
            .collect();
        fixture
            .database
            .set_tag_on_assets(fixture.repository_id, &tag, &some, round % 2 == 0, 2)
            .await
            .unwrap();
        // New assets, some older than every indexed one, so they land in the unsorted tail.
        fixture.insert_many(10, 20_000 + round as i64 * 100).await;
        fixture.insert_many(5, 50).await;

        fixture.compare_random_queries(40).await;
    }

    fixture
        .database
        .delete_tag(fixture.repository_id, &fixture.tags[0])
        .await
        .unwrap();
    fixture.compare_random_queries(30).await;
}

#[tokio::test]
async fn index_reloads_after_the_feed_is_pruned() {
    reloads_after_the_feed_is_pruned(Fixture::new(13).await).await;
}

#[tokio::test]
async fn postgres_index_reloads_after_the_feed_is_pruned() {
    if let Some(fixture) = Fixture::postgres(13).await {
        reloads_after_the_feed_is_pruned(fixture).await;
    }
}

async fn reloads_after_the_feed_is_pruned(mut fixture: Fixture) {
    fixture.insert_many(50, 10_000).await;
    fixture.compare_random_queries(5).await;

    fixture.insert_many(20, 30_000).await;
    fixture.database.prune_index_changes(0).await.unwrap();

    fixture.compare_random_queries(30).await;
}

/// On PostgreSQL, transactions commit their feed rows out of order. A change that commits after a catch-up which
/// already saw a later transaction's change must still reach the index.
#[tokio::test]
async fn postgres_index_sees_a_change_that_commits_late() {
    let Some(url) = crate::db::postgres::tests::fresh_database_url().await else {
        return;
    };
    let database: Arc<dyn Database> = Arc::new(PostgresDatabase::open(&url).await.unwrap());
    let mut fixture = Fixture::with_database(17, tempfile::tempdir().unwrap(), database).await;
    fixture.insert_many(30, 10_000).await;
    fixture.compare_random_queries(3).await;
    let (early, late) = (fixture.ids[0].clone(), fixture.ids[1].clone());

    // The slow writer takes its transaction id first and holds it open.
    let mut slow = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut slow).await.unwrap();
    sqlx::query("UPDATE assets SET search_alt = 'committed late' WHERE id = $1")
        .bind(&early)
        .execute(&mut slow)
        .await
        .unwrap();
    let patch = AssetPatch {
        alt: Some("committed early".into()),
        ..AssetPatch::default()
    };
    fixture
        .database
        .update_asset(fixture.repository_id, &late, patch, 2)
        .await
        .unwrap();
    let query = |keyword: &str| ListQuery {
        repository_id: fixture.repository_id,
        limit: 10,
        keyword: Some(fold(keyword)),
        ..ListQuery::default()
    };
    let page = fixture
        .listing
        .list(&fixture.database, &query("committed"))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1, "only the early commit is visible yet");

    sqlx::query("COMMIT").execute(&mut slow).await.unwrap();

    let page = fixture
        .listing
        .list(&fixture.database, &query("committed"))
        .await
        .unwrap();
    let mut found: Vec<String> = page
        .items
        .iter()
        .map(|item| item.asset.id.clone())
        .collect();
    found.sort();
    let mut expected = vec![early, late];
    expected.sort();
    assert_eq!(found, expected);
    fixture.compare_walk(query("late")).await;
}

#[test]
fn unsorted_tail_is_rebuilt_in_order() {
    let asset = |number: i64| IndexedAsset {
        id: format!("id{number:05}"),
        created_at: 1_000_000 - number,
        kind: "image".into(),
        uploader_id: "ghost".into(),
        search: [
            format!("file {number}"),
            String::new(),
            String::new(),
            String::new(),
        ],
        tag_ids: Vec::new(),
    };
    let mut index = RepositoryIndex::build(0, Vec::new());
    // Each asset is older than the previous one, so every insert goes to the tail until the rebuild.
    let ids: Vec<String> = (0..1100).map(|number| format!("id{number:05}")).collect();
    index.apply(1, &ids, (0..1100).map(asset).collect());

    let query = ListQuery {
        limit: 5,
        keyword: Some("file 10".into()),
        ..ListQuery::default()
    };
    let result = index.search(&query);
    let found: Vec<&str> = result.hits.iter().map(|hit| hit.id.as_str()).collect();
    // "file 10" equals one filename, starts 11 others ("file 10", "file 100".."file 109", "file 1000".."file 1099").
    assert_eq!(result.total, 111);
    assert_eq!(
        found,
        ["id00010", "id00100", "id00101", "id00102", "id00103"]
    );
}

/// Keyword searches with more candidates than `index::PARALLEL_CANDIDATES` check them on two threads. Compares such
/// searches, first page and a later one, with the matches worked out one by one.
#[test]
fn large_keyword_searches_match_a_plain_scan() {
    let mut rng = StdRng::seed_from_u64(19);
    let assets: Vec<IndexedAsset> = (0..100_000)
        .map(|number| {
            let filename = format!(
                "{} {}.jpg",
                WORDS.choose(&mut rng).unwrap(),
                WORDS.choose(&mut rng).unwrap()
            );
            IndexedAsset {
                id: format!("asset{number:08}"),
                created_at: rng.gen_range(0..20_000),
                kind: KINDS.choose(&mut rng).unwrap().to_string(),
                uploader_id: UPLOADERS[0].to_string(),
                search: [
                    fold(&filename),
                    fold(WORDS.choose(&mut rng).unwrap()),
                    String::new(),
                    String::new(),
                ],
                tag_ids: Vec::new(),
            }
        })
        .collect();
    let index = RepositoryIndex::build(0, assets.clone());

    for word in ["image", "a", "ab", "jpg", "straße"] {
        let keyword = fold(word);
        let expected = plain_scan(&assets, &keyword);
        assert!(
            expected.len() > 16_384,
            "{word} must have many candidates, has {}",
            expected.len()
        );

        let mut query = ListQuery {
            repository_id: 1,
            limit: 50,
            keyword: Some(keyword.clone()),
            ..ListQuery::default()
        };
        let first = index.search(&query);
        assert_eq!(first.total, expected.len() as i64, "total of {word}");
        assert_eq!(first.hits, expected[..50], "first page of {word}");
        // A cursor in the middle of the matches, inside whichever tier that is.
        query.after = Some(expected[expected.len() / 2].clone());
        let later = index.search(&query);
        let from = expected.len() / 2 + 1;
        assert_eq!(
            later.hits,
            expected[from..(from + 50).min(expected.len())],
            "later page of {word}"
        );
    }
}

/// Returns the matches of `keyword` in `assets`, ranked and ordered as the listing orders them, worked out one by one
/// from the texts.
fn plain_scan(assets: &[IndexedAsset], keyword: &str) -> Vec<ListPosition> {
    let mut expected: Vec<ListPosition> = assets
        .iter()
        .filter_map(|asset| {
            let [filename, others @ ..] = &asset.search;
            let score = if *filename == keyword {
                0
            } else if filename.starts_with(keyword) {
                1
            } else if filename.contains(keyword) {
                2
            } else if others.iter().any(|field| field.contains(keyword)) {
                3
            } else {
                return None;
            };
            Some(ListPosition {
                score: Some(score),
                created_at: asset.created_at,
                id: asset.id.clone(),
            })
        })
        .collect();
    expected.sort_by(|a, b| {
        a.score
            .cmp(&b.score)
            .then(b.created_at.cmp(&a.created_at))
            .then(b.id.cmp(&a.id))
    });
    expected
}

/// Keywords of letters, digits and non-ASCII characters are matched through the tokens, others through the texts. Both
/// must give a plain scan's matches, ranks and order, also after edits, deletes and inserts, and after a rebuild.
#[test]
fn keyword_matches_survive_edits_and_rebuilds() {
    const PIECES: [&str; 14] = [
        "logo",
        "logos",
        "catalogo",
        "Café",
        "straße",
        "猫の写真",
        "img",
        "4821",
        "v2",
        "x%_y",
        "final",
        "a",
        "lo",
        "go",
    ];
    const SEPARATORS: [&str; 5] = ["-", " ", "_", ".", ""];
    const KEYWORDS: [&str; 16] = [
        "logo", "logos", "ogo", "log", "café", "afé", "straße", "写真", "img", "482", "4821",
        "x%_y", "go-", "o.l", "v2 f", "final",
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let text = |rng: &mut StdRng, max_pieces: usize| -> String {
        let count = rng.gen_range(0..=max_pieces);
        let mut text = String::new();
        for _ in 0..count {
            text.push_str(PIECES.choose(rng).unwrap());
            text.push_str(SEPARATORS.choose(rng).unwrap());
        }
        fold(&text)
    };
    let asset = |rng: &mut StdRng, number: usize| IndexedAsset {
        id: format!("asset{number:06}"),
        created_at: rng.gen_range(0..500),
        kind: KINDS.choose(rng).unwrap().to_string(),
        uploader_id: UPLOADERS[0].to_string(),
        search: [text(rng, 3), text(rng, 2), text(rng, 4), text(rng, 1)],
        tag_ids: Vec::new(),
    };

    let mut assets: Vec<IndexedAsset> = (0..3000).map(|number| asset(&mut rng, number)).collect();
    let mut index = RepositoryIndex::build(0, assets.clone());
    let mut next_number = assets.len();
    for round in 1..=6 {
        // About 200 inserts a round, most of them older than the newest asset: the sixth round passes the unsorted
        // tail's limit and rebuilds the index.
        let mut changed = Vec::new();
        for _ in 0..600 {
            let position = rng.gen_range(0..assets.len());
            changed.push(assets[position].id.clone());
            match rng.gen_range(0..3) {
                // An edit keeps the id and the creation time.
                0 => {
                    let edited = asset(&mut rng, 0);
                    assets[position].search = edited.search;
                }
                1 => {
                    assets.swap_remove(position);
                }
                _ => {
                    let inserted = asset(&mut rng, next_number);
                    next_number += 1;
                    changed.push(inserted.id.clone());
                    assets.push(inserted);
                }
            }
        }
        changed.sort();
        changed.dedup();
        let current: Vec<IndexedAsset> = assets
            .iter()
            .filter(|asset| changed.binary_search(&asset.id).is_ok())
            .cloned()
            .collect();
        index.apply(round, &changed, current);

        for word in KEYWORDS {
            let keyword = fold(word);
            let expected = plain_scan(&assets, &keyword);
            let mut query = ListQuery {
                repository_id: 1,
                limit: 20,
                keyword: Some(keyword.clone()),
                ..ListQuery::default()
            };
            let first = index.search(&query);
            assert_eq!(
                first.total,
                expected.len() as i64,
                "total of {word:?} in round {round}"
            );
            assert_eq!(
                first.hits,
                expected[..expected.len().min(20)],
                "first page of {word:?} in round {round}"
            );
            if let Some(middle) = expected.get(expected.len() / 2) {
                query.after = Some(middle.clone());
                let from = expected.len() / 2 + 1;
                assert_eq!(
                    index.search(&query).hits,
                    expected[from..(from + 20).min(expected.len())],
                    "later page of {word:?} in round {round}"
                );
            }
        }
    }
}
