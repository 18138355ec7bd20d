//! Crash consistency: mixed traffic against `medialib serve`, killed with SIGKILL at random moments and restarted
//! on the same data, with every acknowledged change checked after each restart.
//!
//! Each worker owns its assets and tags (their names start with `w{worker}-`), so its requests apply in the order
//! it sends them and its model of them is exact. The one request of a worker that had no response when the server
//! died may or may not have been applied: the check after the restart accepts either outcome for that request
//! alone, adopts the one it finds, and then compares everything else exactly.
//!
//! `MEDIALIB_CRASH_KILLS` sets the number of kills (default 10; `scripts/reliability.sh --long` uses 100) and
//! `MEDIALIB_CRASH_SEED` replays a run (the seed is printed at the start). The test runs in both configurations of
//! the API suite: SQLite with local files, and PostgreSQL with S3.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{encode_unreserved, try_send, Multipart, Reply, TestServer};

const WORKERS: usize = 4;
/// A worker deletes rather than uploads once it owns this many assets, so the checks stay quick over many kills.
const MAX_OWNED_ASSETS: usize = 25;
const MAX_OWNED_TAGS: usize = 5;
/// Short, so that the sweep of interrupted uploads can be checked at every restart and awaited at the end of the test.
const GRACE_PERIOD_SECONDS: &str = "3";
/// How long after the last restart the bytes of unacknowledged uploads may still be in storage: the grace period,
/// one sweep interval and a generous margin for a loaded machine.
const SWEEP_DEADLINE: Duration = Duration::from_secs(30);
/// Longest time a file of an unacknowledged upload or a deleted asset may stay in storage after the test first found
/// it at a restart: the grace period, a few sweeps (one per second here) and a margin for a loaded machine.
const SWEEP_LAG: Duration = Duration::from_secs(10);
/// Every stored upload starts with this text, its run's seed and its own name, so that the bytes of any upload can
/// be recognised in storage.
const MARKER_PREFIX: &[u8] = b"medialib-crash ";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_keeps_acknowledged_changes() {
    let kills: usize = env_number("MEDIALIB_CRASH_KILLS").unwrap_or(10);
    let seed = env_number("MEDIALIB_CRASH_SEED").unwrap_or_else(rand::random);
    eprintln!("crash test: {kills} kills, MEDIALIB_CRASH_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut server = start(None, None);
    let token = server.token.clone();
    let mut leftovers = Leftovers::default();
    let mut models: Vec<WorkerModel> = (0..WORKERS)
        .map(|worker| WorkerModel::new(worker, seed))
        .collect();

    for cycle in 0..kills {
        let shared = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = models
            .into_iter()
            .map(|model| {
                let worker_seed = rng.next_u64();
                tokio::spawn(run_worker(shared.clone(), stop.clone(), model, worker_seed))
            })
            .collect();

        let kill_after = Duration::from_millis(rng.gen_range(100..1500));
        tokio::time::sleep(kill_after).await;
        // SAFETY: kill(2) with a valid signal has no memory effects; the pid is our own child, not yet reaped.
        let killed = unsafe { libc::kill(shared.pid() as libc::pid_t, libc::SIGKILL) };
        assert_eq!(killed, 0, "SIGKILL of the server failed");
        stop.store(true, Ordering::SeqCst);

        models = Vec::with_capacity(WORKERS);
        for worker in workers {
            models.push(worker.await.expect("a worker panicked"));
        }
        let acknowledged: usize = models.iter().map(|model| model.acknowledged).sum();
        let server_before =
            Arc::try_unwrap(shared).unwrap_or_else(|_| panic!("workers still hold the server"));
        let data_dir = server_before.stop();

        server = start(Some(data_dir), Some(&token));
        let observed = Observed::read(&server).await;
        for model in &mut models {
            model.resolve_pending(&observed, cycle);
            model.assert_matches(&observed, cycle);
        }
        observed.assert_tag_counts(cycle);
        assert_bytes(&server, &models, &observed, cycle).await;
        leftovers.check(&server, &models, cycle);
        eprintln!(
            "crash test: kill {} of {kills} after {kill_after:?}: {acknowledged} acknowledged requests so far, {} assets \
             and {} tags checked",
            cycle + 1,
            observed.assets.len(),
            observed.tags.len()
        );
    }

    assert_unacknowledged_bytes_swept(&server, &models).await;
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number")),
    )
}

fn start(data_dir: Option<tempfile::TempDir>, token: Option<&str>) -> TestServer {
    let builder = TestServer::builder().arg("--upload-grace-period", GRACE_PERIOD_SECONDS);
    let Some(data_dir) = data_dir else {
        return builder.start();
    };
    let mut server = builder.empty_database().data_dir(data_dir).start();
    server.token = token.expect("the token of the first start").to_string();
    server
}

// ---------------------------------------------------------------------------------------------------------------
// The model of one worker

#[derive(Debug, Clone, PartialEq, Eq)]
struct AssetModel {
    filename: String,
    /// Path and query of the asset's URL.
    url: String,
    size: u64,
    sha256: [u8; 32],
    marker: String,
    notes: Option<String>,
    alt: Option<String>,
    credits: Option<String>,
    tags: BTreeSet<String>,
}

/// The name and bytes of an upload as sent.
#[derive(Debug, Clone)]
struct SentFile {
    filename: String,
    size: u64,
    sha256: [u8; 32],
    marker: String,
}

impl SentFile {
    /// Returns the state of the new asset that the server lists as `asset`.
    fn into_asset(self, asset: &Value) -> AssetModel {
        AssetModel {
            filename: self.filename,
            url: url_path(asset["url"].as_str().expect("asset url")).to_string(),
            size: self.size,
            sha256: self.sha256,
            marker: self.marker,
            notes: None,
            alt: None,
            credits: None,
            tags: BTreeSet::new(),
        }
    }
}

/// The state a worker has seen acknowledged, plus the one request whose outcome it did not see.
struct WorkerModel {
    worker: usize,
    seed: u64,
    /// Asset id to its state.
    assets: BTreeMap<String, AssetModel>,
    /// Tag id to its name.
    tags: BTreeMap<String, String>,
    /// Requests acknowledged with success since the start of the test.
    acknowledged: usize,
    /// Counter for unique names.
    sequence: u64,
    pending: Option<Pending>,
}

/// A request that was sent but got no response before the kill.
#[derive(Debug)]
enum Pending {
    Upload(SentFile),
    Patch {
        id: String,
        after: AssetModel,
    },
    CreateTag {
        name: String,
    },
    RenameTag {
        id: String,
        name: String,
    },
    DeleteTag {
        id: String,
    },
    /// An assignment (`add`) or unassignment of a tag.
    Assign {
        tag: String,
        ids: Vec<String>,
        add: bool,
    },
    Delete {
        ids: Vec<String>,
    },
}

impl WorkerModel {
    fn new(worker: usize, seed: u64) -> WorkerModel {
        WorkerModel {
            worker,
            seed,
            assets: BTreeMap::new(),
            tags: BTreeMap::new(),
            acknowledged: 0,
            sequence: 0,
            pending: None,
        }
    }

    fn next_name(&mut self, kind: &str) -> String {
        self.sequence += 1;
        format!("w{}-{kind}{}", self.worker, self.sequence)
    }

    fn owns(&self, name: &str) -> bool {
        name.starts_with(&format!("w{}-", self.worker))
    }

    /// Settles the request that had no response: the server shows either its effect or none of it.
    fn resolve_pending(&mut self, observed: &Observed, cycle: usize) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let context = format!(
            "after kill {}, worker {}, unanswered {pending:?}",
            cycle + 1,
            self.worker
        );
        match pending {
            Pending::Upload(sent) => {
                let found = observed.assets.iter().find(|(id, asset)| {
                    asset["filename"] == sent.filename.as_str()
                        && !self.assets.contains_key(id.as_str())
                });
                if let Some((id, asset)) = found {
                    self.assets.insert(id.clone(), sent.into_asset(asset));
                }
            }
            Pending::Patch { id, after } => {
                let Some(asset) = observed.assets.get(&id) else {
                    panic!("{context}: the asset is gone");
                };
                if model_matches(&after, asset) {
                    self.assets.insert(id, after);
                }
            }
            Pending::CreateTag { name } => {
                if let Some((id, _)) = observed.tags.iter().find(|(_, tag)| tag.name == name) {
                    self.tags.insert(id.clone(), name);
                }
            }
            Pending::RenameTag { id, name } => {
                let tag = observed
                    .tags
                    .get(&id)
                    .unwrap_or_else(|| panic!("{context}: the tag is gone"));
                if tag.name == name {
                    self.tags.insert(id, name);
                }
            }
            Pending::DeleteTag { id } => {
                if !observed.tags.contains_key(&id) {
                    self.remove_tag(&id);
                }
            }
            Pending::Assign { tag, ids, add } => {
                let applied = ids.iter().all(|id| observed.asset_has_tag(id, &tag) == add);
                if applied {
                    self.apply_assignment(&tag, &ids, add);
                }
            }
            Pending::Delete { ids } => {
                let gone = ids
                    .iter()
                    .filter(|id| !observed.assets.contains_key(id.as_str()))
                    .count();
                assert!(
                    gone == 0 || gone == ids.len(),
                    "{context}: a bulk delete was applied to {gone} of {} assets",
                    ids.len()
                );
                if gone == ids.len() {
                    for id in &ids {
                        self.assets.remove(id);
                    }
                }
            }
        }
    }

    /// Adds the tag to the assets, or removes it (`add` false).
    fn apply_assignment(&mut self, tag: &str, ids: &[String], add: bool) {
        for id in ids {
            let asset = self.assets.get_mut(id).expect("owned asset");
            if add {
                asset.tags.insert(tag.to_string());
            } else {
                asset.tags.remove(tag);
            }
        }
    }

    fn remove_tag(&mut self, id: &str) {
        self.tags.remove(id);
        for asset in self.assets.values_mut() {
            asset.tags.remove(id);
        }
    }

    /// Compares the worker's assets and tags with what the server lists, exactly.
    fn assert_matches(&self, observed: &Observed, cycle: usize) {
        let context = format!("after kill {}, worker {}", cycle + 1, self.worker);
        let listed: BTreeSet<&String> = observed
            .assets
            .iter()
            .filter(|(_, asset)| self.owns(asset["filename"].as_str().unwrap_or("")))
            .map(|(id, _)| id)
            .collect();
        let expected: BTreeSet<&String> = self.assets.keys().collect();
        assert_eq!(
            listed, expected,
            "{context}: the listed assets differ from the acknowledged ones (left: listed, right: expected)"
        );
        for (id, model) in &self.assets {
            let asset = &observed.assets[id];
            assert!(
                model_matches(model, asset),
                "{context}: asset {id} differs from its acknowledged state\nexpected: {model:?}\nlisted: {asset}"
            );
        }

        let listed_tags: BTreeMap<&String, &String> = observed
            .tags
            .iter()
            .filter(|(_, tag)| self.owns(&tag.name))
            .map(|(id, tag)| (id, &tag.name))
            .collect();
        let expected_tags: BTreeMap<&String, &String> = self.tags.iter().collect();
        assert_eq!(
            listed_tags, expected_tags,
            "{context}: the listed tags differ from the acknowledged ones (left: listed, right: expected)"
        );
    }
}

/// Returns whether a listed asset shows exactly the fields of `model`.
fn model_matches(model: &AssetModel, asset: &Value) -> bool {
    let text = |key: &str| asset.get(key).and_then(Value::as_str).map(str::to_string);
    let tags: BTreeSet<String> = asset["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|tag| tag["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    text("filename").as_deref() == Some(model.filename.as_str())
        && text("url").as_deref().map(url_path) == Some(model.url.as_str())
        && asset["size"].as_u64() == Some(model.size)
        && text("notes") == model.notes
        && text("alt") == model.alt
        && text("credits") == model.credits
        && tags == model.tags
}

/// The path and query of an asset URL: its host part names the port of the server that responded, which changes
/// with every restart.
fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or("", |start| &after_scheme[start..])
}

// ---------------------------------------------------------------------------------------------------------------
// Traffic

/// Sends one request after another until `stop` is set or a request gets no response, and returns the model.
async fn run_worker(
    server: Arc<TestServer>,
    stop: Arc<AtomicBool>,
    mut model: WorkerModel,
    seed: u64,
) -> WorkerModel {
    let mut rng = StdRng::seed_from_u64(seed);
    while !stop.load(Ordering::SeqCst) {
        let answered = step(&server, &mut model, &mut rng).await;
        if !answered {
            break;
        }
        model.acknowledged += 1;
    }
    model
}

/// Sends one random request and applies its effect to the model once acknowledged. Returns false when the request
/// got no response, which leaves it in `model.pending`.
async fn step(server: &TestServer, model: &mut WorkerModel, rng: &mut StdRng) -> bool {
    let owned: Vec<String> = model.assets.keys().cloned().collect();
    let tags: Vec<String> = model.tags.keys().cloned().collect();
    let roll = rng.gen_range(0..100);

    if owned.len() >= MAX_OWNED_ASSETS && roll < 50 {
        return bulk_delete(server, model, rng, &owned).await;
    }
    match roll {
        _ if owned.is_empty() => upload(server, model, rng).await,
        0..=29 => upload(server, model, rng).await,
        30..=54 => patch(server, model, rng, &owned, &tags).await,
        55..=62 if tags.len() < MAX_OWNED_TAGS => create_tag(server, model).await,
        63..=66 if !tags.is_empty() => rename_tag(server, model, rng, &tags).await,
        67..=69 if !tags.is_empty() => delete_tag(server, model, rng, &tags).await,
        70..=79 if !tags.is_empty() => assign(server, model, rng, &owned, &tags, true).await,
        80..=85 if !tags.is_empty() => assign(server, model, rng, &owned, &tags, false).await,
        86..=93 => delete_one(server, model, rng, &owned).await,
        94..=99 => bulk_delete(server, model, rng, &owned).await,
        _ => upload(server, model, rng).await,
    }
}

/// Sends a request; `None` when it got no response. A response with another status than `expected` fails the test.
async fn exchange(request: reqwest::RequestBuilder, expected: u16) -> Option<Reply> {
    let reply = try_send(request).await.ok()?;
    assert_eq!(
        reply.status,
        expected,
        "{} answered {}: {}",
        reply.request,
        reply.status,
        reply.text()
    );
    Some(reply)
}

/// Size of an upload: mostly small, sometimes a few MiB, rarely above the 8 MiB part size of S3 multipart uploads.
fn upload_size(rng: &mut StdRng) -> usize {
    match rng.gen_range(0..100) {
        0..=59 => rng.gen_range(1..16 * 1024),
        60..=89 => rng.gen_range(16 * 1024..1024 * 1024),
        90..=97 => rng.gen_range(1024 * 1024..4 * 1024 * 1024),
        _ => rng.gen_range(9 * 1024 * 1024..12 * 1024 * 1024),
    }
}

async fn upload(server: &TestServer, model: &mut WorkerModel, rng: &mut StdRng) -> bool {
    let filename = format!("{}.bin", model.next_name("a"));
    let marker = format!("{:016x} {filename};", model.seed);
    let mut bytes = [MARKER_PREFIX, marker.as_bytes()].concat();
    let start = bytes.len();
    bytes.resize(start + upload_size(rng), 0);
    rng.fill_bytes(&mut bytes[start..]);

    let form = Multipart::new().file(&filename, &bytes);
    let request = server
        .request(Method::POST, "/assets")
        .header("content-type", form.content_type())
        .body(form.body());
    let sent = SentFile {
        filename,
        size: bytes.len() as u64,
        sha256: Sha256::digest(&bytes).into(),
        marker,
    };
    model.pending = Some(Pending::Upload(sent.clone()));
    let Some(reply) = exchange(request, 200).await else {
        return false;
    };
    model.pending = None;

    let asset = reply.json();
    let id = asset["id"].as_str().expect("asset id").to_string();
    let state = sent.into_asset(&asset);
    assert!(
        model_matches(&state, &asset),
        "the upload's response differs from what was sent: {asset}"
    );
    model.assets.insert(id, state);
    true
}

async fn patch(
    server: &TestServer,
    model: &mut WorkerModel,
    rng: &mut StdRng,
    owned: &[String],
    tags: &[String],
) -> bool {
    let id = owned[rng.gen_range(0..owned.len())].clone();
    let mut after = model.assets[&id].clone();
    let mut body = serde_json::Map::new();
    let value = format!("{} {}", model.next_name("v"), rng.gen::<u32>());
    match rng.gen_range(0..5) {
        0 => after.notes = Some(value),
        1 => after.alt = Some(value),
        2 => after.credits = Some(value),
        3 => after.filename = format!("{}.bin", model.next_name("renamed")),
        _ => {
            after.tags = tags.iter().filter(|_| rng.gen_bool(0.5)).cloned().collect();
        }
    }
    let before = &model.assets[&id];
    if after.notes != before.notes {
        body.insert("notes".into(), json!(after.notes));
    }
    if after.alt != before.alt {
        body.insert("alt".into(), json!(after.alt));
    }
    if after.credits != before.credits {
        body.insert("credits".into(), json!(after.credits));
    }
    if after.filename != before.filename {
        body.insert("filename".into(), json!(after.filename));
    }
    if after.tags != before.tags || body.is_empty() {
        body.insert("tags".into(), json!(after.tags));
    }

    let request = server
        .request(
            Method::PATCH,
            &format!("/assets/{}", encode_unreserved(&id)),
        )
        .json(&Value::Object(body));
    model.pending = Some(Pending::Patch {
        id: id.clone(),
        after: after.clone(),
    });
    let Some(reply) = exchange(request, 200).await else {
        return false;
    };
    model.pending = None;

    let asset = reply.json();
    assert!(
        model_matches(&after, &asset),
        "the PATCH response differs from the change\nexpected: {after:?}\ngot: {asset}"
    );
    model.assets.insert(id, after);
    true
}

async fn create_tag(server: &TestServer, model: &mut WorkerModel) -> bool {
    let name = model.next_name("t");
    let request = server
        .request(Method::POST, "/tags")
        .json(&json!({ "name": name }));
    model.pending = Some(Pending::CreateTag { name: name.clone() });
    let Some(reply) = exchange(request, 201).await else {
        return false;
    };
    model.pending = None;

    let id = reply.json()["id"].as_str().expect("tag id").to_string();
    model.tags.insert(id, name);
    true
}

async fn rename_tag(
    server: &TestServer,
    model: &mut WorkerModel,
    rng: &mut StdRng,
    tags: &[String],
) -> bool {
    let id = tags[rng.gen_range(0..tags.len())].clone();
    let name = model.next_name("r");
    let request = server
        .request(Method::PATCH, &format!("/tags/{}", encode_unreserved(&id)))
        .json(&json!({ "name": name }));
    model.pending = Some(Pending::RenameTag {
        id: id.clone(),
        name: name.clone(),
    });
    if exchange(request, 200).await.is_none() {
        return false;
    }
    model.pending = None;

    model.tags.insert(id, name);
    true
}

async fn delete_tag(
    server: &TestServer,
    model: &mut WorkerModel,
    rng: &mut StdRng,
    tags: &[String],
) -> bool {
    let id = tags[rng.gen_range(0..tags.len())].clone();
    let request = server.request(Method::DELETE, &format!("/tags/{}", encode_unreserved(&id)));
    model.pending = Some(Pending::DeleteTag { id: id.clone() });
    if exchange(request, 204).await.is_none() {
        return false;
    }
    model.pending = None;

    model.remove_tag(&id);
    true
}

/// Assigns (`add`) or unassigns a tag on a few of the worker's assets.
async fn assign(
    server: &TestServer,
    model: &mut WorkerModel,
    rng: &mut StdRng,
    owned: &[String],
    tags: &[String],
    add: bool,
) -> bool {
    let tag = tags[rng.gen_range(0..tags.len())].clone();
    let ids = pick(rng, owned, 1..6);
    let method = if add { Method::POST } else { Method::DELETE };
    let request = server
        .request(method, &format!("/tags/{}/assets", encode_unreserved(&tag)))
        .json(&json!({ "assetIds": ids }));
    model.pending = Some(Pending::Assign {
        tag: tag.clone(),
        ids: ids.clone(),
        add,
    });
    if exchange(request, 204).await.is_none() {
        return false;
    }
    model.pending = None;

    model.apply_assignment(&tag, &ids, add);
    true
}

async fn delete_one(
    server: &TestServer,
    model: &mut WorkerModel,
    rng: &mut StdRng,
    owned: &[String],
) -> bool {
    let id = owned[rng.gen_range(0..owned.len())].clone();
    let request = server.request(
        Method::DELETE,
        &format!("/assets/{}", encode_unreserved(&id)),
    );
    model.pending = Some(Pending::Delete {
        ids: vec![id.clone()],
    });
    if exchange(request, 204).await.is_none() {
        return false;
    }
    model.pending = None;

    model.assets.remove(&id);
    true
}

async fn bulk_delete(
    server: &TestServer,
    model: &mut WorkerModel,
    rng: &mut StdRng,
    owned: &[String],
) -> bool {
    let ids = pick(rng, owned, 1..8);
    let request = server
        .request(Method::POST, "/assets/bulk-delete")
        .json(&json!({ "ids": ids }));
    model.pending = Some(Pending::Delete { ids: ids.clone() });
    if exchange(request, 204).await.is_none() {
        return false;
    }
    model.pending = None;

    for id in &ids {
        model.assets.remove(id);
    }
    true
}

/// Picks distinct items, as many as a random number in `count` allows.
fn pick(rng: &mut StdRng, items: &[String], count: std::ops::Range<usize>) -> Vec<String> {
    let wanted = rng.gen_range(count).min(items.len());
    rand::seq::index::sample(rng, items.len(), wanted)
        .into_iter()
        .map(|index| items[index].clone())
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// What the restarted server shows

struct ObservedTag {
    name: String,
    count: u64,
}

struct Observed {
    /// Asset id to the listed asset.
    assets: BTreeMap<String, Value>,
    /// Tag id to its listed name and count.
    tags: BTreeMap<String, ObservedTag>,
}

impl Observed {
    async fn read(server: &TestServer) -> Observed {
        let walk = server.walk_assets(&[], 1000).await;
        let mut assets = BTreeMap::new();
        for page in &walk.pages {
            for asset in page["items"].as_array().expect("items") {
                let id = asset["id"].as_str().expect("asset id").to_string();
                assert!(
                    assets.insert(id, asset.clone()).is_none(),
                    "an asset is listed twice: {asset}"
                );
            }
        }
        let tags = server
            .tags_ok()
            .await
            .iter()
            .map(|tag| {
                let id = tag["id"].as_str().expect("tag id").to_string();
                let name = tag["name"].as_str().expect("tag name").to_string();
                let count = tag["count"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("tag without a count: {tag}"));
                (id, ObservedTag { name, count })
            })
            .collect();
        Observed { assets, tags }
    }

    fn asset_has_tag(&self, id: &str, tag: &str) -> bool {
        self.assets
            .get(id)
            .and_then(|asset| asset["tags"].as_array())
            .is_some_and(|tags| tags.iter().any(|listed| listed["id"] == tag))
    }

    /// Checks that every tag's count equals the number of listed assets that carry it, and assets carry only listed tags under
    /// their current names.
    fn assert_tag_counts(&self, cycle: usize) {
        let mut carried: BTreeMap<&str, u64> = BTreeMap::new();
        for asset in self.assets.values() {
            for tag in asset["tags"].as_array().expect("tags array") {
                let id = tag["id"].as_str().expect("tag id");
                let listed = self.tags.get(id).unwrap_or_else(|| {
                    panic!(
                        "after kill {}: an asset carries an unlisted tag: {asset}",
                        cycle + 1
                    )
                });
                assert_eq!(
                    tag["name"],
                    listed.name.as_str(),
                    "after kill {}: a stale tag name on {asset}",
                    cycle + 1
                );
                *carried.entry(id).or_default() += 1;
            }
        }
        for (id, tag) in &self.tags {
            assert_eq!(
                tag.count,
                carried.get(id.as_str()).copied().unwrap_or(0),
                "after kill {}: the count of tag {id} ({}) differs from its assignments",
                cycle + 1,
                tag.name
            );
        }
    }
}

/// Checks that every listed asset serves its exact bytes.
async fn assert_bytes(
    server: &TestServer,
    models: &[WorkerModel],
    observed: &Observed,
    cycle: usize,
) {
    for model in models {
        for (id, asset) in &model.assets {
            let reply = server.fetch(&server.url(&asset.url), &[]).await;
            assert_eq!(
                reply.status,
                200,
                "after kill {}: the file of asset {id} answers {}: {}",
                cycle + 1,
                reply.status,
                reply.text()
            );
            let sha256: [u8; 32] = Sha256::digest(&reply.body).into();
            assert!(
                reply.body.len() as u64 == asset.size && sha256 == asset.sha256,
                "after kill {}: the file of asset {id} has other bytes ({} bytes, {} expected)",
                cycle + 1,
                reply.body.len(),
                asset.size
            );
        }
    }
    let checked: usize = models.iter().map(|model| model.assets.len()).sum();
    assert_eq!(
        checked,
        observed.assets.len(),
        "after kill {}: every listed asset is owned by a worker",
        cycle + 1
    );
}

/// Checks that the bytes of uploads that were never acknowledged (and of deleted assets) leave the storage once the grace period
/// has passed: in the end, every upload marker in storage belongs to a listed asset.
/// Returns the markers of the uploads that the models expect to be listed.
fn live_markers(models: &[WorkerModel]) -> BTreeSet<String> {
    models
        .iter()
        .flat_map(|model| model.assets.values().map(|asset| asset.marker.clone()))
        .collect()
}

/// Files in storage that no listed asset owns (unacknowledged uploads and deleted assets), with the time the test
/// first saw each, at a restart.
#[derive(Default)]
struct Leftovers {
    first_seen: BTreeMap<String, Instant>,
}

impl Leftovers {
    /// Records the leftover files in storage now, and fails on any that the test first saw more than [`SWEEP_LAG`]
    /// ago. No request is in flight while it runs: the workers wait for the next cycle.
    fn check(&mut self, server: &TestServer, models: &[WorkerModel], cycle: usize) {
        let live = live_markers(models);
        let seed_text = format!("{:016x} ", models[0].seed);
        let stored = stored_markers(&storage_root(server.data_dir()), &seed_text);
        let now = Instant::now();
        self.first_seen
            .retain(|marker, _| stored.contains_key(marker) && !live.contains(marker));
        for marker in stored.keys().filter(|marker| !live.contains(*marker)) {
            self.first_seen.entry(marker.clone()).or_insert(now);
        }
        let overdue: Vec<&PathBuf> = self
            .first_seen
            .iter()
            .filter(|(_, seen)| now.duration_since(**seen) > SWEEP_LAG)
            .map(|(marker, _)| &stored[marker])
            .collect();
        assert!(
            overdue.is_empty(),
            "after kill {}: files of unacknowledged uploads or deleted assets are still in storage more than \
             {SWEEP_LAG:?} after the test first saw them: {overdue:#?}",
            cycle + 1
        );
    }
}

async fn assert_unacknowledged_bytes_swept(server: &TestServer, models: &[WorkerModel]) {
    let live = live_markers(models);
    let seed_text = format!("{:016x} ", models[0].seed);
    let root = storage_root(server.data_dir());
    let deadline = Instant::now() + SWEEP_DEADLINE;
    loop {
        let stored = stored_markers(&root, &seed_text);
        let missing: Vec<&String> = live
            .iter()
            .filter(|marker| !stored.contains_key(*marker))
            .collect();
        assert!(
            missing.is_empty(),
            "listed assets without their bytes in storage: {missing:?}"
        );
        let leftover: Vec<&PathBuf> = stored
            .iter()
            .filter(|(marker, _)| !live.contains(*marker))
            .map(|(_, path)| path)
            .collect();
        if leftover.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            let sweeps: Vec<String> = server
                .stderr_lines()
                .into_iter()
                .filter(|line| {
                    line.contains("sweep") || line.contains("WARN") || line.contains("ERROR")
                })
                .collect();
            panic!(
                "{} files of unacknowledged uploads or deleted assets are still in storage after {SWEEP_DEADLINE:?}: \
                 {leftover:#?}\nwarnings and sweeps in the server log:\n{}",
                leftover.len(),
                sweeps.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The directory that contains the stored bytes: the S3 test server's root directory when the suite runs on S3 (it
/// also contains the parts of unfinished multipart uploads), else the data directory.
fn storage_root(data_dir: &Path) -> PathBuf {
    std::env::var_os("MEDIALIB_TEST_STORAGE_URL")
        .and(std::env::var_os("S3_ROOT"))
        .map_or_else(|| data_dir.to_path_buf(), PathBuf::from)
}

/// Markers of this run's uploads found at the start of files under `dir`, with the path of each file.
fn stored_markers(dir: &Path, seed_text: &str) -> BTreeMap<String, PathBuf> {
    let mut markers = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && !is_orphaned_s3s_part(&path) {
                if let Some(marker) =
                    read_marker(&path).filter(|marker| marker.starts_with(seed_text))
                {
                    markers.insert(marker, path);
                }
            }
        }
    }
    markers
}

/// Returns whether `path` is a part file that s3s-fs left behind after the multipart upload itself was completed or
/// aborted. s3s-fs (0.14) deletes an upload's record (`.upload-{id}.json`) before it moves or deletes the parts
/// (`.upload_id-{id}.part-{n}`), and a completion cut off halfway by the client's death leaves parts that no S3
/// request can reach any more. AWS completes an upload atomically. Parts of an upload that still exists are counted.
fn is_orphaned_s3s_part(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    let Some((upload_id, _part)) = name
        .strip_prefix(".upload_id-")
        .and_then(|rest| rest.split_once(".part-"))
    else {
        return false;
    };
    !path
        .with_file_name(format!(".upload-{upload_id}.json"))
        .exists()
}

fn read_marker(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 128];
    let mut file = std::fs::File::open(path).ok()?;
    let read = file.read(&mut head).ok()?;
    let rest = head[..read].strip_prefix(MARKER_PREFIX)?;
    let end = rest.iter().position(|&byte| byte == b';')?;
    Some(String::from_utf8_lossy(&rest[..=end]).into_owned())
}
