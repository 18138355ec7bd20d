//! `seed`: fills one repository with generated assets and tags by direct INSERTs into the server's SQLite file.
//!
//! The schema's triggers maintain the search index and the per-kind counts, exactly as for uploads through the API.
//! No file bytes are written, so the assets can be listed and searched but their file URLs return 404.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use medialib::domain::ids::ASSET_ID_LEN;
use medialib::domain::search::fold;
use medialib::storage::asset_key;
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};

use crate::names::NameGenerator;

/// Options of `seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// Data directory of the server; the database `medialib.sqlite` in it must exist (start the server or run any
    /// `medialib` command on it once).
    #[arg(long)]
    data_dir: PathBuf,
    /// Repository that receives the assets; it must exist.
    #[arg(long, default_value = "demo")]
    repository: String,
    /// Number of assets to insert.
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Number of tags to create. Tag `i` (from 0) is assigned to each asset with probability `0.2 / (i + 1)`.
    #[arg(long, default_value_t = 50)]
    tags: usize,
    /// Seed of the random generator, so that two runs on a new database make the same assets and tags.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Assets per transaction.
const ROWS_PER_TRANSACTION: u64 = 20_000;
/// Assets per INSERT statement: 400 rows of 22 values stay under SQLite's limit of 32,766 bound values.
const ROWS_PER_STATEMENT: u64 = 400;
/// Creation time of the first asset: 2023-01-01T00:00:00Z in Unix milliseconds.
const FIRST_CREATED_AT: i64 = 1_672_531_200_000;
/// Mean gap between two creation times: one million assets then span about 3 years.
const MEAN_GAP_MS: i64 = 95_000;

struct SeedAsset {
    id: String,
    filename: String,
    extension: &'static str,
    size: i64,
    kind: &'static str,
    content_type: &'static str,
    width: Option<i64>,
    height: Option<i64>,
    notes: Option<String>,
    credits: Option<String>,
    alt: Option<String>,
    created_at: i64,
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let database = args.data_dir.join("medialib.sqlite");
    if !database.exists() {
        bail!(
            "{} does not exist; run `medialib repository list --data-dir {}` once first",
            database.display(),
            args.data_dir.display()
        );
    }
    let options = SqliteConnectOptions::new()
        .filename(&database)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Off)
        .busy_timeout(Duration::from_secs(30));
    let mut connection = SqliteConnection::connect_with(&options)
        .await
        .context("opening the database")?;

    let repository_id: i64 = sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
        .bind(&args.repository)
        .fetch_optional(&mut connection)
        .await?
        .with_context(|| {
            format!(
                "repository {:?} not found; create it with `medialib repository create`",
                args.repository
            )
        })?;
    let mut created_at: i64 = sqlx::query_scalar("SELECT coalesce(max(created_at), 0) FROM assets")
        .fetch_one(&mut connection)
        .await?;
    created_at = created_at.max(FIRST_CREATED_AT);

    let mut rng = StdRng::seed_from_u64(args.seed);
    let names = NameGenerator::new();
    let tag_ids = create_tags(&mut connection, repository_id, args.tags, &mut rng).await?;

    let started = Instant::now();
    let mut inserted = 0;
    let mut assignments = 0;
    while inserted < args.count {
        let batch_size = ROWS_PER_TRANSACTION.min(args.count - inserted);
        let assets: Vec<SeedAsset> = (0..batch_size)
            .map(|_| {
                // About 3% of assets share the previous asset's millisecond, as in a batch upload, so the id breaks
                // ties in the listing order.
                if !rng.gen_bool(0.03) {
                    created_at += rng.gen_range(1..2 * MEAN_GAP_MS);
                }
                generate_asset(&names, &mut rng, created_at)
            })
            .collect();

        let mut transaction = connection.begin().await?;
        for chunk in assets.chunks(ROWS_PER_STATEMENT as usize) {
            insert_assets(&mut transaction, repository_id, chunk).await?;
            assignments += assign_tags(&mut transaction, chunk, &tag_ids, &mut rng).await?;
        }
        transaction.commit().await?;

        inserted += batch_size;
        let rate = inserted as f64 / started.elapsed().as_secs_f64();
        eprintln!(
            "seeded {inserted} of {} assets ({rate:.0} per second)",
            args.count
        );
    }

    println!(
        "seeded {inserted} assets, {} tags and {assignments} tag assignments into repository {:?} in {:.1} s",
        tag_ids.len(),
        args.repository,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn generate_asset(names: &NameGenerator, rng: &mut StdRng, created_at: i64) -> SeedAsset {
    let kind = names.file_kind(rng);
    let filename = names.filename(rng, kind);
    let (width, height) = if kind.has_dimensions {
        let width = [640, 800, 1024, 1280, 1920, 2048, 3024, 4032][rng.gen_range(0..8)];
        let height = width * [9, 10, 12, 16][rng.gen_range(0..4)] / 16;
        (Some(width), Some(height))
    } else {
        (None, None)
    };
    SeedAsset {
        id: Alphanumeric.sample_string(rng, ASSET_ID_LEN),
        filename,
        extension: kind.extension,
        size: rng.gen_range(2_000..20_000_000),
        kind: kind.kind,
        content_type: kind.content_type,
        width,
        height,
        notes: rng.gen_bool(0.1).then(|| names.sentence(rng, 4, 12)),
        credits: rng
            .gen_bool(0.1)
            .then(|| format!("Photo by {}", names.sentence(rng, 1, 2))),
        alt: rng.gen_bool(0.3).then(|| names.sentence(rng, 3, 8)),
        created_at,
    }
}

/// Creates `count` tags named after words of the list and returns their ids, most assigned first.
async fn create_tags(
    connection: &mut SqliteConnection,
    repository_id: i64,
    count: usize,
    rng: &mut StdRng,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(count);
    for index in 0..count {
        let name = format!(
            "{}-{index}",
            crate::names::WORDS[index % crate::names::WORDS.len()]
        );
        let id = uuid_like(rng);
        sqlx::query(
            "INSERT INTO tags (id, repository_id, name, created_at, last_modified) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (repository_id, name) DO NOTHING",
        )
        .bind(&id)
        .bind(repository_id)
        .bind(&name)
        .bind(FIRST_CREATED_AT)
        .bind(FIRST_CREATED_AT)
        .execute(&mut *connection)
        .await?;
        let stored: String =
            sqlx::query_scalar("SELECT id FROM tags WHERE repository_id = ? AND name = ?")
                .bind(repository_id)
                .bind(&name)
                .fetch_one(&mut *connection)
                .await?;
        ids.push(stored);
    }
    Ok(ids)
}

/// Returns a random version 4 UUID in text form, the format of the server's tag ids.
fn uuid_like(rng: &mut StdRng) -> String {
    let bytes: [u8; 16] = rng.gen();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

async fn insert_assets(
    connection: &mut SqliteConnection,
    repository_id: i64,
    assets: &[SeedAsset],
) -> anyhow::Result<()> {
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO assets (id, repository_id, filename, uploaded_filename, extension, size, kind, content_type,
             width, height, notes, credits, alt, uploader_id, content_hash, storage_key, created_at, last_modified,
             search_filename, search_notes, search_credits, search_alt) ",
    );
    insert.push_values(assets, |mut row, asset| {
        row.push_bind(asset.id.clone())
            .push_bind(repository_id)
            .push_bind(asset.filename.clone())
            .push_bind(asset.filename.clone())
            .push_bind(asset.extension)
            .push_bind(asset.size)
            .push_bind(asset.kind)
            .push_bind(asset.content_type)
            .push_bind(asset.width)
            .push_bind(asset.height)
            .push_bind(asset.notes.clone())
            .push_bind(asset.credits.clone())
            .push_bind(asset.alt.clone())
            .push_bind("ghost")
            .push_bind(format!("blake3:{}", "0".repeat(64)))
            .push_bind(asset_key(repository_id, &asset.id))
            .push_bind(asset.created_at)
            .push_bind(asset.created_at)
            .push_bind(fold(&asset.filename))
            .push_bind(fold(asset.notes.as_deref().unwrap_or("")))
            .push_bind(fold(asset.credits.as_deref().unwrap_or("")))
            .push_bind(fold(asset.alt.as_deref().unwrap_or("")));
    });
    insert.build().execute(&mut *connection).await?;
    Ok(())
}

/// Assigns tag `i` to each asset with probability `0.2 / (i + 1)`; returns the number of assignments.
async fn assign_tags(
    connection: &mut SqliteConnection,
    assets: &[SeedAsset],
    tag_ids: &[String],
    rng: &mut StdRng,
) -> anyhow::Result<u64> {
    let mut pairs = Vec::new();
    for asset in assets {
        for (rank, tag_id) in tag_ids.iter().enumerate() {
            if rng.gen_bool(0.2 / (rank + 1) as f64) {
                pairs.push((asset.id.as_str(), tag_id.as_str()));
            }
        }
    }
    if pairs.is_empty() {
        return Ok(0);
    }
    let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO asset_tags (asset_id, tag_id) ");
    insert.push_values(&pairs, |mut row, (asset_id, tag_id)| {
        row.push_bind(*asset_id).push_bind(*tag_id);
    });
    insert.build().execute(&mut *connection).await?;
    Ok(pairs.len() as u64)
}
