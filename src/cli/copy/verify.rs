//! The verification that ends every copy: counts, rows and the hash of every asset's bytes in the target.

use futures::TryStreamExt;

use super::bytes::hash_object;
use super::locations::Installation;
use super::tables::{Assets, Merge, Pair, Repositories, Table, Tags, Tokens, Users};
use super::{byte_bar, spinner, CopySettings};
use crate::storage::content_hash::HashAlgorithm;

/// Mismatches listed in full by the verification; the rest are counted.
pub const MISMATCHES_LISTED: usize = 20;

/// Differences found by the verification.
pub struct Verification {
    /// The first differences, described.
    pub mismatches: Vec<String>,
    pub mismatch_count: usize,
    /// Rows compared, of all tables.
    pub rows: u64,
    pub hashed_assets: u64,
    pub hashed_bytes: u64,
}

impl Verification {
    fn record(&mut self, mismatch: String) {
        self.mismatch_count += 1;
        if self.mismatches.len() < MISMATCHES_LISTED {
            self.mismatches.push(mismatch);
        }
    }
}

/// Compares the counts and rows of both sides, and hashes each asset's bytes in the target.
pub async fn verify(
    source: &Installation,
    target: &Installation,
    settings: &CopySettings,
) -> anyhow::Result<Verification> {
    let mut verification = Verification {
        mismatches: Vec::new(),
        mismatch_count: 0,
        rows: 0,
        hashed_assets: 0,
        hashed_bytes: 0,
    };
    let source_summary = source.database.copy_summary().await?;
    let target_summary = target.database.copy_summary().await?;
    for (name, source_count, target_count) in [
        (
            "repositories",
            source_summary.repositories,
            target_summary.repositories,
        ),
        ("users", source_summary.users, target_summary.users),
        (
            "user memberships",
            source_summary.user_repositories,
            target_summary.user_repositories,
        ),
        ("tokens", source_summary.tokens, target_summary.tokens),
        ("tags", source_summary.tags, target_summary.tags),
        ("assets", source_summary.assets, target_summary.assets),
        (
            "tag assignments",
            source_summary.asset_tags,
            target_summary.asset_tags,
        ),
        (
            "asset bytes",
            source_summary.asset_bytes,
            target_summary.asset_bytes,
        ),
    ] {
        if source_count != target_count {
            verification.record(format!(
                "{name}: {source_count} in the source, {target_count} in the target"
            ));
        }
    }
    if source_summary.bootstrapped_at != target_summary.bootstrapped_at {
        verification.record("the first-start record differs".to_owned());
    }

    let progress = spinner("verifying rows");
    compare_rows::<Repositories>(source, target, &mut verification).await?;
    compare_rows::<Users>(source, target, &mut verification).await?;
    compare_rows::<Tags>(source, target, &mut verification).await?;
    compare_rows::<Tokens>(source, target, &mut verification).await?;
    progress.finish_and_clear();

    compare_assets(
        source,
        target,
        settings,
        target_summary.asset_bytes,
        &mut verification,
    )
    .await?;
    Ok(verification)
}

/// Records every row that is missing from one side or differs.
async fn compare_rows<T: Table>(
    source: &Installation,
    target: &Installation,
    verification: &mut Verification,
) -> anyhow::Result<()> {
    let mut merge = Merge::<T>::new(source.database.as_ref(), target.database.as_ref());
    while let Some(pair) = merge.next().await? {
        if let Some(mismatch) = describe_difference::<T>(&pair) {
            verification.record(mismatch);
        }
        verification.rows += 1;
    }
    Ok(())
}

fn describe_difference<T: Table>(pair: &Pair<T::Row>) -> Option<String> {
    match pair {
        Pair::SourceOnly(row) => Some(format!("{} is missing from the target", T::describe(row))),
        Pair::TargetOnly(row) => Some(format!(
            "{} is in the target but not in the source",
            T::describe(row)
        )),
        Pair::Both { source, target } if source != target => Some(format!(
            "{} differs: {source:?} in the source, {target:?} in the target",
            T::describe(source)
        )),
        Pair::Both { .. } => None,
    }
}

/// Compares the asset rows, and checks the size and hash of each asset's bytes in the target against the
/// source's row, several assets at once.
async fn compare_assets(
    source: &Installation,
    target: &Installation,
    settings: &CopySettings,
    total_bytes: i64,
    verification: &mut Verification,
) -> anyhow::Result<()> {
    let progress = byte_bar(total_bytes, "verifying assets");
    let merge = Merge::<Assets>::new(source.database.as_ref(), target.database.as_ref());
    let pairs = futures::stream::try_unfold(merge, |mut merge| async move {
        Ok::<_, anyhow::Error>(merge.next().await?.map(|pair| (pair, merge)))
    });
    let progress_ref = &progress;
    let checks = pairs
        .map_ok(|pair| async move {
            let source = match pair {
                Pair::Both { source, target } if source == target => source,
                different => return Ok::<_, anyhow::Error>((describe_difference::<Assets>(&different), 0)),
            };
            let expected_size = u64::try_from(source.size).unwrap_or(0);
            let Some(algorithm) = HashAlgorithm::of(&source.content_hash) else {
                let mismatch = format!(
                    "{}: its content hash {:?} names no algorithm that this version knows",
                    Assets::describe(&source),
                    source.content_hash
                );
                return Ok((Some(mismatch), 0));
            };
            let mismatch = match hash_object(&target.store, &source.storage_key, algorithm, progress_ref).await? {
                None => Some(format!(
                    "{}: its bytes ({}) are missing from the target file store",
                    Assets::describe(&source),
                    source.storage_key
                )),
                Some((size, _)) if size != expected_size => Some(format!(
                    "{}: its bytes in the target are {size} bytes long, {expected_size} in the source",
                    Assets::describe(&source)
                )),
                Some((_, hash)) if hash != source.content_hash => Some(format!(
                    "{}: the hash of its bytes in the target is {hash}, {} in the source",
                    Assets::describe(&source),
                    source.content_hash
                )),
                Some((size, _)) => return Ok((None, size)),
            };
            Ok((mismatch, 0))
        })
        .try_buffer_unordered(settings.concurrency as usize);
    let mut checks = std::pin::pin!(checks);
    while let Some((mismatch, hashed_bytes)) = checks.try_next().await? {
        verification.rows += 1;
        match mismatch {
            Some(mismatch) => verification.record(mismatch),
            None => {
                verification.hashed_assets += 1;
                verification.hashed_bytes += hashed_bytes;
            }
        }
    }
    progress.finish_and_clear();
    Ok(())
}
