//! The tables that `medialib copy` copies, read page by page in id order, and the merge of a source table with the
//! same table of the target.

use std::collections::VecDeque;
use std::fmt::Debug;

use async_trait::async_trait;

use crate::db::copy::{CopiedAsset, CopiedRepository, CopiedTag, CopiedToken, CopiedUser};
use crate::db::{Database, DbResult};

/// A table that a copy reads in pages, in ascending order of `Key`, and inserts into.
#[async_trait]
pub trait Table: Send + Sync + 'static {
    type Row: Clone + PartialEq + Debug + Send + Sync;
    type Key: Ord + Clone + Debug + Send + Sync;

    /// Plural name of the rows, for messages and the summary.
    const NAME: &'static str;
    /// Rows per read.
    const PAGE_ROWS: u32;

    fn key(row: &Self::Row) -> Self::Key;
    /// Names a row in messages, such as `repository 3 "acme"`.
    fn describe(row: &Self::Row) -> String;
    async fn read(
        database: &dyn Database,
        after: Option<&Self::Key>,
        limit: u32,
    ) -> DbResult<Vec<Self::Row>>;
    async fn insert(database: &dyn Database, rows: &[Self::Row]) -> DbResult<u64>;
}

pub struct Repositories;
pub struct Users;
pub struct Tags;
pub struct Tokens;
pub struct Assets;

#[async_trait]
impl Table for Repositories {
    type Row = CopiedRepository;
    type Key = i64;
    const NAME: &'static str = "repositories";
    const PAGE_ROWS: u32 = 500;

    fn key(row: &CopiedRepository) -> i64 {
        row.id
    }

    fn describe(row: &CopiedRepository) -> String {
        format!("repository {} {:?}", row.id, row.name)
    }

    async fn read(
        database: &dyn Database,
        after: Option<&i64>,
        limit: u32,
    ) -> DbResult<Vec<CopiedRepository>> {
        database.copy_repositories(after.copied(), limit).await
    }

    async fn insert(database: &dyn Database, rows: &[CopiedRepository]) -> DbResult<u64> {
        database.insert_copied_repositories(rows).await
    }
}

#[async_trait]
impl Table for Users {
    type Row = CopiedUser;
    type Key = String;
    const NAME: &'static str = "users";
    const PAGE_ROWS: u32 = 500;

    fn key(row: &CopiedUser) -> String {
        row.id.clone()
    }

    fn describe(row: &CopiedUser) -> String {
        format!("user {} ({})", row.id, row.email)
    }

    async fn read(
        database: &dyn Database,
        after: Option<&String>,
        limit: u32,
    ) -> DbResult<Vec<CopiedUser>> {
        database.copy_users(after.map(String::as_str), limit).await
    }

    async fn insert(database: &dyn Database, rows: &[CopiedUser]) -> DbResult<u64> {
        database.insert_copied_users(rows).await
    }
}

#[async_trait]
impl Table for Tags {
    type Row = CopiedTag;
    type Key = String;
    const NAME: &'static str = "tags";
    const PAGE_ROWS: u32 = 500;

    fn key(row: &CopiedTag) -> String {
        row.id.clone()
    }

    fn describe(row: &CopiedTag) -> String {
        format!("tag {} {:?}", row.id, row.name)
    }

    async fn read(
        database: &dyn Database,
        after: Option<&String>,
        limit: u32,
    ) -> DbResult<Vec<CopiedTag>> {
        database.copy_tags(after.map(String::as_str), limit).await
    }

    async fn insert(database: &dyn Database, rows: &[CopiedTag]) -> DbResult<u64> {
        database.insert_copied_tags(rows).await
    }
}

#[async_trait]
impl Table for Tokens {
    type Row = CopiedToken;
    type Key = String;
    const NAME: &'static str = "tokens";
    const PAGE_ROWS: u32 = 500;

    fn key(row: &CopiedToken) -> String {
        row.id.clone()
    }

    fn describe(row: &CopiedToken) -> String {
        format!("token {}", row.id)
    }

    async fn read(
        database: &dyn Database,
        after: Option<&String>,
        limit: u32,
    ) -> DbResult<Vec<CopiedToken>> {
        database.copy_tokens(after.map(String::as_str), limit).await
    }

    async fn insert(database: &dyn Database, rows: &[CopiedToken]) -> DbResult<u64> {
        database.insert_copied_tokens(rows).await
    }
}

#[async_trait]
impl Table for Assets {
    type Row = CopiedAsset;
    type Key = String;
    const NAME: &'static str = "assets";
    const PAGE_ROWS: u32 = 200;

    fn key(row: &CopiedAsset) -> String {
        row.id.clone()
    }

    fn describe(row: &CopiedAsset) -> String {
        format!("asset {} {:?}", row.id, row.filename)
    }

    async fn read(
        database: &dyn Database,
        after: Option<&String>,
        limit: u32,
    ) -> DbResult<Vec<CopiedAsset>> {
        database.copy_assets(after.map(String::as_str), limit).await
    }

    async fn insert(database: &dyn Database, rows: &[CopiedAsset]) -> DbResult<u64> {
        database.insert_copied_assets(rows).await
    }
}

/// The rows of one table of one database, read a page at a time.
struct Rows<'a, T: Table> {
    database: &'a dyn Database,
    after: Option<T::Key>,
    buffer: VecDeque<T::Row>,
    exhausted: bool,
}

impl<'a, T: Table> Rows<'a, T> {
    fn new(database: &'a dyn Database) -> Self {
        Self {
            database,
            after: None,
            buffer: VecDeque::new(),
            exhausted: false,
        }
    }

    /// Reads the next page when the buffer is empty.
    async fn fill(&mut self) -> DbResult<()> {
        if !self.buffer.is_empty() || self.exhausted {
            return Ok(());
        }
        let page = T::read(self.database, self.after.as_ref(), T::PAGE_ROWS).await?;
        self.exhausted = page.len() < T::PAGE_ROWS as usize;
        if let Some(last) = page.last() {
            self.after = Some(T::key(last));
        }
        self.buffer.extend(page);
        Ok(())
    }
}

/// A row of the merge: present in the source only, in the target only, or in both with the same key.
#[derive(Debug)]
pub enum Pair<R> {
    SourceOnly(R),
    TargetOnly(R),
    Both { source: R, target: R },
}

/// Walks a table of the source and of the target together, in key order.
pub struct Merge<'a, T: Table> {
    source: Rows<'a, T>,
    target: Rows<'a, T>,
}

impl<'a, T: Table> Merge<'a, T> {
    pub fn new(source: &'a dyn Database, target: &'a dyn Database) -> Self {
        Self {
            source: Rows::new(source),
            target: Rows::new(target),
        }
    }

    /// Returns the row with the next key, from either side or both; `None` after the last.
    pub async fn next(&mut self) -> DbResult<Option<Pair<T::Row>>> {
        self.source.fill().await?;
        self.target.fill().await?;
        let source_key = self.source.buffer.front().map(T::key);
        let target_key = self.target.buffer.front().map(T::key);
        let pair = match (source_key, target_key) {
            (None, None) => return Ok(None),
            (Some(_), None) => Pair::SourceOnly(self.pop_source()),
            (None, Some(_)) => Pair::TargetOnly(self.pop_target()),
            (Some(source), Some(target)) => match source.cmp(&target) {
                std::cmp::Ordering::Less => Pair::SourceOnly(self.pop_source()),
                std::cmp::Ordering::Greater => Pair::TargetOnly(self.pop_target()),
                std::cmp::Ordering::Equal => Pair::Both {
                    source: self.pop_source(),
                    target: self.pop_target(),
                },
            },
        };
        Ok(Some(pair))
    }

    fn pop_source(&mut self) -> T::Row {
        self.source
            .buffer
            .pop_front()
            .expect("a source row was buffered")
    }

    fn pop_target(&mut self) -> T::Row {
        self.target
            .buffer
            .pop_front()
            .expect("a target row was buffered")
    }
}
