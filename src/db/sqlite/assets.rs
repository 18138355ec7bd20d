//! Assets: insert, list and search, update, delete.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite};

use super::{ResultExt, SqliteDatabase};
use crate::db::*;
use crate::domain::search::fold;

pub(super) const ASSET_COLUMNS: &str = "a.id, a.repository_id, a.filename, a.uploaded_filename, a.extension, a.size, a.kind, \
     a.content_type, a.width, a.height, a.notes, a.credits, a.alt, a.uploader_id, a.content_hash, a.storage_key, \
     a.created_at, a.last_modified";

#[derive(sqlx::FromRow)]
pub(super) struct AssetRow {
    pub(super) id: String,
    repository_id: i64,
    filename: String,
    uploaded_filename: String,
    extension: String,
    size: i64,
    kind: String,
    content_type: String,
    width: Option<i64>,
    height: Option<i64>,
    notes: Option<String>,
    credits: Option<String>,
    alt: Option<String>,
    uploader_id: String,
    content_hash: String,
    storage_key: String,
    created_at: i64,
    last_modified: i64,
}

impl AssetRow {
    pub(super) fn into_record(self, tags: Vec<TagRecord>) -> AssetRecord {
        AssetRecord {
            id: self.id,
            repository_id: self.repository_id,
            filename: self.filename,
            uploaded_filename: self.uploaded_filename,
            extension: self.extension,
            size: self.size,
            kind: self.kind,
            content_type: self.content_type,
            width: self.width,
            height: self.height,
            notes: self.notes,
            credits: self.credits,
            alt: self.alt,
            uploader_id: self.uploader_id,
            content_hash: self.content_hash,
            storage_key: self.storage_key,
            created_at: self.created_at,
            last_modified: self.last_modified,
            tags,
        }
    }
}

impl SqliteDatabase {
    pub(super) async fn insert_asset(&self, asset: NewAsset) -> DbResult<AssetRecord> {
        // One statement, so one round trip to the connection's thread: it inserts the row only while the pending row
        // of its bytes exists, and a trigger (migration 0007) removes that pending row.
        let inserted = sqlx::query(
            "INSERT INTO assets (id, repository_id, filename, uploaded_filename, extension, size, kind, content_type,
                 width, height, notes, credits, alt, uploader_id, content_hash, storage_key, created_at, last_modified,
                 search_filename, search_notes, search_credits, search_alt)
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
             WHERE EXISTS (SELECT 1 FROM pending_objects WHERE storage_key = ?)",
        )
        .bind(&asset.id)
        .bind(asset.repository_id)
        .bind(&asset.filename)
        .bind(&asset.filename)
        .bind(&asset.extension)
        .bind(asset.size)
        .bind(&asset.kind)
        .bind(&asset.content_type)
        .bind(asset.width)
        .bind(asset.height)
        .bind(&asset.notes)
        .bind(&asset.credits)
        .bind(&asset.alt)
        .bind(&asset.uploader_id)
        .bind(&asset.content_hash)
        .bind(&asset.storage_key)
        .bind(asset.created_at)
        .bind(asset.created_at)
        .bind(fold(&asset.filename))
        .bind(fold(asset.notes.as_deref().unwrap_or("")))
        .bind(fold(asset.credits.as_deref().unwrap_or("")))
        .bind(fold(asset.alt.as_deref().unwrap_or("")))
        .bind(&asset.storage_key)
        .execute(&self.pool)
        .await
        .db()?;
        if inserted.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
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

    pub(super) async fn list_assets(&self, query: &ListQuery) -> DbResult<ListPage> {
        let mut reader = self.pool.begin().await.db()?;

        let mut query = query.clone();
        let tag_plan = order_tags_by_use(&mut reader, &mut query).await?;
        let drive_from_tag = tag_plan.drive_from_rarest;
        let query = &query;

        let mut page = QueryBuilder::<Sqlite>::new(format!("SELECT {ASSET_COLUMNS}, "));
        push_score(&mut page, query.keyword.as_deref());
        page.push(" AS score FROM assets a");
        push_filters_driven(&mut page, query, drive_from_tag);
        if drive_from_tag {
            page.push(" AND a.id IN (SELECT asset_id FROM asset_tags WHERE tag_id = ");
            page.push_bind(query.tags[0].clone()).push(")");
        }
        if let Some(after) = &query.after {
            push_after(&mut page, after, query.keyword.is_some());
        }
        page.push(if query.keyword.is_some() {
            " ORDER BY score, "
        } else {
            " ORDER BY "
        });
        page.push("a.created_at DESC, a.id DESC LIMIT ")
            .push_bind(i64::from(query.limit));
        let rows = page.build().fetch_all(&mut *reader).await.db()?;

        let total: i64 = if is_unfiltered(query) {
            let mut count = QueryBuilder::<Sqlite>::new(
                "SELECT coalesce(sum(count), 0) FROM asset_counts WHERE repository_id = ",
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
        } else if is_tags_only(query) && (!tag_plan.all_known || query.tags.len() == 1) {
            // An unknown tag matches nothing, and one tag's count is kept by triggers.
            if tag_plan.all_known {
                tag_plan.rarest_count
            } else {
                0
            }
        } else if is_tags_only(query) {
            count_tagged(&mut reader, query).await?
        } else {
            let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM assets a");
            push_filters(&mut count, query);
            count
                .build_query_scalar()
                .fetch_one(&mut *reader)
                .await
                .db()?
        };

        let missing_ids = if query.ids.is_empty() {
            Vec::new()
        } else {
            let mut existing =
                QueryBuilder::<Sqlite>::new("SELECT id FROM assets WHERE +repository_id = ");
            existing.push_bind(query.repository_id).push(" AND id IN (");
            push_list(&mut existing, &query.ids);
            existing.push(")");
            let found: Vec<String> = existing
                .build_query_scalar()
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

        let mut assets = Vec::with_capacity(rows.len());
        let mut positions = Vec::with_capacity(rows.len());
        for row in &rows {
            let asset: AssetRow = sqlx::FromRow::from_row(row).db()?;
            let score: i64 = row.get("score");
            positions.push(ListPosition {
                score: query.keyword.as_ref().map(|_| score),
                created_at: asset.created_at,
                id: asset.id.clone(),
            });
            assets.push(asset);
        }
        let mut tags = load_tags(&mut reader, assets.iter().map(|asset| asset.id.as_str())).await?;
        let items = assets
            .into_iter()
            .zip(positions)
            .map(|(asset, position)| {
                let asset_tags = tags.remove(&asset.id).unwrap_or_default();
                ListedAsset {
                    asset: asset.into_record(asset_tags),
                    position,
                }
            })
            .collect();

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
        let mut tx = self.begin_write().await?;

        let current = fetch_asset(&mut tx, repository_id, id)
            .await?
            .ok_or(DbError::NotFound)?;
        let mut changed = false;
        let mut update =
            QueryBuilder::<Sqlite>::new("UPDATE assets SET last_modified = last_modified");
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
                    changed = true;
                    update
                        .push(format!(", {column} = "))
                        .push_bind(value.clone());
                    update
                        .push(format!(", {search_column} = "))
                        .push_bind(fold(value));
                }
            }
        }
        if let Some(rename) = &patch.filename {
            if rename.filename != current.filename {
                changed = true;
                update
                    .push(", filename = ")
                    .push_bind(rename.filename.clone());
                update
                    .push(", extension = ")
                    .push_bind(rename.extension.clone());
                update
                    .push(", search_filename = ")
                    .push_bind(fold(&rename.filename));
            }
        }
        if let Some(tag_ids) = &patch.tags {
            if replace_tags(&mut tx, repository_id, id, &current.tags, tag_ids).await? {
                changed = true;
            }
        }
        if changed {
            update.push(", last_modified = ").push_bind(now);
            update.push(" WHERE id = ").push_bind(id);
            update.build().execute(&mut *tx).await.db()?;
        }

        let updated = fetch_asset(&mut tx, repository_id, id)
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
        let mut tx = self.begin_write().await?;

        let mut select = QueryBuilder::<Sqlite>::new(
            "SELECT storage_key, content_hash FROM assets WHERE +repository_id = ",
        );
        select.push_bind(repository_id).push(" AND id IN (");
        push_list(&mut select, ids);
        select.push(")");
        let deleted: Vec<DeletedAsset> = select
            .build()
            .fetch_all(&mut *tx)
            .await
            .db()?
            .into_iter()
            .map(|row| DeletedAsset {
                storage_key: row.get("storage_key"),
                content_hash: row.get("content_hash"),
            })
            .collect();

        for key in deleted.iter().map(|asset| &asset.storage_key) {
            sqlx::query(
                "INSERT OR REPLACE INTO pending_objects (storage_key, not_before) VALUES (?, ?)",
            )
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        let mut delete = QueryBuilder::<Sqlite>::new("DELETE FROM assets WHERE +repository_id = ");
        delete.push_bind(repository_id).push(" AND id IN (");
        push_list(&mut delete, ids);
        delete.push(")");
        delete.build().execute(&mut *tx).await.db()?;

        tx.commit().await.db()?;
        Ok(deleted)
    }

    pub(super) async fn find_asset(
        &self,
        repository: &str,
        id: &str,
    ) -> DbResult<Option<AssetRecord>> {
        let row: Option<AssetRow> = sqlx::query_as(&format!(
            "SELECT {ASSET_COLUMNS} FROM assets a JOIN repositories r ON r.id = a.repository_id
             WHERE r.name = ? AND a.id = ?"
        ))
        .bind(repository)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        Ok(row.map(|row| row.into_record(Vec::new())))
    }
}

/// Appends the match score of a keyword search, or a constant when there is no keyword.
fn push_score(query: &mut QueryBuilder<'_, Sqlite>, keyword: Option<&str>) {
    let Some(keyword) = keyword else {
        query.push("0");
        return;
    };
    query
        .push("CASE WHEN a.search_filename = ")
        .push_bind(keyword.to_owned());
    query.push(format!(
        " THEN {} WHEN substr(a.search_filename, 1, ",
        score::FILENAME_EQUAL
    ));
    query
        .push_bind(keyword.chars().count() as i64)
        .push(") = ")
        .push_bind(keyword.to_owned());
    query.push(format!(
        " THEN {} WHEN instr(a.search_filename, ",
        score::FILENAME_PREFIX
    ));
    query.push_bind(keyword.to_owned());
    query.push(format!(
        ") > 0 THEN {} ELSE {} END",
        score::FILENAME_CONTAINS,
        score::OTHER_FIELD
    ));
}

/// Sorts the tag filter rarest first and works out whether the rarest tag is rare enough (at most 1 asset in
/// [`RARE_TAG_SHARE`]) that its assignments should drive the page. Walking the repository newest first and probing
/// each asset's tags finds a page of a common tag at once, but reads most of the repository for a rare one.
async fn order_tags_by_use(
    connection: &mut sqlx::SqliteConnection,
    query: &mut ListQuery,
) -> DbResult<TagPlan> {
    if query.tags.is_empty() {
        return Ok(TagPlan {
            drive_from_rarest: false,
            rarest_count: 0,
            all_known: true,
        });
    }
    let mut uses =
        QueryBuilder::<Sqlite>::new("SELECT id, asset_count FROM tags WHERE repository_id = ");
    uses.push_bind(query.repository_id).push(" AND id IN (");
    push_list(&mut uses, &query.tags);
    uses.push(")");
    let counts: HashMap<String, i64> = uses
        .build_query_as::<(String, i64)>()
        .fetch_all(&mut *connection)
        .await
        .db()?
        .into_iter()
        .collect();
    // A tag of another repository or an unknown id counts as unused: it matches nothing.
    query
        .tags
        .sort_by_key(|tag| counts.get(tag).copied().unwrap_or(0));
    let rarest = counts.get(&query.tags[0]).copied().unwrap_or(0);

    let repository_size: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(count), 0) FROM asset_counts WHERE repository_id = ?",
    )
    .bind(query.repository_id)
    .fetch_one(&mut *connection)
    .await
    .db()?;
    Ok(TagPlan {
        drive_from_rarest: rarest.saturating_mul(RARE_TAG_SHARE) <= repository_size,
        rarest_count: rarest,
        all_known: counts.len() == query.tags.len(),
    })
}

/// How to evaluate a tag filter.
struct TagPlan {
    /// Read the rarest tag's assignments instead of probing the repository's assets newest first.
    drive_from_rarest: bool,
    /// Assets carrying the rarest tag.
    rarest_count: i64,
    /// Whether every tag is one of the repository's.
    all_known: bool,
}

/// A tag on at most one asset in this many is read from its assignments rather than probed asset by asset.
const RARE_TAG_SHARE: i64 = 50;

/// Appends the WHERE clause shared by a page and its total.
fn push_filters(query: &mut QueryBuilder<'_, Sqlite>, filters: &ListQuery) {
    push_filters_driven(query, filters, false)
}

/// Appends the WHERE clause. With `drive_from_tag`, it keeps SQLite off the repository index, so the caller's
/// condition on the rarest tag's assignments drives the query.
fn push_filters_driven(
    query: &mut QueryBuilder<'_, Sqlite>,
    filters: &ListQuery,
    drive_from_tag: bool,
) {
    let indexed_keyword = filters
        .keyword
        .as_deref()
        .filter(|keyword| uses_search_index(keyword));
    // With ids or an indexed keyword, the unary `+` keeps SQLite off the repository index, so the query is driven by
    // the id index or the trigram matches instead of walking every asset of the repository and probing the list.
    let repository_column =
        if !filters.ids.is_empty() || indexed_keyword.is_some() || drive_from_tag {
            " WHERE +a.repository_id = "
        } else {
            " WHERE a.repository_id = "
        };
    query
        .push(repository_column)
        .push_bind(filters.repository_id);
    if let Some(kind) = &filters.kind {
        query.push(" AND a.kind = ").push_bind(kind.clone());
    }
    if let Some(uploader) = &filters.uploader_id {
        query
            .push(" AND a.uploader_id = ")
            .push_bind(uploader.clone());
    }
    if !filters.ids.is_empty() {
        query.push(" AND a.id IN (");
        push_list(query, &filters.ids);
        query.push(")");
    }
    if let Some(keyword) = &filters.keyword {
        if uses_search_index(keyword) {
            query.push(" AND a.seq IN (SELECT rowid FROM asset_search WHERE asset_search MATCH ");
            query.push_bind(fts_phrase(keyword)).push(")");
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
                .push(format!("instr(a.{column}, "))
                .push_bind(keyword.clone())
                .push(") > 0");
        }
        query.push(")");
    }
    // One EXISTS probe per tag: SQLite stops at the first assignment instead of counting them.
    for tag in &filters.tags {
        query.push(
            " AND EXISTS (SELECT 1 FROM asset_tags t WHERE t.asset_id = a.id AND t.tag_id = ",
        );
        query.push_bind(tag.clone()).push(")");
    }
}

/// Shortest keyword the trigram index can look up; shorter keywords scan the repository's assets.
const MIN_INDEXED_KEYWORD_CHARS: usize = 3;

/// Tells whether a keyword can be looked up in the trigram index. The FTS5 query syntax ends a string at NUL, so
/// such a keyword is only matched by scanning.
fn uses_search_index(keyword: &str) -> bool {
    keyword.chars().count() >= MIN_INDEXED_KEYWORD_CHARS && !keyword.contains('\0')
}

/// Quotes a folded keyword as an FTS5 phrase, which the trigram tokenizer matches as a substring.
fn fts_phrase(keyword: &str) -> String {
    format!("\"{}\"", keyword.replace('"', "\"\""))
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

/// Counts the assets that carry every tag of `query`, starting from the first (rarest) tag's assignments instead of
/// probing every asset of the repository. The caller has checked that every tag is one of the repository's.
async fn count_tagged(connection: &mut sqlx::SqliteConnection, query: &ListQuery) -> DbResult<i64> {
    let (first, others) = query
        .tags
        .split_first()
        .expect("is_tags_only checked the tags");
    let mut count =
        QueryBuilder::<Sqlite>::new("SELECT count(*) FROM asset_tags t0 WHERE t0.tag_id = ");
    count.push_bind(first.clone());
    for tag in others {
        count.push(" AND EXISTS (SELECT 1 FROM asset_tags t WHERE t.asset_id = t0.asset_id AND t.tag_id = ");
        count.push_bind(tag.clone()).push(")");
    }
    count
        .build_query_scalar()
        .fetch_one(&mut *connection)
        .await
        .db()
}

/// Appends the keyset condition that starts a page after `after`.
fn push_after(query: &mut QueryBuilder<'_, Sqlite>, after: &ListPosition, by_score: bool) {
    query.push(" AND (");
    if by_score {
        let score = after.score.unwrap_or(score::OTHER_FIELD);
        query
            .push("score > ")
            .push_bind(score)
            .push(" OR (score = ")
            .push_bind(score)
            .push(" AND (");
    }
    // A row-value comparison lets SQLite seek the creation index to the cursor even with bound parameters. The
    // equivalent OR form makes it walk the index from the newest asset.
    query
        .push("(a.created_at, a.id) < (")
        .push_bind(after.created_at);
    query.push(", ").push_bind(after.id.clone()).push(")");
    if by_score {
        query.push("))");
    }
    query.push(")");
}

pub(super) fn push_list(query: &mut QueryBuilder<'_, Sqlite>, values: &[String]) {
    let mut separated = query.separated(", ");
    for value in values {
        separated.push_bind(value.clone());
    }
}

pub(super) async fn fetch_asset(
    connection: &mut sqlx::SqliteConnection,
    repository_id: i64,
    id: &str,
) -> DbResult<Option<AssetRecord>> {
    let row: Option<AssetRow> = sqlx::query_as(&format!(
        "SELECT {ASSET_COLUMNS} FROM assets a WHERE a.repository_id = ? AND a.id = ?"
    ))
    .bind(repository_id)
    .bind(id)
    .fetch_optional(&mut *connection)
    .await
    .db()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut tags = load_tags(connection, std::iter::once(id)).await?;
    let asset_tags = tags.remove(id).unwrap_or_default();
    Ok(Some(row.into_record(asset_tags)))
}

/// Loads the tags of several assets, each list ordered by name.
pub(super) async fn load_tags<'a>(
    connection: &mut sqlx::SqliteConnection,
    asset_ids: impl Iterator<Item = &'a str>,
) -> DbResult<HashMap<String, Vec<TagRecord>>> {
    let ids: Vec<String> = asset_ids.map(str::to_owned).collect();
    let mut by_asset: HashMap<String, Vec<TagRecord>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_asset);
    }
    let mut query = QueryBuilder::<Sqlite>::new(
        "SELECT at.asset_id, t.id, t.name, t.created_at, t.last_modified
         FROM asset_tags at JOIN tags t ON t.id = at.tag_id WHERE at.asset_id IN (",
    );
    push_list(&mut query, &ids);
    query.push(") ORDER BY t.name, t.id");
    let rows = query.build().fetch_all(&mut *connection).await.db()?;
    for row in rows {
        by_asset
            .entry(row.get("asset_id"))
            .or_default()
            .push(TagRecord {
                id: row.get("id"),
                name: row.get("name"),
                created_at: row.get("created_at"),
                last_modified: row.get("last_modified"),
            });
    }
    Ok(by_asset)
}

/// Replaces an asset's tag set; returns whether it changed. Every id must be a tag of the repository.
async fn replace_tags(
    connection: &mut sqlx::SqliteConnection,
    repository_id: i64,
    asset_id: &str,
    current: &[TagRecord],
    requested: &[String],
) -> DbResult<bool> {
    let mut requested: Vec<String> = requested.to_vec();
    requested.sort();
    requested.dedup();

    if !requested.is_empty() {
        let mut known = QueryBuilder::<Sqlite>::new("SELECT id FROM tags WHERE +repository_id = ");
        known.push_bind(repository_id).push(" AND id IN (");
        push_list(&mut known, &requested);
        known.push(")");
        let found: Vec<String> = known
            .build_query_scalar()
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

    sqlx::query("DELETE FROM asset_tags WHERE asset_id = ?")
        .bind(asset_id)
        .execute(&mut *connection)
        .await
        .db()?;
    for tag_id in &requested {
        sqlx::query("INSERT INTO asset_tags (asset_id, tag_id) VALUES (?, ?)")
            .bind(asset_id)
            .bind(tag_id)
            .execute(&mut *connection)
            .await
            .db()?;
    }
    Ok(true)
}
