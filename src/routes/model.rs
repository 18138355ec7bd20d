//! JSON shapes of API responses.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{AssetRecord, TagRecord, TagWithCount};

/// Every character outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A tag as it appears on an asset and in tag responses.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tag {
    /// UUID of the tag.
    pub id: String,
    pub name: String,
    /// Unix epoch milliseconds.
    pub created_at: i64,
    /// Unix epoch milliseconds.
    pub last_modified: i64,
}

impl From<TagRecord> for Tag {
    fn from(tag: TagRecord) -> Self {
        Self {
            id: tag.id,
            name: tag.name,
            created_at: tag.created_at,
            last_modified: tag.last_modified,
        }
    }
}

/// A tag with the number of assets that carry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagWithCountBody {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_modified: i64,
    /// Number of assets carrying the tag.
    pub count: i64,
}

impl From<TagWithCount> for TagWithCountBody {
    fn from(entry: TagWithCount) -> Self {
        Self {
            id: entry.tag.id,
            name: entry.tag.name,
            created_at: entry.tag.created_at,
            last_modified: entry.tag.last_modified,
            count: entry.count,
        }
    }
}

/// Kind of an asset.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    Image,
    Audio,
    Video,
    Document,
}

/// An asset of the media library.
#[derive(Debug, Serialize, ToSchema)]
pub struct Asset {
    pub id: String,
    /// Public URL of the file; images carry `?auto=format,compress`.
    pub url: String,
    pub filename: String,
    /// Lower-case text after the last dot of the filename, or "".
    pub extension: String,
    /// Size in bytes.
    pub size: i64,
    #[schema(value_type = AssetKind)]
    pub kind: String,
    /// Unix epoch milliseconds.
    pub created_at: i64,
    /// Unix epoch milliseconds.
    pub last_modified: i64,
    /// Tags ordered by name.
    pub tags: Vec<Tag>,
    /// `ghost` for uploads made with a permanent token, else the user's id.
    pub uploader_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

impl Asset {
    /// Builds the response for an asset of `repository`, with file URLs under `files_base_url`.
    pub fn from_record(record: AssetRecord, repository: &str, files_base_url: &str) -> Self {
        let url = file_url(
            files_base_url,
            repository,
            &record.id,
            &record.uploaded_filename,
            &record.kind,
        );
        Self {
            id: record.id,
            url,
            filename: record.filename,
            extension: record.extension,
            size: record.size,
            kind: record.kind,
            created_at: record.created_at,
            last_modified: record.last_modified,
            tags: record.tags.into_iter().map(Tag::from).collect(),
            uploader_id: record.uploader_id,
            width: record.width,
            height: record.height,
            notes: record.notes,
            credits: record.credits,
            alt: record.alt,
        }
    }
}

/// Returns the public URL of an asset's file.
pub fn file_url(
    files_base_url: &str,
    repository: &str,
    id: &str,
    uploaded_filename: &str,
    kind: &str,
) -> String {
    let name = utf8_percent_encode(uploaded_filename, NOT_UNRESERVED);
    let mut url = format!("{files_base_url}/files/{repository}/{id}_{name}");
    if kind == "image" {
        url.push_str("?auto=format,compress");
    }
    url
}

#[cfg(test)]
mod tests {
    use super::file_url;

    #[test]
    fn file_url_encodes_everything_but_unreserved() {
        let url = file_url("http://h", "demo", "abc", "a b/é~_.-(1).png", "image");
        assert_eq!(
            url,
            "http://h/files/demo/abc_a%20b%2F%C3%A9~_.-%281%29.png?auto=format,compress"
        );
    }

    #[test]
    fn file_url_of_documents_has_no_query() {
        assert_eq!(
            file_url("http://h", "demo", "abc", "a.pdf", "document"),
            "http://h/files/demo/abc_a.pdf"
        );
    }
}
