//! Listing and search of assets, served from an in-memory index when the query filters by keyword or tags.
//!
//! The database stays the source of truth. Each server keeps a [`RepositoryIndex`] per repository. Before every
//! indexed query it reads the database's change feed, the assets changed since the index's position, so a write
//! made through any process is visible to the next query of every process. A small
//! repository is loaded on its first query; a large one is loaded in the background while its queries run in the
//! database. Queries without keyword and tags, and queries with `ids`, always run in the database, because its
//! indexes already return them at once.

mod index;
#[cfg(test)]
mod tests;
mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::db::{AssetRecord, Database, DbError, DbResult, IndexChanges, ListPage, ListQuery, ListedAsset};

pub use index::RepositoryIndex;

/// Repositories up to this many assets are loaded on their first query instead of in the background.
const LOAD_INLINE_UP_TO: i64 = 50_000;
/// Changed assets applied one by one in a catch-up; beyond it, reloading the repository is cheaper.
const MAX_CHANGES: u32 = 20_000;

/// Rows of the change feed kept for servers that fell behind.
pub const FEED_ROWS_KEPT: i64 = 100_000;

/// The listing indexes of this process.
pub struct Listing {
    enabled: bool,
    repositories: Mutex<HashMap<i64, Slot>>,
}

#[derive(Clone)]
enum Slot {
    Loading,
    Ready(Arc<Loaded>),
    /// The backend keeps no change feed, so its listings always run in the database.
    Unsupported,
}

struct Loaded {
    index: RwLock<RepositoryIndex>,
    /// Held while reading and applying the change feed, so one request catches up at a time.
    catch_up: tokio::sync::Mutex<()>,
}

impl Listing {
    /// `enabled` false runs every listing in the database.
    pub fn new(enabled: bool) -> Arc<Self> {
        Arc::new(Self {
            enabled,
            repositories: Mutex::new(HashMap::new()),
        })
    }

    /// Lists a page of assets and the total of the query.
    pub async fn list(self: &Arc<Self>, database: &Arc<dyn Database>, query: &ListQuery) -> DbResult<ListPage> {
        if !self.enabled || !uses_index(query) {
            return database.list_assets(query).await;
        }
        let Some(loaded) = self.ready(database, query.repository_id).await? else {
            return database.list_assets(query).await;
        };

        let result = {
            let query = query.clone();
            tokio::task::spawn_blocking(move || loaded.index.read().expect("index lock").search(&query))
                .await
                .map_err(|error| DbError::Other(error.into()))?
        };

        let ids: Vec<String> = result.hits.iter().map(|hit| hit.id.clone()).collect();
        let records = database.assets_by_ids(query.repository_id, &ids).await?;
        let mut by_id: HashMap<String, AssetRecord> =
            records.into_iter().map(|asset| (asset.id.clone(), asset)).collect();
        // An asset deleted between the index read and this one is left out of the page.
        let items = result
            .hits
            .into_iter()
            .filter_map(|position| {
                by_id
                    .remove(&position.id)
                    .map(|asset| ListedAsset { asset, position })
            })
            .collect();
        Ok(ListPage {
            items,
            total: result.total,
            missing_ids: Vec::new(),
        })
    }

    /// Returns the repository's index, caught up with the change feed, or `None` while it loads.
    async fn ready(self: &Arc<Self>, database: &Arc<dyn Database>, repository_id: i64) -> DbResult<Option<Arc<Loaded>>> {
        let slot = self.slot(repository_id);
        match slot {
            Some(Slot::Ready(loaded)) => self.catch_up(database, repository_id, loaded).await,
            Some(Slot::Loading) | Some(Slot::Unsupported) => Ok(None),
            None => self.start_loading(database, repository_id).await,
        }
    }

    fn slot(&self, repository_id: i64) -> Option<Slot> {
        self.repositories.lock().expect("listing lock").get(&repository_id).cloned()
    }

    fn set_slot(&self, repository_id: i64, slot: Option<Slot>) {
        let mut repositories = self.repositories.lock().expect("listing lock");
        match slot {
            Some(slot) => repositories.insert(repository_id, slot),
            None => repositories.remove(&repository_id),
        };
    }

    /// Loads a small repository now; starts loading a large one in the background and returns `None`.
    async fn start_loading(
        self: &Arc<Self>,
        database: &Arc<dyn Database>,
        repository_id: i64,
    ) -> DbResult<Option<Arc<Loaded>>> {
        {
            let mut repositories = self.repositories.lock().expect("listing lock");
            if repositories.contains_key(&repository_id) {
                return Ok(None);
            }
            repositories.insert(repository_id, Slot::Loading);
        }
        let size = repository_size(database.as_ref(), repository_id).await;
        if size.is_ok_and(|size| size <= LOAD_INLINE_UP_TO) {
            return match self.load(database.as_ref(), repository_id).await {
                Ok(loaded) => Ok(loaded),
                Err(error) => {
                    self.set_slot(repository_id, None);
                    Err(error)
                }
            };
        }

        let listing = self.clone();
        let database = database.clone();
        tokio::spawn(async move { listing.load_and_log(database.as_ref(), repository_id).await });
        Ok(None)
    }

    /// Loads the index of every repository in the background, one after the other, so that searches after a
    /// start are served from memory without waiting for their first query.
    pub fn warm_up(self: &Arc<Self>, database: Arc<dyn Database>) {
        if !self.enabled {
            return;
        }
        let listing = self.clone();
        tokio::spawn(async move {
            let repositories = match database.list_repositories().await {
                Ok(repositories) => repositories,
                Err(error) => {
                    tracing::warn!(error = %error, "failed to list the repositories to index");
                    return;
                }
            };
            for summary in repositories {
                let Ok(Some(repository)) = database.find_repository(&summary.name).await else {
                    continue;
                };
                {
                    let mut slots = listing.repositories.lock().expect("listing lock");
                    if slots.contains_key(&repository.id) {
                        continue;
                    }
                    slots.insert(repository.id, Slot::Loading);
                }
                listing.load_and_log(database.as_ref(), repository.id).await;
            }
        });
    }

    /// Loads a repository's index, logging how long it took; after a failure the next query tries again.
    async fn load_and_log(&self, database: &dyn Database, repository_id: i64) {
        let started = std::time::Instant::now();
        match self.load(database, repository_id).await {
            Ok(Some(loaded)) => tracing::info!(
                repository_id,
                assets = loaded.index.read().expect("index lock").len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "loaded the listing index"
            ),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(repository_id, error = %error, "failed to load the listing index");
                self.set_slot(repository_id, None);
            }
        }
    }

    /// Reads a snapshot of the repository and builds its index.
    async fn load(&self, database: &dyn Database, repository_id: i64) -> DbResult<Option<Arc<Loaded>>> {
        let Some(snapshot) = database.index_snapshot(repository_id).await? else {
            self.set_slot(repository_id, Some(Slot::Unsupported));
            return Ok(None);
        };
        let index = tokio::task::spawn_blocking(move || {
            let index = RepositoryIndex::build(snapshot.position, snapshot.assets);
            release_free_memory();
            index
        })
        .await
        .map_err(|error| DbError::Other(error.into()))?;
        let loaded = Arc::new(Loaded {
            index: RwLock::new(index),
            catch_up: tokio::sync::Mutex::new(()),
        });
        self.set_slot(repository_id, Some(Slot::Ready(loaded.clone())));
        Ok(Some(loaded))
    }

    /// Applies the changes made since the index's position. When the feed no longer contains them, reloads the
    /// repository as on its first query.
    async fn catch_up(
        self: &Arc<Self>,
        database: &Arc<dyn Database>,
        repository_id: i64,
        loaded: Arc<Loaded>,
    ) -> DbResult<Option<Arc<Loaded>>> {
        let _turn = loaded.catch_up.lock().await;
        let position = loaded.index.read().expect("index lock").position;

        match database.index_changes(repository_id, position, MAX_CHANGES).await? {
            Some(IndexChanges::Changed {
                position: new_position,
                changed,
                current,
            }) => {
                if changed.is_empty() {
                    let mut index = loaded.index.write().expect("index lock");
                    index.position = index.position.max(new_position);
                    drop(index);
                    return Ok(Some(loaded.clone()));
                }
                let applying = loaded.clone();
                tokio::task::spawn_blocking(move || {
                    applying
                        .index
                        .write()
                        .expect("index lock")
                        .apply(new_position, &changed, current)
                })
                .await
                .map_err(|error| DbError::Other(error.into()))?;
                Ok(Some(loaded.clone()))
            }
            Some(IndexChanges::Behind) => {
                tracing::info!(repository_id, "the listing index fell behind the change feed; reloading it");
                self.set_slot(repository_id, None);
                self.start_loading(database, repository_id).await
            }
            None => {
                self.set_slot(repository_id, Some(Slot::Unsupported));
                Ok(None)
            }
        }
    }
}

/// Tells whether a query is served from the index: it filters by keyword or tags, and not by ids.
fn uses_index(query: &ListQuery) -> bool {
    query.ids.is_empty() && (query.keyword.is_some() || !query.tags.is_empty())
}

/// Returns the number of assets in a repository; the unfiltered total is read from kept counts.
async fn repository_size(database: &dyn Database, repository_id: i64) -> DbResult<i64> {
    let query = ListQuery {
        repository_id,
        limit: 1,
        ..ListQuery::default()
    };
    Ok(database.list_assets(&query).await?.total)
}

/// Returns the heap's free pages to the operating system. The snapshot that an index is built from takes many small
/// allocations, and glibc keeps their pages after they are freed unless `malloc_trim` is called.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory that the allocator holds free; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
