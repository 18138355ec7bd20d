//! The check of a target that is not empty: it may only contain rows and objects of an interrupted copy of the same
//! source.

use anyhow::anyhow;
use futures::{StreamExt, TryStreamExt};

use super::locations::Installation;
use super::spinner;
use super::tables::{Assets, Merge, Pair, Repositories, Table, Tags, Tokens, Users};
use crate::db::copy::CopySummary;

/// Builds the error for a target that contains data that did not come from this source.
pub fn foreign_target(detail: &str) -> anyhow::Error {
    anyhow!(
        "the target contains data that is not from this source ({detail}); copy into an empty database and file store \
         (a rerun resumes only an interrupted copy of the same, unchanged source)"
    )
}

/// Checks, before anything is written, that every row and object of a non-empty target came from this source.
pub async fn check_partial_copy(
    source: &Installation,
    target: &Installation,
    source_summary: &CopySummary,
    target_summary: &CopySummary,
) -> anyhow::Result<()> {
    if target_summary.bootstrapped_at.is_some()
        && target_summary.bootstrapped_at != source_summary.bootstrapped_at
    {
        return Err(foreign_target(
            "a server already started on the target database",
        ));
    }
    let progress = spinner("checking the rows already in the target");
    check_rows::<Repositories>(source, target).await?;
    check_rows::<Users>(source, target).await?;
    check_rows::<Tags>(source, target).await?;
    check_rows::<Tokens>(source, target).await?;
    check_rows::<Assets>(source, target).await?;
    progress.set_message("checking the objects already in the target file store");
    check_objects(source, target).await?;
    progress.finish_and_clear();
    Ok(())
}

/// Fails unless every row of the table in the target equals the source's row with the same id.
async fn check_rows<T: Table>(source: &Installation, target: &Installation) -> anyhow::Result<()> {
    let mut merge = Merge::<T>::new(source.database.as_ref(), target.database.as_ref());
    while let Some(pair) = merge.next().await? {
        match pair {
            Pair::SourceOnly(_) => {}
            Pair::Both { source, target } if source == target => {}
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
    }
    Ok(())
}

/// Keys of target objects looked up in the source at once.
const OBJECTS_PER_LOOKUP: usize = 500;

/// Fails unless every object of the target store is the bytes of a source asset, under that asset's key.
async fn check_objects(source: &Installation, target: &Installation) -> anyhow::Result<()> {
    let mut keys = target.store.list_keys().try_chunks(OBJECTS_PER_LOOKUP);
    while let Some(chunk) = keys.next().await {
        let chunk = chunk.map_err(|error| error.1)?;
        // Asset keys are assets/{repository id}/{asset id}.
        let mut by_repository: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
        for key in &chunk {
            let parsed = key
                .strip_prefix("assets/")
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(repository, asset)| Some((repository.parse::<i64>().ok()?, asset)));
            match parsed {
                Some((repository_id, asset_id)) if !asset_id.contains('/') => by_repository
                    .entry(repository_id)
                    .or_default()
                    .push(asset_id.to_owned()),
                _ => {
                    return Err(foreign_target(&format!(
                        "its file store has the object {key:?}"
                    )))
                }
            }
        }
        for (repository_id, asset_ids) in by_repository {
            let known = source
                .database
                .assets_by_ids(repository_id, &asset_ids)
                .await?;
            for asset_id in &asset_ids {
                let key = format!("assets/{repository_id}/{asset_id}");
                if !known.iter().any(|asset| asset.storage_key == key) {
                    return Err(foreign_target(&format!(
                        "its file store has the object {key:?}, which is no source asset's"
                    )));
                }
            }
        }
    }
    Ok(())
}
