//! Assets: insert, list and search, update, delete.

use std::collections::HashMap;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::text::{self, like_literal, search_key, storable};
use super::{retry, PostgresDatabase, ResultExt};
use crate::db::*;
use crate::domain::search::fold;

const ASSET_COLUMNS: &str = "a.id, a.repository_id, a.filename, a.uploaded_filename, a.extension, a.size, a.kind, \
     a.content_type, a.width, a.height, a.notes, a.credits, a.alt, a.uploader_id, a.content_hash, a.storage_key, \
     a.created_at, a.last_modified";

/// The four search keys joined by line feeds, exactly as the trigram index `assets_search` is defined in
/// migrations/postgres. The planner uses the index only for this same expression.
const SEARCH_EXPRESSION: &str =
    "(a.search_filename || E'\\n' || a.search_alt || E'\\n' || a.search_notes || E'\\n' || a.search_credits)";

/// Shortest keyword that pg_trgm can extract a trigram from; shorter keywords scan the repository's assets.
const MIN_INDEXED_KEYWORD_CHARS: usize = 3;

fn asset_from_row(row: &PgRow, tags: Vec<TagRecord>) -> DbResult<AssetRecord> {
    Ok(AssetRecord {
        id: row.try_get("id").db()?,
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
        tags,
    })
}

impl PostgresDatabase {
    pub(super) async fn insert_asset(&self, asset: NewAsset) -> DbResult<AssetRecord> {
        retry(|| self.insert_asset_once(&asset)).await?;
        Ok(AssetRecord {
            id: asset.id,
            repository_id: asset.repository_id,
            uploaded_filename: asset.filename.clone(),
            filename: asset.filename,
            extension: asset.extension,
            size: asset.size,
            kind: asset.kind,
            content_type: asset.content_type,
            width: asset.width,
            height: asset.height,
            notes: asset.notes,
            credits: asset.credits,
            alt: asset.alt,
            uploader_id: asset.uploader_id,
            content_hash: asset.content_hash,
            storage_key: asset.storage_key,
            created_at: asset.created_at,
            last_modified: asset.created_at,
            tags: Vec::new(),
        })
    }

    async fn insert_asset_once(&self, asset: &NewAsset) -> DbResult<()> {
        let mut tx = self.begin().await?;

        let pending = sqlx::query("DELETE FROM pending_objects WHERE storage_key = $1")
            .bind(&asset.storage_key)
            .execute(&mut *tx)
            .await
            .db()?;
        if pending.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        sqlx::query(
            "INSERT INTO assets (id, repository_id, filename, uploaded_filename, extension, size, kind, content_type,
                 width, height, notes, credits, alt, uploader_id, content_hash, storage_key, created_at, last_modified,
                 search_filename, search_notes, search_credits, search_alt)
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16,
                 $17, $18, $19, $20)",
        )
        .bind(&asset.id)
        .bind(asset.repository_id)
        .bind(&asset.filename)
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
        .bind(search_key(&fold(&asset.filename)))
        .bind(search_key(&fold(asset.notes.as_deref().unwrap_or(""))))
        .bind(search_key(&fold(asset.credits.as_deref().unwrap_or(""))))
        .bind(search_key(&fold(asset.alt.as_deref().unwrap_or(""))))
        .execute(&mut *tx)
        .await
        .db()?;

        tx.commit().await.db()
    }

    pub(super) async fn list_assets(&self, query: &ListQuery) -> DbResult<ListPage> {
        let mut reader = self.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *reader)
            .await
            .db()?;

        let filters = Filters::new(query);
        let tag_counts = tag_counts(&mut reader, query).await?;

        let mut page = QueryBuilder::<Postgres>::new(format!("SELECT {ASSET_COLUMNS}, "));
        push_score(&mut page, filters.keyword.as_deref());
        page.push(" AS score FROM assets a");
        push_filters(&mut page, &filters);
        if let Some(after) = &query.after {
            push_after(&mut page, after, filters.keyword.as_deref());
        }
        page.push(if filters.keyword.is_some() {
            " ORDER BY score, "
        } else {
            " ORDER BY "
        });
        page.push("a.created_at DESC, a.id DESC LIMIT ")
            .push_bind(i64::from(query.limit));
        let rows = page.build().fetch_all(&mut *reader).await.db()?;

        let total = if is_unfiltered(query) {
            let mut count = QueryBuilder::<Postgres>::new(
                "SELECT coalesce(sum(count), 0)::bigint FROM asset_counts WHERE repository_id = ",
            );
            count.push_bind(query.repository_id);
            if let Some(kind) = &query.kind {
                count.push(" AND kind = ").push_bind(kind.clone());
            }
            count
                .build_query_scalar()
                .fetch_one(&mut *reader)
                .await
                .db()?
        } else if is_tags_only(query) {
            tag_counts.total_of_tags_only(&mut reader, query).await?
        } else {
            let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM assets a");
            push_filters(&mut count, &filters);
            count
                .build_query_scalar()
                .fetch_one(&mut *reader)
                .await
                .db()?
        };

        let missing_ids = if query.ids.is_empty() {
            Vec::new()
        } else {
            let found: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM assets WHERE repository_id = $1 AND id = ANY($2)",
            )
            .bind(query.repository_id)
            .bind(storable_only(&query.ids))
            .fetch_all(&mut *reader)
            .await
            .db()?;
            query
                .ids
                .iter()
                .filter(|id| !found.contains(id))
                .cloned()
                .collect()
        };

        let ids: Vec<String> = rows
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<Result<_, _>>()
            .db()?;
        let mut tags = load_tags(&mut reader, &ids).await?;
        let mut items = Vec::with_capacity(rows.len());
        for (row, id) in rows.iter().zip(ids) {
            let asset = asset_from_row(row, tags.remove(&id).unwrap_or_default())?;
            let score: i64 = row.try_get("score").db()?;
            items.push(ListedAsset {
                position: ListPosition {
                    score: query.keyword.as_ref().map(|_| score),
                    created_at: asset.created_at,
                    id: asset.id.clone(),
                },
                asset,
            });
        }

        reader.commit().await.db()?;
        Ok(ListPage {
            items,
            total,
            missing_ids,
        })
    }

    pub(super) async fn update_asset(
        &self,
        repository_id: i64,
        id: &str,
        patch: AssetPatch,
        now: i64,
    ) -> DbResult<AssetRecord> {
        if !storable(id) {
            return Err(DbError::NotFound);
        }
        retry(|| self.update_asset_once(repository_id, id, &patch, now)).await
    }

    async fn update_asset_once(
        &self,
        repository_id: i64,
        id: &str,
        patch: &AssetPatch,
        now: i64,
    ) -> DbResult<AssetRecord> {
        let mut tx = self.begin().await?;

        // The row lock makes a concurrent update of this asset wait until this transaction ends, and then read
        // what this one wrote.
        let current = fetch_asset(&mut tx, repository_id, id, " FOR NO KEY UPDATE")
            .await?
            .ok_or(DbError::NotFound)?;
        // Column and new value of each field that changes.
        let mut assignments: Vec<(&str, String)> = Vec::new();
        for (column, search_column, value, old) in [
            ("notes", "search_notes", &patch.notes, &current.notes),
            (
                "credits",
                "search_credits",
                &patch.credits,
                &current.credits,
            ),
            ("alt", "search_alt", &patch.alt, &current.alt),
        ] {
            if let Some(value) = value {
                if old.as_deref() != Some(value.as_str()) {
                    assignments.push((column, text::encode(value)));
                    assignments.push((search_column, search_key(&fold(value))));
                }
            }
        }
        if let Some(rename) = &patch.filename {
            if rename.filename != current.filename {
                assignments.push(("filename", rename.filename.clone()));
                assignments.push(("extension", rename.extension.clone()));
                assignments.push(("search_filename", search_key(&fold(&rename.filename))));
            }
        }
        let mut changed = !assignments.is_empty();
        if let Some(tag_ids) = &patch.tags {
            if replace_tags(&mut tx, repository_id, id, &current.tags, tag_ids).await? {
                changed = true;
            }
        }
        if changed {
            let mut update = QueryBuilder::<Postgres>::new("UPDATE assets SET last_modified = ");
            update.push_bind(now);
            for (column, value) in assignments {
                update.push(format!(", {column} = ")).push_bind(value);
            }
            update.push(" WHERE id = ").push_bind(id.to_owned());
            update.build().execute(&mut *tx).await.db()?;
        }

        let updated = fetch_asset(&mut tx, repository_id, id, "")
            .await?
            .ok_or(DbError::NotFound)?;
        tx.commit().await.db()?;
        Ok(updated)
    }

    pub(super) async fn delete_assets(
        &self,
        repository_id: i64,
        ids: &[String],
        now: i64,
    ) -> DbResult<Vec<DeletedAsset>> {
        let ids = storable_only(ids);
        retry(|| self.delete_assets_once(repository_id, &ids, now)).await
    }

    async fn delete_assets_once(
        &self,
        repository_id: i64,
        ids: &[String],
        now: i64,
    ) -> DbResult<Vec<DeletedAsset>> {
        let mut tx = self.begin().await?;

        // Assets, then their tags, each locked in id order as the other writers lock them. A deadlock that remains
        // (the per-kind counters are updated in row order) is retried.
        let deleted: Vec<DeletedAsset> = sqlx::query(
            "SELECT storage_key, content_hash FROM assets WHERE repository_id = $1 AND id = ANY($2)
             ORDER BY id FOR UPDATE",
        )
        .bind(repository_id)
        .bind(ids)
        .fetch_all(&mut *tx)
        .await
        .db()?
        .into_iter()
        .map(|row| DeletedAsset {
            storage_key: row.get("storage_key"),
            content_hash: row.get("content_hash"),
        })
        .collect();
        if deleted.is_empty() {
            return Ok(deleted);
        }
        sqlx::query(
            "SELECT id FROM tags WHERE id IN (SELECT tag_id FROM asset_tags WHERE asset_id = ANY($1))
             ORDER BY id FOR NO KEY UPDATE",
        )
        .bind(ids)
        .execute(&mut *tx)
        .await
        .db()?;

        let mut keys: Vec<&str> = deleted
            .iter()
            .map(|asset| asset.storage_key.as_str())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        sqlx::query(
            "INSERT INTO pending_objects (storage_key, not_before) SELECT unnest($1::text[]), $2
             ON CONFLICT (storage_key) DO UPDATE SET not_before = excluded.not_before",
        )
        .bind(&keys)
        .bind(now)
        .execute(&mut *tx)
        .await
        .db()?;
        sqlx::query("DELETE FROM assets WHERE repository_id = $1 AND id = ANY($2)")
            .bind(repository_id)
            .bind(ids)
            .execute(&mut *tx)
            .await
            .db()?;

        tx.commit().await.db()?;
        Ok(deleted)
    }

    pub(super) async fn find_asset(
        &self,
        repository: &str,
        id: &str,
    ) -> DbResult<Option<AssetRecord>> {
        if !storable(repository) || !storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {ASSET_COLUMNS} FROM assets a JOIN repositories r ON r.id = a.repository_id
             WHERE r.name = $1 AND a.id = $2"
        ))
        .bind(repository)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.map(|row| asset_from_row(&row, Vec::new())).transpose()
    }
}

/// A listing's filters in the form PostgreSQL can take: the keyword as a search key, and no value with U+0000
/// (such a value matches nothing).
struct Filters<'a> {
    query: &'a ListQuery,
    keyword: Option<String>,
    /// Whether a filter names something that cannot be stored, so nothing matches.
    matches_nothing: bool,
}

impl<'a> Filters<'a> {
    fn new(query: &'a ListQuery) -> Self {
        let matches_nothing = query
            .uploader_id
            .as_deref()
            .is_some_and(|uploader| !storable(uploader))
            || query.tags.iter().any(|tag| !storable(tag))
            || (!query.ids.is_empty() && query.ids.iter().all(|id| !storable(id)));
        Filters {
            query,
            keyword: query.keyword.as_deref().map(search_key),
            matches_nothing,
        }
    }
}

/// Appends the match score of a keyword search, or a constant when there is no keyword.
fn push_score(query: &mut QueryBuilder<'_, Postgres>, keyword: Option<&str>) {
    let Some(keyword) = keyword else {
        query.push("0::bigint");
        return;
    };
    query
        .push("(CASE WHEN a.search_filename = ")
        .push_bind(keyword.to_owned());
    query.push(format!(
        " THEN {} WHEN starts_with(a.search_filename, ",
        score::FILENAME_EQUAL
    ));
    query.push_bind(keyword.to_owned());
    query.push(format!(
        ") THEN {} WHEN strpos(a.search_filename, ",
        score::FILENAME_PREFIX
    ));
    query.push_bind(keyword.to_owned());
    query.push(format!(
        ") > 0 THEN {} ELSE {} END)::bigint",
        score::FILENAME_CONTAINS,
        score::OTHER_FIELD
    ));
}

/// Appends the WHERE clause shared by a page and its total.
fn push_filters(query: &mut QueryBuilder<'_, Postgres>, filters: &Filters<'_>) {
    let list = filters.query;
    query
        .push(" WHERE a.repository_id = ")
        .push_bind(list.repository_id);
    if filters.matches_nothing {
        query.push(" AND FALSE");
        return;
    }
    if let Some(kind) = &list.kind {
        query.push(" AND a.kind = ").push_bind(kind.clone());
    }
    if let Some(uploader) = &list.uploader_id {
        query
            .push(" AND a.uploader_id = ")
            .push_bind(uploader.clone());
    }
    if !list.ids.is_empty() {
        query
            .push(" AND a.id = ANY(")
            .push_bind(storable_only(&list.ids))
            .push(")");
    }
    if let Some(keyword) = &filters.keyword {
        // The LIKE on the joined keys lets the trigram index find candidates. It also matches across the line
        // feeds between keys, so the exact test is the substring check on each key.
        if keyword.chars().count() >= MIN_INDEXED_KEYWORD_CHARS {
            query
                .push(format!(" AND {SEARCH_EXPRESSION} LIKE "))
                .push_bind(format!("%{}%", like_literal(keyword)));
        }
        query.push(" AND (");
        for (index, column) in [
            "search_filename",
            "search_alt",
            "search_notes",
            "search_credits",
        ]
        .iter()
        .enumerate()
        {
            if index > 0 {
                query.push(" OR ");
            }
            query
                .push(format!("strpos(a.{column}, "))
                .push_bind(keyword.clone())
                .push(") > 0");
        }
        query.push(")");
    }
    for tag in &list.tags {
        query.push(
            " AND EXISTS (SELECT 1 FROM asset_tags t WHERE t.asset_id = a.id AND t.tag_id = ",
        );
        query.push_bind(tag.clone()).push(")");
    }
}

/// Appends the keyset condition that starts a page after `after`. PostgreSQL cannot refer to the `score` output
/// column in WHERE, so the score expression is repeated.
fn push_after(query: &mut QueryBuilder<'_, Postgres>, after: &ListPosition, keyword: Option<&str>) {
    query.push(" AND (");
    if keyword.is_some() {
        let score = after.score.unwrap_or(score::OTHER_FIELD);
        push_score(query, keyword);
        query.push(" > ").push_bind(score).push(" OR (");
        push_score(query, keyword);
        query.push(" = ").push_bind(score).push(" AND (");
    }
    query
        .push("(a.created_at, a.id) < (")
        .push_bind(after.created_at);
    query.push(", ").push_bind(after.id.clone()).push(")");
    if keyword.is_some() {
        query.push("))");
    }
    query.push(")");
}

/// Tells whether only the repository and the kind filter a query, so its total can come from `asset_counts`.
fn is_unfiltered(query: &ListQuery) -> bool {
    query.keyword.is_none()
        && query.tags.is_empty()
        && query.ids.is_empty()
        && query.uploader_id.is_none()
}

/// Tells whether tags are the only filter, so the total can be counted from the assignments.
fn is_tags_only(query: &ListQuery) -> bool {
    !query.tags.is_empty()
        && query.keyword.is_none()
        && query.kind.is_none()
        && query.ids.is_empty()
        && query.uploader_id.is_none()
}

/// Kept counts of the tags in a tag filter.
struct TagCounts {
    /// `asset_count` of each filter tag that is one of the repository's.
    counts: HashMap<String, i64>,
}

async fn tag_counts(connection: &mut PgConnection, query: &ListQuery) -> DbResult<TagCounts> {
    if query.tags.is_empty() {
        return Ok(TagCounts {
            counts: HashMap::new(),
        });
    }
    let counts = sqlx::query_as::<_, (String, i64)>(
        "SELECT id, asset_count FROM tags WHERE repository_id = $1 AND id = ANY($2)",
    )
    .bind(query.repository_id)
    .bind(storable_only(&query.tags))
    .fetch_all(&mut *connection)
    .await
    .db()?
    .into_iter()
    .collect();
    Ok(TagCounts { counts })
}

impl TagCounts {
    /// Returns the total of a listing filtered by tags alone. It is 0 when a tag is not one of the repository's and
    /// the kept count for one tag. Otherwise the assets carrying every tag are counted from the rarest tag's
    /// assignments.
    async fn total_of_tags_only(
        &self,
        connection: &mut PgConnection,
        query: &ListQuery,
    ) -> DbResult<i64> {
        let mut tags: Vec<&String> = query.tags.iter().collect();
        tags.sort_by_key(|tag| self.counts.get(*tag).copied().unwrap_or(0));
        tags.dedup();
        if tags.iter().any(|tag| !self.counts.contains_key(*tag)) {
            return Ok(0);
        }
        if tags.len() == 1 {
            return Ok(self.counts[tags[0]]);
        }
        let (first, others) = tags.split_first().expect("is_tags_only checked the tags");
        let mut count =
            QueryBuilder::<Postgres>::new("SELECT count(*) FROM asset_tags t0 WHERE t0.tag_id = ");
        count.push_bind((*first).clone());
        for tag in others {
            count.push(" AND EXISTS (SELECT 1 FROM asset_tags t WHERE t.asset_id = t0.asset_id AND t.tag_id = ");
            count.push_bind((*tag).clone()).push(")");
        }
        count
            .build_query_scalar()
            .fetch_one(&mut *connection)
            .await
            .db()
    }
}

/// Returns the values that can be bound as PostgreSQL text; the others name no stored row.
fn storable_only(values: &[String]) -> Vec<String> {
    values
        .iter()
        .filter(|value| storable(value))
        .cloned()
        .collect()
}

/// Reads one asset with its tags; `lock` is appended to the asset's SELECT.
async fn fetch_asset(
    connection: &mut PgConnection,
    repository_id: i64,
    id: &str,
    lock: &str,
) -> DbResult<Option<AssetRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {ASSET_COLUMNS} FROM assets a WHERE a.repository_id = $1 AND a.id = $2{lock}"
    ))
    .bind(repository_id)
    .bind(id)
    .fetch_optional(&mut *connection)
    .await
    .db()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut tags = load_tags(connection, &[id.to_owned()]).await?;
    asset_from_row(&row, tags.remove(id).unwrap_or_default()).map(Some)
}

/// Loads the tags of several assets, each list ordered by name, then id, comparing bytes as SQLite does.
async fn load_tags(
    connection: &mut PgConnection,
    asset_ids: &[String],
) -> DbResult<HashMap<String, Vec<TagRecord>>> {
    let mut by_asset: HashMap<String, Vec<TagRecord>> = HashMap::new();
    if asset_ids.is_empty() {
        return Ok(by_asset);
    }
    let rows = sqlx::query(
        "SELECT at.asset_id, t.id, t.name, t.created_at, t.last_modified
         FROM asset_tags at JOIN tags t ON t.id = at.tag_id WHERE at.asset_id = ANY($1)",
    )
    .bind(asset_ids)
    .fetch_all(&mut *connection)
    .await
    .db()?;
    for row in rows {
        by_asset
            .entry(row.try_get("asset_id").db()?)
            .or_default()
            .push(super::tags::tag_from_row(&row)?);
    }
    for tags in by_asset.values_mut() {
        tags.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    }
    Ok(by_asset)
}

/// Replaces an asset's tag set; returns whether it changed. Every id must be a tag of the repository.
async fn replace_tags(
    connection: &mut PgConnection,
    repository_id: i64,
    asset_id: &str,
    current: &[TagRecord],
    requested: &[String],
) -> DbResult<bool> {
    let mut requested: Vec<String> = requested.to_vec();
    requested.sort();
    requested.dedup();

    if !requested.is_empty() {
        // KEY SHARE keeps the tags from being deleted before the assignments are inserted.
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM tags WHERE repository_id = $1 AND id = ANY($2) FOR KEY SHARE",
        )
        .bind(repository_id)
        .bind(storable_only(&requested))
        .fetch_all(&mut *connection)
        .await
        .db()?;
        if let Some(unknown) = requested.iter().find(|id| !found.contains(id)) {
            return Err(DbError::UnknownReference(unknown.clone()));
        }
    }

    let mut existing: Vec<String> = current.iter().map(|tag| tag.id.clone()).collect();
    existing.sort();
    if existing == requested {
        return Ok(false);
    }

    let removed: Vec<&String> = existing
        .iter()
        .filter(|id| requested.binary_search(id).is_err())
        .collect();
    let added: Vec<&String> = requested
        .iter()
        .filter(|id| existing.binary_search(id).is_err())
        .collect();
    let mut affected: Vec<&String> = removed.iter().chain(added.iter()).copied().collect();
    affected.sort();
    // The count triggers update these tag rows; locking them in id order first keeps two writers from taking
    // them in opposite orders.
    sqlx::query("SELECT id FROM tags WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(&affected)
        .execute(&mut *connection)
        .await
        .db()?;
    if !removed.is_empty() {
        sqlx::query("DELETE FROM asset_tags WHERE asset_id = $1 AND tag_id = ANY($2)")
            .bind(asset_id)
            .bind(&removed)
            .execute(&mut *connection)
            .await
            .db()?;
    }
    if !added.is_empty() {
        sqlx::query("INSERT INTO asset_tags (asset_id, tag_id) SELECT $1, unnest($2::text[])")
            .bind(asset_id)
            .bind(&added)
            .execute(&mut *connection)
            .await
            .db()?;
    }
    Ok(true)
}
