//! `medialib copy`: copies a whole installation (database rows with their ids and timestamps, and the assets' bytes)
//! into an empty target, resumes an interrupted copy when run again, and verifies the result.
//!
//! Order of work: the target is inspected first, and rejected unless it is empty or contains only rows and objects
//! of this source. Then repositories, users, tags and tokens are copied, then each asset's bytes followed by its row,
//! so that a row never names bytes that are missing. Rows already in the target are skipped, which is what makes a
//! rerun resume. Last, every row of both sides is compared and every asset's bytes in the target are hashed.
//! docs/copy.md describes the command for operators.

mod bytes;
mod inspect;
mod locations;
mod tables;
mod verify;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

use self::bytes::{copy_asset_bytes, BandwidthLimit, CopyOutcome};
use self::inspect::{check_partial_copy, foreign_target};
use self::locations::{check_distinct, open_source, open_target, Installation, Location};
use self::tables::{Assets, Merge, Pair, Repositories, Table, Tags, Tokens, Users};
use self::verify::{verify, Verification, MISMATCHES_LISTED};
use crate::config::{parse_database_url, DatabaseUrl};
use crate::db::copy::CopiedAsset;
use crate::storage::StorageUrl;

/// Options of `medialib copy`. Each side is a data directory, or a database URL and a storage URL; a URL given
/// with a data directory replaces that part of it.
#[derive(Debug, Args)]
pub struct CopySettings {
    /// Data directory of an embedded source installation: its medialib.sqlite and files/.
    #[arg(long, env = "MEDIALIB_FROM_DATA_DIR")]
    from_data_dir: Option<PathBuf>,

    /// Database of the source: sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE. It is only read.
    #[arg(long, env = "MEDIALIB_FROM_DATABASE_URL", value_parser = parse_database_url)]
    from_database_url: Option<DatabaseUrl>,

    /// File store of the source: file:///absolute/path or s3://bucket[/prefix]?endpoint=URL&region=NAME. It is
    /// only read.
    #[arg(long, env = "MEDIALIB_FROM_STORAGE_URL", value_parser = StorageUrl::parse)]
    from_storage_url: Option<StorageUrl>,

    /// Data directory of an embedded target installation, created if missing.
    #[arg(long, env = "MEDIALIB_TO_DATA_DIR")]
    to_data_dir: Option<PathBuf>,

    /// Database of the target, empty or with an interrupted copy of the same source; migrated if needed.
    #[arg(long, env = "MEDIALIB_TO_DATABASE_URL", value_parser = parse_database_url)]
    to_database_url: Option<DatabaseUrl>,

    /// File store of the target, empty or with an interrupted copy of the same source.
    #[arg(long, env = "MEDIALIB_TO_STORAGE_URL", value_parser = StorageUrl::parse)]
    to_storage_url: Option<StorageUrl>,

    /// Assets whose bytes are copied at the same time. Each keeps up to about 32 MiB of its bytes in memory, or 8 MiB
    /// when the target is a local directory.
    #[arg(
        long,
        env = "MEDIALIB_CONCURRENCY",
        default_value_t = 4,
        value_parser = clap::value_parser!(u32).range(1..=64)
    )]
    concurrency: u32,

    /// Largest average rate, in bytes per second, at which asset bytes are copied (verification reads are not
    /// limited); 0 means no limit.
    #[arg(long, env = "MEDIALIB_BANDWIDTH_LIMIT", default_value_t = 0)]
    bandwidth_limit: u64,
}

/// Asset rows inserted in one transaction, at most.
const ASSET_ROWS_PER_TRANSACTION: usize = 100;

/// Rows of one table that were copied and that the target already had.
#[derive(Debug, Default, Clone, Copy)]
struct TableCount {
    copied: u64,
    present: u64,
}

/// Runs `medialib copy`: copies, verifies and prints a summary line; fails when the target differs from the source.
pub async fn run(settings: CopySettings) -> anyhow::Result<()> {
    let started = Instant::now();
    let source_location = Location::resolve(
        "source",
        "from",
        settings.from_data_dir.clone(),
        settings.from_database_url.clone(),
        settings.from_storage_url.clone(),
    )?;
    let target_location = Location::resolve(
        "target",
        "to",
        settings.to_data_dir.clone(),
        settings.to_database_url.clone(),
        settings.to_storage_url.clone(),
    )?;
    check_distinct(&source_location, &target_location)?;
    let source = open_source(&source_location).await?;
    let target = open_target(&target_location).await?;

    let source_summary = source.database.copy_summary().await?;
    let target_summary = target.database.copy_summary().await?;
    let target_has_objects = target.store.list_keys().try_next().await?.is_some();
    let resuming = !target_summary.is_empty()
        || target_summary.bootstrapped_at.is_some()
        || target_has_objects;
    if resuming {
        check_partial_copy(&source, &target, &source_summary, &target_summary).await?;
    }

    let mut counts = Vec::new();
    counts.push((
        Repositories::NAME,
        copy_rows::<Repositories>(&source, &target).await?,
    ));
    counts.push((Users::NAME, copy_rows::<Users>(&source, &target).await?));
    counts.push((Tags::NAME, copy_rows::<Tags>(&source, &target).await?));
    counts.push((Tokens::NAME, copy_rows::<Tokens>(&source, &target).await?));
    if let Some(created_at) = source_summary.bootstrapped_at {
        target.database.insert_copied_bootstrap(created_at).await?;
    }
    let assets = copy_assets(
        &source,
        &target,
        &settings,
        resuming,
        source_summary.asset_bytes,
    )
    .await?;
    counts.push((Assets::NAME, assets.count));

    let verification = verify(&source, &target, &settings).await?;
    report(&counts, assets, &verification, started)
}

/// Prints what was copied and verified on standard output, and returns an error when there are differences.
fn report(
    counts: &[(&str, TableCount)],
    assets: AssetCopy,
    verification: &Verification,
    started: Instant,
) -> anyhow::Result<()> {
    let copied: Vec<String> = counts
        .iter()
        .map(|(name, count)| format!("{name} {}", count.copied))
        .collect();
    let present: u64 = counts.iter().map(|(_, count)| count.present).sum();
    let mut summary = format!(
        "copied {} ({})",
        copied.join(", "),
        format_bytes(assets.bytes)
    );
    if present > 0 {
        summary.push_str(&format!("; {present} rows were already in the target"));
    }

    let mut problems = assets.source_problems;
    problems.extend(verification.mismatches.iter().cloned());
    if problems.is_empty() {
        println!(
            "{summary}; verified {} rows and the hashes of {} assets ({}) in {:.1} s",
            verification.rows,
            verification.hashed_assets,
            format_bytes(verification.hashed_bytes),
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }

    println!("{summary}; verification failed:");
    for problem in problems.iter().take(MISMATCHES_LISTED) {
        println!("  {problem}");
    }
    let total = assets.source_problem_count + verification.mismatch_count;
    if total > MISMATCHES_LISTED {
        println!("  and {} more", total - MISMATCHES_LISTED);
    }
    Err(anyhow!(
        "the copy does not match the source: {total} differences, listed on standard output; the first: {}",
        problems.first().map_or("", String::as_str)
    ))
}

/// Copies the rows of a table that the target lacks, in pages.
async fn copy_rows<T: Table>(
    source: &Installation,
    target: &Installation,
) -> anyhow::Result<TableCount> {
    let progress = spinner(&format!("copying {}", T::NAME));
    let mut merge = Merge::<T>::new(source.database.as_ref(), target.database.as_ref());
    let mut count = TableCount::default();
    let mut batch = Vec::new();
    while let Some(pair) = merge.next().await? {
        match pair {
            Pair::SourceOnly(row) => batch.push(row),
            Pair::Both { source, target } if source == target => count.present += 1,
            Pair::Both { target, .. } => {
                return Err(foreign_target(&format!(
                    "its {} differs from the source's",
                    T::describe(&target)
                )))
            }
            Pair::TargetOnly(row) => {
                return Err(foreign_target(&format!(
                    "its {} is not in the source",
                    T::describe(&row)
                )))
            }
        }
        if batch.len() >= T::PAGE_ROWS as usize {
            count.copied += T::insert(target.database.as_ref(), &batch).await?;
            batch.clear();
            progress.set_message(format!("copying {}: {}", T::NAME, count.copied));
        }
    }
    if !batch.is_empty() {
        count.copied += T::insert(target.database.as_ref(), &batch).await?;
    }
    progress.finish_and_clear();
    Ok(count)
}

/// Outcome of copying the assets.
struct AssetCopy {
    count: TableCount,
    /// Bytes copied by this run.
    bytes: u64,
    /// The first assets of the source whose bytes could not be copied, with the reason.
    source_problems: Vec<String>,
    source_problem_count: usize,
}

/// Decision of the asset walk for one asset.
enum AssetStep {
    Present,
    Outcome(CopyOutcome),
}

/// Copies the assets that the target lacks: the bytes of several at once, then their rows in batches.
async fn copy_assets(
    source: &Installation,
    target: &Installation,
    settings: &CopySettings,
    resuming: bool,
    total_bytes: i64,
) -> anyhow::Result<AssetCopy> {
    let progress = byte_bar(total_bytes, "copying assets");
    let limit = BandwidthLimit::new(settings.bandwidth_limit);
    let merge = Merge::<Assets>::new(source.database.as_ref(), target.database.as_ref());
    let pairs = futures::stream::try_unfold(merge, |mut merge| async move {
        Ok::<_, anyhow::Error>(merge.next().await?.map(|pair| (pair, merge)))
    });
    let (progress_ref, limit_ref) = (&progress, &limit);
    let steps = pairs
        .map_ok(|pair| async move {
            match pair {
                Pair::SourceOnly(asset) => copy_asset_bytes(
                    &source.store,
                    &target.store,
                    asset,
                    resuming,
                    limit_ref,
                    progress_ref,
                )
                .await
                .map(AssetStep::Outcome),
                Pair::Both { source, target } if source == target => {
                    progress_ref.inc(u64::try_from(source.size).unwrap_or(0));
                    Ok(AssetStep::Present)
                }
                Pair::Both { target, .. } => Err(foreign_target(&format!(
                    "its {} differs from the source's",
                    Assets::describe(&target)
                ))),
                Pair::TargetOnly(row) => Err(foreign_target(&format!(
                    "its {} is not in the source",
                    Assets::describe(&row)
                ))),
            }
        })
        .try_buffer_unordered(settings.concurrency as usize);

    let mut copy = AssetCopy {
        count: TableCount::default(),
        bytes: 0,
        source_problems: Vec::new(),
        source_problem_count: 0,
    };
    let mut batches = std::pin::pin!(steps.ready_chunks(ASSET_ROWS_PER_TRANSACTION));
    while let Some(batch) = batches.next().await {
        let mut rows: Vec<CopiedAsset> = Vec::new();
        for step in batch {
            match step? {
                AssetStep::Present => copy.count.present += 1,
                AssetStep::Outcome(CopyOutcome::Copied(asset)) => rows.push(asset),
                AssetStep::Outcome(CopyOutcome::SourceProblem { asset, problem }) => {
                    copy.source_problem_count += 1;
                    if copy.source_problems.len() < MISMATCHES_LISTED {
                        let described = format!("{}: {problem}", Assets::describe(&asset));
                        copy.source_problems.push(described);
                    }
                }
            }
        }
        if rows.is_empty() {
            continue;
        }
        copy.count.copied += target.database.insert_copied_assets(&rows).await?;
        copy.bytes += rows
            .iter()
            .map(|asset| u64::try_from(asset.size).unwrap_or(0))
            .sum::<u64>();
        progress.set_message(format!("copying assets: {} copied", copy.count.copied));
    }
    progress.finish_and_clear();
    Ok(copy)
}

/// Creates a spinner with a message, drawn on standard error when it is a terminal and cleared when dropped, so an
/// error message starts on a clean line.
fn spinner(message: &str) -> ProgressBar {
    let progress = ProgressBar::new_spinner()
        .with_message(message.to_owned())
        .with_finish(ProgressFinish::AndClear);
    progress.enable_steady_tick(Duration::from_millis(120));
    progress
}

/// Creates a bar of `total` bytes, drawn on standard error when it is a terminal and cleared when dropped.
fn byte_bar(total: i64, message: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}, {eta} left",
    )
    .expect("the template is valid")
    .progress_chars("=> ");
    ProgressBar::new(u64::try_from(total).unwrap_or(0))
        .with_style(style)
        .with_message(message.to_owned())
        .with_finish(ProgressFinish::AndClear)
}

/// Formats a byte count with a binary unit, such as `5.2 MiB`.
fn format_bytes(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}
