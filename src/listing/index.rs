//! The in-memory index of one repository's listing fields.
//!
//! Each asset is a document with a number. Documents `0..sorted_len` are in ascending (created_at, id) order, so the
//! newest matches of a filter are its highest numbers below the cursor. Documents appended out of that order (an
//! asset inserted with an older time) form a short unsorted tail, which every query also reads. Filters are roaring
//! bitmaps of document numbers: one per kind, uploader and tag, and one per byte trigram of the folded search keys,
//! kept apart for the filename and for the other fields. A keyword of 3 or more letters, digits and non-ASCII
//! characters is matched through the tokens of the keys (`tokens.rs`): bitmap unions give its exact matches in each
//! rank tier without reading any text. Any other keyword of 3 or more bytes intersects the bitmaps of its trigrams to
//! find candidates, and every candidate is then checked against the stored keys. Both give the exact substring match
//! that the database computes.

use std::collections::HashMap;
use std::sync::Arc;

use memchr::memmem::Finder;
use roaring::RoaringBitmap;

use super::tokens::Tokens;
use crate::db::{score, IndexedAsset, ListPosition, ListQuery};

type DocNo = u32;

/// Documents appended out of order before the index is rebuilt in order.
const MAX_UNSORTED: usize = 1024;
/// Candidates of a keyword search from which they are checked on two threads instead of one.
const PARALLEL_CANDIDATES: u64 = 16_384;
/// Deleted documents kept before the index is rebuilt without them, unless they are under a quarter of all.
const MAX_DEAD: usize = 4096;

/// One asset's listing fields, except its search keys.
struct Doc {
    id: Arc<str>,
    created_at: i64,
    kind: u32,
    uploader: u32,
    tags: Box<[u32]>,
    alive: bool,
}

impl Doc {
    fn key(&self) -> (i64, &str) {
        (self.created_at, &self.id)
    }
}

/// Position of a document's folded filename, alt, notes and credits in the text arena: one after the other from
/// `start`, field `i` ending at `start + ends[i]`. The arena keeps the texts in document order, so a search that
/// checks its candidates in ascending order reads memory sequentially.
#[derive(Clone, Copy, Default)]
struct Span {
    start: usize,
    ends: [u32; 4],
}

/// The folded search keys of every document.
#[derive(Default)]
struct Texts {
    arena: Vec<u8>,
    spans: Vec<Span>,
    /// Bytes of the arena that no document uses any more.
    unused: usize,
}

impl Texts {
    fn push(&mut self, fields: &[String; 4]) -> Span {
        let start = self.arena.len();
        let mut ends = [0u32; 4];
        for (end, field) in ends.iter_mut().zip(fields) {
            self.arena.extend_from_slice(field.as_bytes());
            *end = (self.arena.len() - start) as u32;
        }
        Span { start, ends }
    }

    fn field(&self, number: DocNo, index: usize) -> &[u8] {
        let span = &self.spans[number as usize];
        let from = if index == 0 {
            0
        } else {
            span.ends[index - 1] as usize
        };
        &self.arena[span.start + from..span.start + span.ends[index] as usize]
    }

    fn fields(&self, number: DocNo) -> [String; 4] {
        std::array::from_fn(|index| String::from_utf8_lossy(self.field(number, index)).into_owned())
    }

    /// Ranks a match of `keyword` as the database does; `None` when no field contains it.
    fn score(&self, number: DocNo, keyword: &[u8], finder: &Finder<'_>) -> Option<usize> {
        let filename = self.field(number, 0);
        if filename == keyword {
            return Some(score::FILENAME_EQUAL as usize);
        }
        if filename.starts_with(keyword) {
            return Some(score::FILENAME_PREFIX as usize);
        }
        if finder.find(filename).is_some() {
            return Some(score::FILENAME_CONTAINS as usize);
        }
        let span = &self.spans[number as usize];
        let others =
            &self.arena[span.start + span.ends[0] as usize..span.start + span.ends[3] as usize];
        // A match across two fields would be wrong, so the others are only checked one by one once the three
        // together contain the keyword.
        if finder.find(others).is_none() {
            return None;
        }
        (1..4)
            .any(|index| finder.find(self.field(number, index)).is_some())
            .then_some(score::OTHER_FIELD as usize)
    }
}

/// Bitmaps of documents by a string value (a kind, an uploader, a tag id), with the values numbered.
#[derive(Default)]
struct Postings {
    numbers: HashMap<Box<str>, u32>,
    sets: Vec<RoaringBitmap>,
}

impl Postings {
    fn number(&mut self, value: &str) -> u32 {
        if let Some(&number) = self.numbers.get(value) {
            return number;
        }
        let number = self.sets.len() as u32;
        self.numbers.insert(value.into(), number);
        self.sets.push(RoaringBitmap::new());
        number
    }

    fn get(&self, value: &str) -> Option<&RoaringBitmap> {
        self.numbers
            .get(value)
            .map(|&number| &self.sets[number as usize])
    }

    fn clear(&mut self) {
        self.sets.iter_mut().for_each(RoaringBitmap::clear);
    }
}

/// A page of matches, newest or best first, and how many match in all.
pub struct SearchResult {
    pub hits: Vec<ListPosition>,
    pub total: i64,
}

/// The listing index of one repository.
pub struct RepositoryIndex {
    /// Position in the database's change feed that this state includes.
    pub position: i64,
    docs: Vec<Doc>,
    texts: Texts,
    sorted_len: usize,
    by_id: HashMap<Arc<str>, DocNo>,
    alive: RoaringBitmap,
    dead: usize,
    kinds: Postings,
    uploaders: Postings,
    tags: Postings,
    filename_grams: HashMap<u32, RoaringBitmap>,
    other_grams: HashMap<u32, RoaringBitmap>,
    tokens: Tokens,
}

impl RepositoryIndex {
    /// Builds the index of a snapshot of the repository.
    pub fn build(position: i64, mut assets: Vec<IndexedAsset>) -> Self {
        assets.sort_unstable_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut index = Self {
            position,
            docs: Vec::with_capacity(assets.len()),
            texts: Texts::default(),
            sorted_len: 0,
            by_id: HashMap::with_capacity(assets.len()),
            alive: RoaringBitmap::new(),
            dead: 0,
            kinds: Postings::default(),
            uploaders: Postings::default(),
            tags: Postings::default(),
            filename_grams: HashMap::new(),
            other_grams: HashMap::new(),
            tokens: Tokens::default(),
        };
        for asset in assets {
            index.insert(asset);
        }
        index
    }

    /// Number of assets in the index.
    pub fn len(&self) -> u64 {
        self.alive.len()
    }

    /// Applies the current state of changed assets. `current` contains those that still exist, and the other ids of
    /// `changed` were deleted.
    pub fn apply(&mut self, position: i64, changed: &[String], current: Vec<IndexedAsset>) {
        let mut current: HashMap<String, IndexedAsset> = current
            .into_iter()
            .map(|asset| (asset.id.clone(), asset))
            .collect();
        for id in changed {
            let existing = self.by_id.get(id.as_str()).copied();
            match (existing, current.remove(id)) {
                (Some(number), Some(asset))
                    if self.docs[number as usize].created_at == asset.created_at =>
                {
                    self.replace(number, asset)
                }
                (Some(number), asset) => {
                    self.remove(number);
                    if let Some(asset) = asset {
                        self.insert(asset);
                    }
                }
                (None, Some(asset)) => {
                    self.insert(asset);
                }
                (None, None) => {}
            }
        }
        self.position = self.position.max(position);

        let unsorted = self.docs.len() - self.sorted_len;
        let wasted = self.texts.unused > self.texts.arena.len() / 2 && self.texts.unused > 1 << 20;
        if unsorted > MAX_UNSORTED
            || (self.dead > MAX_DEAD && self.dead * 4 > self.docs.len())
            || wasted
        {
            self.rebuild();
        }
    }

    /// Finds the page and the total of a query whose `ids` filter is empty.
    pub fn search(&self, query: &ListQuery) -> SearchResult {
        let set = self.filtered(query);
        let limit = query.limit as usize;
        let after = query.after.as_ref();

        let Some(keyword) = query.keyword.as_deref() else {
            let numbers = self.newest(
                set.range(..self.cursor_bound(after)).rev(),
                set.range(self.sorted_len as u32..),
                after,
                limit,
            );
            return SearchResult {
                hits: numbers
                    .into_iter()
                    .map(|number| self.position_of(number, None))
                    .collect(),
                total: set.len() as i64,
            };
        };

        let keyword = keyword.as_bytes();
        let tiers = match self.tokens.tiers(keyword) {
            Some(mut tiers) => {
                tiers.iter_mut().for_each(|tier| *tier &= &set);
                tiers
            }
            None => self.score_candidates(keyword, set),
        };
        let total = tiers.iter().map(RoaringBitmap::len).sum::<u64>() as i64;

        let mut hits = Vec::with_capacity(limit.min(total as usize));
        let first_tier = after.and_then(|after| after.score).unwrap_or(0).clamp(0, 3) as usize;
        for (score, tier) in tiers.iter().enumerate().skip(first_tier) {
            if hits.len() == limit {
                break;
            }
            let tier_after = after.filter(|_| score == first_tier);
            let numbers = self.newest(
                tier.range(..self.cursor_bound(tier_after)).rev(),
                tier.range(self.sorted_len as u32..),
                tier_after,
                limit - hits.len(),
            );
            hits.extend(
                numbers
                    .into_iter()
                    .map(|number| self.position_of(number, Some(score as i64))),
            );
        }
        SearchResult { hits, total }
    }

    /// Finds the matches, among the documents of `set`, of a keyword that the tokens cannot resolve. The candidates
    /// that have every trigram of the keyword (every document for a keyword of 1 or 2 bytes) are checked against the
    /// stored keys. Returns one bitmap per score.
    fn score_candidates(&self, keyword: &[u8], set: RoaringBitmap) -> [RoaringBitmap; 4] {
        let finder = Finder::new(keyword);
        let candidates = if keyword.len() >= 3 {
            let in_filename = intersect_grams(&self.filename_grams, keyword);
            let in_others = intersect_grams(&self.other_grams, keyword);
            (in_filename | in_others) & &set
        } else {
            set
        };
        self.score_all(&candidates, keyword, &finder).map(|tier| {
            RoaringBitmap::from_sorted_iter(tier).expect("each tier is in ascending order")
        })
    }

    /// Checks every candidate against the keyword and sorts the matches into tiers by score, each in ascending
    /// document order. A large candidate set is split in two halves checked on two threads.
    fn score_all(
        &self,
        candidates: &RoaringBitmap,
        keyword: &[u8],
        finder: &Finder<'_>,
    ) -> [Vec<DocNo>; 4] {
        let score_range = |range: std::ops::Range<u32>| {
            let mut tiers: [Vec<DocNo>; 4] = Default::default();
            for number in candidates.range(range) {
                if let Some(score) = self.texts.score(number, keyword, finder) {
                    tiers[score].push(number);
                }
            }
            tiers
        };
        if candidates.len() < PARALLEL_CANDIDATES {
            return score_range(0..u32::MAX);
        }
        let middle = candidates
            .select((candidates.len() / 2) as u32)
            .expect("the middle of a non-empty set");
        let (mut tiers, upper) = std::thread::scope(|scope| {
            let upper = scope.spawn(|| score_range(middle..u32::MAX));
            (score_range(0..middle), upper.join())
        });
        match upper {
            Ok(upper) => {
                for (tier, more) in tiers.iter_mut().zip(upper) {
                    tier.extend(more);
                }
            }
            Err(panic) => std::panic::resume_unwind(panic),
        }
        tiers
    }

    /// Returns the documents that pass the kind, uploader and tag filters.
    fn filtered(&self, query: &ListQuery) -> RoaringBitmap {
        let mut required = vec![&self.alive];
        let lookups = query
            .kind
            .iter()
            .map(|kind| self.kinds.get(kind))
            .chain(
                query
                    .uploader_id
                    .iter()
                    .map(|uploader| self.uploaders.get(uploader)),
            )
            .chain(query.tags.iter().map(|tag| self.tags.get(tag)));
        for lookup in lookups {
            match lookup {
                Some(set) => required.push(set),
                None => return RoaringBitmap::new(),
            }
        }
        intersect(required)
    }

    /// Returns the first document number of the sorted part whose key is not below the cursor: the sorted
    /// documents after the cursor are those below it.
    fn cursor_bound(&self, after: Option<&ListPosition>) -> DocNo {
        let sorted = &self.docs[..self.sorted_len];
        let bound = match after {
            None => sorted.len(),
            Some(after) => {
                sorted.partition_point(|doc| doc.key() < (after.created_at, after.id.as_str()))
            }
        };
        bound as DocNo
    }

    /// Merges the newest `limit` documents of the sorted part (given newest first, all after the cursor) and of the
    /// unsorted tail (in any order, filtered here).
    fn newest(
        &self,
        sorted: impl Iterator<Item = DocNo>,
        tail: impl Iterator<Item = DocNo>,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> Vec<DocNo> {
        let mut tail: Vec<DocNo> = tail
            .filter(|&number| {
                after.is_none_or(|after| {
                    self.docs[number as usize].key() < (after.created_at, after.id.as_str())
                })
            })
            .collect();
        tail.sort_unstable_by(|a, b| {
            self.docs[*b as usize]
                .key()
                .cmp(&self.docs[*a as usize].key())
        });

        let mut page = Vec::with_capacity(limit);
        let mut sorted = sorted.peekable();
        let mut tail = tail.into_iter().peekable();
        while page.len() < limit {
            let next = match (sorted.peek(), tail.peek()) {
                (Some(&s), Some(&t)) => {
                    if self.docs[s as usize].key() > self.docs[t as usize].key() {
                        sorted.next()
                    } else {
                        tail.next()
                    }
                }
                (Some(_), None) => sorted.next(),
                (None, Some(_)) => tail.next(),
                (None, None) => None,
            };
            match next {
                Some(number) => page.push(number),
                None => break,
            }
        }
        page
    }

    fn position_of(&self, number: DocNo, score: Option<i64>) -> ListPosition {
        let doc = &self.docs[number as usize];
        ListPosition {
            score,
            created_at: doc.created_at,
            id: doc.id.to_string(),
        }
    }

    fn insert(&mut self, asset: IndexedAsset) -> DocNo {
        let number = self.docs.len() as DocNo;
        let in_order = self.sorted_len == self.docs.len()
            && self
                .docs
                .last()
                .is_none_or(|last| last.key() < (asset.created_at, asset.id.as_str()));
        let span = self.texts.push(&asset.search);
        self.texts.spans.push(span);
        let doc = self.make_doc(asset);
        self.link(number, &doc);
        self.by_id.insert(doc.id.clone(), number);
        self.docs.push(doc);
        if in_order {
            self.sorted_len += 1;
        }
        number
    }

    fn replace(&mut self, number: DocNo, asset: IndexedAsset) {
        let old = std::mem::replace(&mut self.docs[number as usize], placeholder());
        self.unlink(number, &old);
        self.texts.unused += self.texts.spans[number as usize].ends[3] as usize;
        let span = self.texts.push(&asset.search);
        self.texts.spans[number as usize] = span;
        let doc = self.make_doc(asset);
        self.link(number, &doc);
        self.docs[number as usize] = doc;
    }

    fn remove(&mut self, number: DocNo) {
        let doc = std::mem::replace(&mut self.docs[number as usize], placeholder());
        self.unlink(number, &doc);
        self.by_id.remove(&doc.id);
        self.texts.unused += self.texts.spans[number as usize].ends[3] as usize;
        self.texts.spans[number as usize] = Span::default();
        // The document keeps its key, so the sorted part stays sorted for the cursor's binary search.
        self.docs[number as usize] = Doc {
            alive: false,
            tags: Box::new([]),
            ..doc
        };
        self.dead += 1;
    }

    fn make_doc(&mut self, asset: IndexedAsset) -> Doc {
        Doc {
            id: asset.id.into(),
            created_at: asset.created_at,
            kind: self.kinds.number(&asset.kind),
            uploader: self.uploaders.number(&asset.uploader_id),
            tags: asset
                .tag_ids
                .iter()
                .map(|tag| self.tags.number(tag))
                .collect(),
            alive: true,
        }
    }

    fn link(&mut self, number: DocNo, doc: &Doc) {
        self.alive.insert(number);
        self.kinds.sets[doc.kind as usize].insert(number);
        self.uploaders.sets[doc.uploader as usize].insert(number);
        for &tag in doc.tags.iter() {
            self.tags.sets[tag as usize].insert(number);
        }
        for_each_gram(self.texts.field(number, 0), |gram| {
            self.filename_grams.entry(gram).or_default().insert(number);
        });
        for field in 1..4 {
            for_each_gram(self.texts.field(number, field), |gram| {
                self.other_grams.entry(gram).or_default().insert(number);
            });
        }
        let fields = std::array::from_fn(|field| self.texts.field(number, field));
        self.tokens.add(number, fields);
    }

    fn unlink(&mut self, number: DocNo, doc: &Doc) {
        if !doc.alive {
            return;
        }
        self.alive.remove(number);
        self.kinds.sets[doc.kind as usize].remove(number);
        self.uploaders.sets[doc.uploader as usize].remove(number);
        for &tag in doc.tags.iter() {
            self.tags.sets[tag as usize].remove(number);
        }
        for_each_gram(self.texts.field(number, 0), |gram| {
            if let Some(set) = self.filename_grams.get_mut(&gram) {
                set.remove(number);
            }
        });
        for field in 1..4 {
            for_each_gram(self.texts.field(number, field), |gram| {
                if let Some(set) = self.other_grams.get_mut(&gram) {
                    set.remove(number);
                }
            });
        }
        let fields = std::array::from_fn(|field| self.texts.field(number, field));
        self.tokens.remove(number, fields);
    }

    /// Renumbers the living documents in key order, packs their texts and rebuilds every bitmap.
    fn rebuild(&mut self) {
        let old_texts = std::mem::take(&mut self.texts);
        let mut docs: Vec<(Doc, [String; 4])> = std::mem::take(&mut self.docs)
            .into_iter()
            .enumerate()
            .filter(|(_, doc)| doc.alive)
            .map(|(number, doc)| (doc, old_texts.fields(number as DocNo)))
            .collect();
        drop(old_texts);

        docs.sort_unstable_by(|a, b| a.0.key().cmp(&b.0.key()));
        let docs: Vec<Doc> = docs
            .into_iter()
            .map(|(doc, fields)| {
                let span = self.texts.push(&fields);
                self.texts.spans.push(span);
                doc
            })
            .collect();

        self.alive.clear();
        self.kinds.clear();
        self.uploaders.clear();
        self.tags.clear();
        self.filename_grams.clear();
        self.other_grams.clear();
        // A new vocabulary also drops the tokens that no living document has any more.
        self.tokens = Tokens::default();
        self.by_id.clear();
        self.dead = 0;

        for (number, doc) in docs.iter().enumerate() {
            self.link(number as DocNo, doc);
            self.by_id.insert(doc.id.clone(), number as DocNo);
        }
        self.sorted_len = docs.len();
        self.docs = docs;
    }
}

/// Returns an empty document to put in a slot while the real one is moved out of the vector.
fn placeholder() -> Doc {
    Doc {
        id: Arc::from(""),
        created_at: 0,
        kind: 0,
        uploader: 0,
        tags: Box::new([]),
        alive: false,
    }
}

/// Calls `f` with each byte trigram of `text`, as a number.
pub(super) fn for_each_gram(text: &[u8], mut f: impl FnMut(u32)) {
    for window in text.windows(3) {
        f(u32::from(window[0]) << 16 | u32::from(window[1]) << 8 | u32::from(window[2]));
    }
}

/// Returns the members of the sets (documents, or tokens) that contain every trigram of `keyword`.
pub(super) fn intersect_grams(
    grams: &HashMap<u32, RoaringBitmap>,
    keyword: &[u8],
) -> RoaringBitmap {
    let mut sets = Vec::new();
    let mut missing = false;
    for_each_gram(keyword, |gram| match grams.get(&gram) {
        Some(set) => sets.push(set),
        None => missing = true,
    });
    if missing {
        return RoaringBitmap::new();
    }
    intersect(sets)
}

/// Intersects bitmaps, smallest first.
fn intersect(mut sets: Vec<&RoaringBitmap>) -> RoaringBitmap {
    sets.sort_unstable_by_key(|set| set.len());
    let Some((first, others)) = sets.split_first() else {
        return RoaringBitmap::new();
    };
    let mut result = (*first).clone();
    for set in others {
        if result.is_empty() {
            break;
        }
        result &= *set;
    }
    result
}
