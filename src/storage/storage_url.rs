//! The `--storage-url` option: where file bytes are stored.
//!
//! - `file:///absolute/path`: a directory of the local file system.
//! - `s3://BUCKET[/PREFIX]?endpoint=URL&region=NAME`: an S3 bucket, optionally under a key prefix. Without
//!   `endpoint` the bucket is on AWS. Credentials come from the usual `AWS_*` environment variables.

use std::fmt;
use std::path::PathBuf;

use url::Url;

/// A parsed `--storage-url`.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// A directory of the local file system.
    File(PathBuf),
    S3(S3Location),
}

/// A bucket and key prefix of an S3-compatible service.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Key prefix without leading or trailing slashes; empty for the whole bucket.
    pub prefix: String,
    /// Base URL of the service, such as `http://127.0.0.1:9000`; `None` means AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

const EXAMPLES: &str =
    "use file:///absolute/path or s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1";

impl StorageUrl {
    /// Parses a storage URL. The error is one line that names the problem and shows the accepted forms.
    pub fn parse(text: &str) -> Result<StorageUrl, String> {
        let url = Url::parse(text.trim()).map_err(|error| format!("{error}; {EXAMPLES}"))?;
        match url.scheme() {
            "file" => parse_file(&url),
            "s3" => parse_s3(&url, text.trim()).map(StorageUrl::S3),
            other => Err(format!("unsupported scheme {other:?}; {EXAMPLES}")),
        }
    }
}

fn parse_file(url: &Url) -> Result<StorageUrl, String> {
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("a file URL takes no query or fragment; {EXAMPLES}"));
    }
    if !matches!(url.host_str(), None | Some("") | Some("localhost")) {
        return Err(format!(
            "a file URL names a local directory, not a host; {EXAMPLES}"
        ));
    }
    let path = url
        .to_file_path()
        .map_err(|()| format!("the file URL has no absolute path; {EXAMPLES}"))?;
    Ok(StorageUrl::File(path))
}

fn parse_s3(url: &Url, text: &str) -> Result<S3Location, String> {
    let bucket = url.host_str().unwrap_or_default().to_owned();
    if bucket.is_empty() {
        return Err(format!("the S3 URL has no bucket name; {EXAMPLES}"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
        return Err(format!(
            "put credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and the service address in the endpoint \
             parameter, not in the S3 URL; {EXAMPLES}"
        ));
    }
    if url.fragment().is_some() {
        return Err(format!("an S3 URL takes no fragment; {EXAMPLES}"));
    }
    let prefix = parse_prefix(text)?;
    let mut endpoint = None;
    let mut region = None;
    for (name, value) in url.query_pairs() {
        let slot = match name.as_ref() {
            "endpoint" => &mut endpoint,
            "region" => &mut region,
            other => {
                return Err(format!(
                    "unknown S3 URL parameter {other:?}; the parameters are endpoint and region"
                ))
            }
        };
        if slot.is_some() {
            return Err(format!("the S3 URL parameter {name:?} is given twice"));
        }
        if value.is_empty() {
            return Err(format!("the S3 URL parameter {name:?} is empty"));
        }
        *slot = Some(value.into_owned());
    }
    if let Some(endpoint) = &endpoint {
        check_endpoint(endpoint)?;
    }
    Ok(S3Location {
        bucket,
        prefix,
        endpoint: endpoint.map(|endpoint| endpoint.trim_end_matches('/').to_owned()),
        region,
    })
}

/// Returns the key prefix of an S3 URL, read from the text because URL parsing would resolve `.` and `..`.
fn parse_prefix(text: &str) -> Result<String, String> {
    let after_scheme = text.split_once("://").map_or("", |(_, rest)| rest);
    let path = after_scheme.split(['?', '#']).next().unwrap_or_default();
    let prefix = path.split_once('/').map_or("", |(_, prefix)| prefix);
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    if prefix.is_empty() {
        return Ok(String::new());
    }
    let valid_character =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '/');
    let invalid_segment = |segment: &str| segment.is_empty() || segment == "." || segment == "..";
    if !prefix.chars().all(valid_character) || prefix.split('/').any(invalid_segment) {
        return Err(format!(
            "invalid key prefix {prefix:?}: use segments of letters, digits, `-`, `_`, `.` and `~` separated by \
             single slashes, other than `.` and `..`"
        ));
    }
    Ok(prefix.to_owned())
}

fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let invalid = || {
        format!(
            "invalid endpoint {endpoint:?}: use the service's base URL, such as http://127.0.0.1:9000, \
             percent-encoded in the S3 URL if it has a query"
        )
    };
    let url = Url::parse(endpoint).map_err(|_| invalid())?;
    let path_is_empty = url.path().is_empty() || url.path() == "/";
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none_or(str::is_empty)
        || !path_is_empty
        || url.query().is_some()
    {
        return Err(invalid());
    }
    Ok(())
}

impl S3Location {
    /// Whether the endpoint is plain HTTP, which the S3 client rejects unless configured to allow it.
    pub fn is_plain_http(&self) -> bool {
        self.endpoint
            .as_deref()
            .is_some_and(|endpoint| endpoint.starts_with("http://"))
    }
}

impl fmt::Display for StorageUrl {
    /// Shows the URL in logs and errors; it never contains credentials.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageUrl::File(path) => write!(formatter, "file://{}", path.display()),
            StorageUrl::S3(location) => {
                write!(formatter, "s3://{}", location.bucket)?;
                if !location.prefix.is_empty() {
                    write!(formatter, "/{}", location.prefix)?;
                }
                match &location.endpoint {
                    Some(endpoint) => write!(formatter, " at {endpoint}"),
                    None => write!(formatter, " on AWS"),
                }
            }
        }
    }
}

impl fmt::Debug for StorageUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(text: &str) -> S3Location {
        match StorageUrl::parse(text) {
            Ok(StorageUrl::S3(location)) => location,
            other => panic!("{text} should parse as S3, got {other:?}"),
        }
    }

    #[test]
    fn parses_file_urls() {
        assert_eq!(
            StorageUrl::parse("file:///var/lib/medialib/files"),
            Ok(StorageUrl::File(PathBuf::from("/var/lib/medialib/files")))
        );
        assert_eq!(
            StorageUrl::parse("file://localhost/srv/files"),
            Ok(StorageUrl::File(PathBuf::from("/srv/files")))
        );
    }

    #[test]
    fn parses_s3_urls() {
        let location = s3("s3://media?endpoint=http://127.0.0.1:9000&region=eu-west-3");
        assert_eq!(location.bucket, "media");
        assert_eq!(location.prefix, "");
        assert_eq!(location.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(location.region.as_deref(), Some("eu-west-3"));
        assert!(location.is_plain_http());

        let location = s3("s3://media/tests/run-1/?endpoint=https%3A%2F%2Fs3.example.test%2F");
        assert_eq!(location.prefix, "tests/run-1");
        assert_eq!(
            location.endpoint.as_deref(),
            Some("https://s3.example.test")
        );
        assert!(!location.is_plain_http());

        let location = s3("s3://media");
        assert_eq!(location.endpoint, None);
        assert_eq!(location.region, None);
    }

    #[test]
    fn rejects_invalid_urls() {
        for text in [
            "",
            "/var/lib/files",
            "files",
            "ftp://host/files",
            "file://remote-host/files",
            "file:///files?x=1",
            "s3://",
            "s3:///prefix",
            "s3://bucket?endpoint=",
            "s3://bucket?endpoint=127.0.0.1:9000",
            "s3://bucket?endpoint=ftp://127.0.0.1",
            "s3://bucket?endpoint=http://127.0.0.1:9000/path",
            "s3://bucket?endpoint=http://a&endpoint=http://b",
            "s3://bucket?region=eu-west-3&regoin=x",
            "s3://key:secret@bucket",
            "s3://bucket:9000",
            "s3://bucket/a//b",
            "s3://bucket/a/../b",
            "s3://bucket/./b",
            "s3://bucket/a%2Fb",
            "s3://bucket/a b",
        ] {
            let error = StorageUrl::parse(text).expect_err(text);
            assert!(
                !error.contains('\n'),
                "{text}: the message should be one line: {error}"
            );
        }
    }
}
