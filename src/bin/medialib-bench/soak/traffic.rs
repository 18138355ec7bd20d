//! The operations of `soak` and the shared record of the assets and tags it created.
//!
//! A worker draws an operation by weight and sends its one or two requests. Uploads and deletes have equal weight in
//! assets, and the pool bounds keep the live count between half of `--live-assets` and `--live-assets`: an upload
//! at the maximum becomes a delete, a delete below half becomes an upload. The run therefore measures a data set of
//! constant size, not its growth.
//!
//! Workers touch only assets and tags that this run created. An asset or tag leaves the pool before the request that
//! deletes it is sent, so another worker can still hold its id. A 404 (or, for a PATCH of `tags`, a 400) on an id
//! that has left the pool by the time the response arrives is such a race and is counted apart, not as an error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::payloads::{multipart, unique_copy, Templates};
use super::record::{Outcome, Recorder};
use crate::http::Connection;
use crate::names::{FileKind, NameGenerator};

/// An operation of the mix. Weights in [`OPERATIONS`] are relative. The upload weights (15) match the delete weights
/// counted in assets: single deletes 9, plus bulk deletes 1 with 2 to 10 ids, so 6 on average.
#[derive(Clone, Copy, Debug)]
pub enum Operation {
    UploadImage,
    UploadDocument,
    List,
    ListByKeyword,
    ListByTag,
    ListNextPage,
    LookUpByIds,
    GetFile,
    GetImageVariant,
    PatchText,
    PatchTags,
    AssignTag,
    UnassignTag,
    CreateOrDeleteTag,
    ListTags,
    Delete,
    BulkDelete,
}

const OPERATIONS: &[(Operation, u32)] = &[
    (Operation::UploadImage, 13),
    (Operation::UploadDocument, 2),
    (Operation::List, 8),
    (Operation::ListByKeyword, 6),
    (Operation::ListByTag, 4),
    (Operation::ListNextPage, 4),
    (Operation::LookUpByIds, 3),
    (Operation::GetFile, 8),
    (Operation::GetImageVariant, 14),
    (Operation::PatchText, 8),
    (Operation::PatchTags, 4),
    (Operation::AssignTag, 3),
    (Operation::UnassignTag, 2),
    (Operation::CreateOrDeleteTag, 1),
    (Operation::ListTags, 2),
    (Operation::Delete, 9),
    (Operation::BulkDelete, 1),
];

/// Widths of resized image requests. With 2 formats and every live image, the variant cache keeps filling, and a
/// repeated request of the same width is a cache hit.
const VARIANT_WIDTHS: &[u32] = &[48, 96, 160, 240, 320, 480, 640, 800, 1024];

/// Tags this run keeps at once: a create at the maximum becomes a delete, a delete at the minimum becomes a create.
const MAX_TAGS: usize = 12;
const MIN_TAGS: usize = 4;

/// Request labels, one per kind of request, for the per-request table of the report.
pub mod label {
    pub const UPLOAD_IMAGE: &str = "POST /assets (image)";
    pub const UPLOAD_DOCUMENT: &str = "POST /assets (document)";
    pub const LIST: &str = "GET /assets";
    pub const LIST_KEYWORD: &str = "GET /assets?keyword";
    pub const LIST_TAG: &str = "GET /assets?tags";
    pub const LIST_CURSOR: &str = "GET /assets?cursor";
    pub const LIST_IDS: &str = "GET /assets?ids";
    pub const GET_FILE: &str = "GET /files (original)";
    pub const GET_VARIANT: &str = "GET /files?w= (variant)";
    pub const PATCH_TEXT: &str = "PATCH /assets/{id} (text)";
    pub const PATCH_TAGS: &str = "PATCH /assets/{id} (tags)";
    pub const ASSIGN: &str = "POST /tags/{id}/assets";
    pub const UNASSIGN: &str = "DELETE /tags/{id}/assets";
    pub const CREATE_TAG: &str = "POST /tags";
    pub const DELETE_TAG: &str = "DELETE /tags/{id}";
    pub const LIST_TAGS: &str = "GET /tags";
    pub const DELETE: &str = "DELETE /assets/{id}";
    pub const BULK_DELETE: &str = "POST /assets/bulk-delete";
}

/// An asset this run uploaded and has not deleted.
#[derive(Clone)]
struct Asset {
    id: String,
    /// Path of its file URL, without the query: `/files/{repository}/{id}_{name}`.
    file_path: String,
    is_image: bool,
}

/// The assets and tags that this run created and has not deleted.
pub struct Pool {
    state: Mutex<PoolState>,
    max_assets: usize,
    /// Counter of the names of created tags and of the markers of uploads.
    counter: AtomicU64,
    /// Prefix of tag names, unique per run, so that a second run on the same repository creates no duplicate name.
    run_prefix: String,
}

#[derive(Default)]
struct PoolState {
    assets: Vec<Asset>,
    tags: Vec<String>,
}

impl Pool {
    pub fn new(max_assets: usize, run_prefix: String) -> Self {
        Self {
            state: Mutex::new(PoolState::default()),
            max_assets,
            counter: AtomicU64::new(0),
            run_prefix,
        }
    }

    /// Returns the number of live assets and tags.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap();
        (state.assets.len(), state.tags.len())
    }

    fn next_number(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    fn random_asset(&self, rng: &mut StdRng, images_only: bool) -> Option<Asset> {
        let state = self.state.lock().unwrap();
        if !images_only {
            return state.assets.choose(rng).cloned();
        }
        // Most assets are images, so a few draws find one without scanning the pool.
        (0..8)
            .filter_map(|_| state.assets.choose(rng))
            .find(|asset| asset.is_image)
            .cloned()
    }

    fn random_assets(&self, rng: &mut StdRng, count: usize) -> Vec<Asset> {
        let state = self.state.lock().unwrap();
        state.assets.choose_multiple(rng, count).cloned().collect()
    }

    fn random_tags(&self, rng: &mut StdRng, count: usize) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state.tags.choose_multiple(rng, count).cloned().collect()
    }

    fn has_asset(&self, id: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .assets
            .iter()
            .any(|asset| asset.id == id)
    }

    fn has_tag(&self, id: &str) -> bool {
        self.state.lock().unwrap().tags.iter().any(|tag| tag == id)
    }

    /// Removes up to `count` random assets from the pool and returns them, for a delete.
    fn take_assets(&self, rng: &mut StdRng, count: usize) -> Vec<Asset> {
        let mut state = self.state.lock().unwrap();
        let mut removed = Vec::with_capacity(count);
        while removed.len() < count && !state.assets.is_empty() {
            let index = rng.gen_range(0..state.assets.len());
            removed.push(state.assets.swap_remove(index));
        }
        removed
    }

    fn take_tag(&self, rng: &mut StdRng) -> Option<String> {
        let mut state = self.state.lock().unwrap();
        if state.tags.is_empty() {
            return None;
        }
        let index = rng.gen_range(0..state.tags.len());
        Some(state.tags.swap_remove(index))
    }
}

/// One client thread: its connection, random generator and the shared pool and recorder.
pub struct Worker<'a> {
    pub connection: Connection,
    pub rng: StdRng,
    pub pool: &'a Pool,
    pub recorder: &'a Recorder,
    pub templates: &'a Templates,
    pub names: &'a NameGenerator,
}

/// Status and parsed JSON body of a response; `None` after a transport error or an unexpected status.
type Reply = Option<(u16, Value)>;

impl Worker<'_> {
    /// Sends operations drawn by weight until `deadline`.
    pub fn run_until(&mut self, deadline: Instant) {
        let weights = WeightedIndex::new(OPERATIONS.iter().map(|(_, weight)| *weight))
            .expect("the operation weights are positive");
        while Instant::now() < deadline {
            let operation = OPERATIONS[weights.sample(&mut self.rng)].0;
            self.perform(operation);
        }
    }

    /// Creates tags until the pool contains `count` of them.
    pub fn create_tags(&mut self, count: usize) {
        while self.pool.counts().1 < count {
            if self.create_tag().is_none() {
                return;
            }
        }
    }

    fn perform(&mut self, operation: Operation) {
        let (live_assets, live_tags) = self.pool.counts();
        let operation = match operation {
            Operation::UploadImage | Operation::UploadDocument
                if live_assets >= self.pool.max_assets =>
            {
                Operation::Delete
            }
            Operation::Delete | Operation::BulkDelete if live_assets < self.pool.max_assets / 2 => {
                Operation::UploadImage
            }
            other => other,
        };
        match operation {
            Operation::UploadImage => self.upload(true),
            Operation::UploadDocument => self.upload(false),
            Operation::List => self.list(),
            Operation::ListByKeyword => self.list_by_keyword(),
            Operation::ListByTag => self.list_by_tag(),
            Operation::ListNextPage => self.list_next_page(),
            Operation::LookUpByIds => self.look_up_by_ids(),
            Operation::GetFile => self.get_file(),
            Operation::GetImageVariant => self.get_image_variant(),
            Operation::PatchText => self.patch_text(),
            Operation::PatchTags => self.patch_tags(),
            Operation::AssignTag => self.change_tag_assignment(true),
            Operation::UnassignTag => self.change_tag_assignment(false),
            Operation::CreateOrDeleteTag => {
                let create = match live_tags {
                    count if count >= MAX_TAGS => false,
                    count if count <= MIN_TAGS => true,
                    _ => self.rng.gen_bool(0.5),
                };
                if create {
                    self.create_tag();
                } else {
                    self.delete_tag();
                }
            }
            Operation::ListTags => {
                self.exchange(label::LIST_TAGS, "GET", "/tags", None, &[], 200, |_| false);
            }
            Operation::Delete => self.delete(),
            Operation::BulkDelete => self.bulk_delete(),
        }
    }

    fn upload(&mut self, image: bool) {
        let template = if image {
            self.templates.pick_image(&mut self.rng)
        } else {
            self.templates.pick_document(&mut self.rng)
        };
        let format = template.format;
        let number = self.pool.next_number();
        let bytes = unique_copy(template, &format!("{} {number}", self.pool.run_prefix));
        let kind = FileKind {
            kind: if format.is_image() {
                "image"
            } else {
                "document"
            },
            extension: format.extension(),
            content_type: format.content_type(),
            has_dimensions: format.is_image(),
        };
        // NameGenerator names screenshots `.png` whatever the kind; the server sniffs the kind from the bytes.
        let filename = self.names.filename(&mut self.rng, &kind);
        let notes = self.names.sentence(&mut self.rng, 3, 12);
        let alt = self.names.sentence(&mut self.rng, 2, 8);
        let mut texts = Vec::new();
        if self.rng.gen_bool(0.3) {
            texts.push(("notes", notes.as_str()));
        }
        if image && self.rng.gen_bool(0.5) {
            texts.push(("alt", alt.as_str()));
        }
        let body = multipart(
            &mut self.rng,
            &filename,
            format.content_type(),
            &bytes,
            &texts,
        );

        let label = if image {
            label::UPLOAD_IMAGE
        } else {
            label::UPLOAD_DOCUMENT
        };
        let reply = self.exchange(
            label,
            "POST",
            "/assets",
            Some(&body.content_type),
            &body.body,
            200,
            |_| false,
        );
        let Some((_, asset)) = reply else {
            return;
        };
        let (Some(id), Some(url)) = (asset["id"].as_str(), asset["url"].as_str()) else {
            self.recorder
                .unexpected_body(label, "the uploaded asset has no id or url");
            return;
        };
        let Some(file_path) = file_path(url) else {
            self.recorder
                .unexpected_body(label, &format!("the asset url {url:?} has no /files/ path"));
            return;
        };
        self.pool.state.lock().unwrap().assets.push(Asset {
            id: id.to_owned(),
            file_path,
            is_image: asset["kind"] == "image",
        });
    }

    fn list(&mut self) {
        let limit = [10, 30, 100].choose(&mut self.rng).copied().unwrap_or(100);
        let path = if self.rng.gen_bool(0.2) {
            format!("/assets?limit={limit}&assetType=image")
        } else {
            format!("/assets?limit={limit}")
        };
        self.exchange(label::LIST, "GET", &path, None, &[], 200, |_| false);
    }

    fn list_by_keyword(&mut self) {
        let keyword = self.names.word(&mut self.rng);
        let path = format!("/assets?limit=30&keyword={keyword}");
        self.exchange(label::LIST_KEYWORD, "GET", &path, None, &[], 200, |_| false);
    }

    fn list_by_tag(&mut self) {
        let count = self.rng.gen_range(1..=2);
        let tags = self.pool.random_tags(&mut self.rng, count);
        if tags.is_empty() {
            return self.list();
        }
        let mut path = "/assets?limit=30".to_owned();
        for tag in &tags {
            path.push_str(&format!("&tags={tag}"));
        }
        self.exchange(label::LIST_TAG, "GET", &path, None, &[], 200, |_| false);
    }

    /// Lists a first page of 20, then the page after it with the returned cursor; half the time with a keyword.
    fn list_next_page(&mut self) {
        let mut first = "/assets?limit=20".to_owned();
        if self.rng.gen_bool(0.5) {
            first.push_str(&format!("&keyword={}", self.names.word(&mut self.rng)));
        }
        let reply = self.exchange(label::LIST, "GET", &first, None, &[], 200, |_| false);
        let Some(cursor) = reply.and_then(|(_, page)| page["cursor"].as_str().map(str::to_owned))
        else {
            return;
        };
        let next = format!("{first}&cursor={cursor}");
        self.exchange(label::LIST_CURSOR, "GET", &next, None, &[], 200, |_| false);
    }

    fn look_up_by_ids(&mut self) {
        let count = self.rng.gen_range(1..=5);
        let assets = self.pool.random_assets(&mut self.rng, count);
        if assets.is_empty() {
            return self.list();
        }
        let mut path = "/assets?".to_owned();
        let ids: Vec<String> = assets
            .iter()
            .map(|asset| format!("ids={}", asset.id))
            .collect();
        path.push_str(&ids.join("&"));
        self.exchange(label::LIST_IDS, "GET", &path, None, &[], 200, |_| false);
    }

    fn get_file(&mut self) {
        let Some(asset) = self.pool.random_asset(&mut self.rng, false) else {
            return self.list();
        };
        let pool = self.pool;
        self.exchange(
            label::GET_FILE,
            "GET",
            &asset.file_path,
            None,
            &[],
            200,
            |status| status == 404 && !pool.has_asset(&asset.id),
        );
    }

    /// Requests a resized image: a width from [`VARIANT_WIDTHS`], as JPEG or PNG like the source or as WebP.
    fn get_image_variant(&mut self) {
        let Some(asset) = self.pool.random_asset(&mut self.rng, true) else {
            return self.list();
        };
        let width = VARIANT_WIDTHS.choose(&mut self.rng).copied().unwrap_or(320);
        let mut path = format!("{}?w={width}", asset.file_path);
        if self.rng.gen_bool(0.5) {
            path.push_str("&fm=webp");
        }
        let pool = self.pool;
        self.exchange(label::GET_VARIANT, "GET", &path, None, &[], 200, |status| {
            status == 404 && !pool.has_asset(&asset.id)
        });
    }

    fn patch_text(&mut self) {
        let Some(asset) = self.pool.random_asset(&mut self.rng, false) else {
            return self.list();
        };
        let body = match self.rng.gen_range(0..3) {
            0 => json!({ "notes": self.names.sentence(&mut self.rng, 3, 12) }),
            1 => json!({ "alt": self.names.sentence(&mut self.rng, 2, 8) }),
            _ => json!({
                "notes": self.names.sentence(&mut self.rng, 3, 12),
                "alt": self.names.sentence(&mut self.rng, 2, 8),
                "credits": "Soak test",
            }),
        };
        self.patch(label::PATCH_TEXT, &asset, &body, &[]);
    }

    fn patch_tags(&mut self) {
        let Some(asset) = self.pool.random_asset(&mut self.rng, false) else {
            return self.list();
        };
        let count = self.rng.gen_range(0..=3);
        let tags = self.pool.random_tags(&mut self.rng, count);
        self.patch(label::PATCH_TAGS, &asset, &json!({ "tags": tags }), &tags);
    }

    /// Sends a PATCH; a 404 after the asset was deleted, or a 400 after one of `tags` was deleted, is a race.
    fn patch(&mut self, label: &'static str, asset: &Asset, body: &Value, tags: &[String]) {
        let path = format!("/assets/{}", asset.id);
        let body = serde_json::to_vec(body).expect("a JSON value serializes");
        let pool = self.pool;
        self.exchange(
            label,
            "PATCH",
            &path,
            Some("application/json"),
            &body,
            200,
            |status| {
                (status == 404 && !pool.has_asset(&asset.id))
                    || (status == 400 && tags.iter().any(|tag| !pool.has_tag(tag)))
            },
        );
    }

    fn change_tag_assignment(&mut self, assign: bool) {
        let Some(tag) = self.pool.random_tags(&mut self.rng, 1).pop() else {
            self.create_tag();
            return;
        };
        let count = self.rng.gen_range(1..=5);
        let assets = self.pool.random_assets(&mut self.rng, count);
        if assets.is_empty() {
            return self.list();
        }
        let ids: Vec<&str> = assets.iter().map(|asset| asset.id.as_str()).collect();
        let body =
            serde_json::to_vec(&json!({ "assetIds": ids })).expect("a JSON value serializes");
        let (label, method) = if assign {
            (label::ASSIGN, "POST")
        } else {
            (label::UNASSIGN, "DELETE")
        };
        let path = format!("/tags/{tag}/assets");
        let pool = self.pool;
        self.exchange(
            label,
            method,
            &path,
            Some("application/json"),
            &body,
            204,
            |status| {
                status == 404 && (!pool.has_tag(&tag) || ids.iter().any(|id| !pool.has_asset(id)))
            },
        );
    }

    /// Creates a tag and adds it to the pool; returns `None` when the request failed.
    fn create_tag(&mut self) -> Option<()> {
        let name = format!("{} {}", self.pool.run_prefix, self.pool.next_number());
        let body = serde_json::to_vec(&json!({ "name": name })).expect("a JSON value serializes");
        let (_, tag) = self.exchange(
            label::CREATE_TAG,
            "POST",
            "/tags",
            Some("application/json"),
            &body,
            201,
            |_| false,
        )?;
        let Some(id) = tag["id"].as_str() else {
            self.recorder
                .unexpected_body(label::CREATE_TAG, "the created tag has no id");
            return None;
        };
        self.pool.state.lock().unwrap().tags.push(id.to_owned());
        Some(())
    }

    fn delete_tag(&mut self) {
        let Some(tag) = self.pool.take_tag(&mut self.rng) else {
            return;
        };
        let path = format!("/tags/{tag}");
        self.exchange(label::DELETE_TAG, "DELETE", &path, None, &[], 204, |_| {
            false
        });
    }

    fn delete(&mut self) {
        let Some(asset) = self.pool.take_assets(&mut self.rng, 1).pop() else {
            return;
        };
        let path = format!("/assets/{}", asset.id);
        self.exchange(label::DELETE, "DELETE", &path, None, &[], 204, |_| false);
    }

    fn bulk_delete(&mut self) {
        let count = self.rng.gen_range(2..=10);
        let assets = self.pool.take_assets(&mut self.rng, count);
        if assets.is_empty() {
            return;
        }
        let ids: Vec<&str> = assets.iter().map(|asset| asset.id.as_str()).collect();
        let body = serde_json::to_vec(&json!({ "ids": ids })).expect("a JSON value serializes");
        self.exchange(
            label::BULK_DELETE,
            "POST",
            "/assets/bulk-delete",
            Some("application/json"),
            &body,
            204,
            |_| false,
        );
    }

    /// Sends one request, times it from the write of the request to the last byte of the response, and records the
    /// outcome under `label`. Returns the status and the JSON body (`Null` when the body is empty or not JSON) when
    /// the status is `expected`. `is_race(status)` returns whether another status is explained by a concurrent delete
    /// of this run.
    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &mut self,
        label: &'static str,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        expected: u16,
        is_race: impl FnOnce(u16) -> bool,
    ) -> Reply {
        let started = Instant::now();
        let result = self.connection.send(method, path, content_type, body);
        let duration = started.elapsed();
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                self.recorder.record(
                    label,
                    duration,
                    Outcome::Transport,
                    Some(format!("{method} {path}: {error:#}")),
                );
                // A server that is gone refuses connections at once; do not spin on it.
                std::thread::sleep(Duration::from_millis(100));
                return None;
            }
        };

        let status = response.status;
        let outcome = if status == expected {
            Outcome::Expected
        } else if status >= 500 {
            Outcome::ServerError
        } else if is_race(status) {
            Outcome::Race
        } else {
            Outcome::Unexpected
        };
        let detail = match outcome {
            Outcome::ServerError | Outcome::Unexpected => Some(format!(
                "{method} {path} returned {status}, expected {expected}: {}",
                String::from_utf8_lossy(&response.body[..response.body.len().min(300)])
            )),
            _ => None,
        };
        self.recorder.record(label, duration, outcome, detail);
        if status != expected {
            return None;
        }
        let value = if path.starts_with("/files/") {
            Value::Null
        } else {
            serde_json::from_slice(&response.body).unwrap_or(Value::Null)
        };
        Some((status, value))
    }
}

/// Returns the path of a file URL without its query, such as `/files/demo/{id}_{name}`.
fn file_path(url: &str) -> Option<String> {
    let start = url.find("/files/")?;
    let path = &url[start..];
    Some(path.split('?').next().unwrap_or(path).to_owned())
}
