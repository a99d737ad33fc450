//! The `files` origin: a local directory served the way an S3 bucket origin serves objects.
//!
//! The URL path is the object key (percent-decoded, as S3 decodes keys). Keys never resolve
//! outside the root: `.` and `..` segments, NUL bytes and symlinks that lead out are all
//! answered like a missing key (404), and directories are never listed.

use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use percent_encoding::percent_decode_str;
use pingora::http::{RequestHeader, ResponseHeader};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::config::FilesOrigin;

/// A directory served as a bucket.
#[derive(Debug)]
pub struct FilesBucket {
    root: PathBuf,
    index: Option<String>,
}

/// A response the node produces itself rather than an upstream: a `files` object, a hook's
/// generated response, a function target's result. The header and, unless the response has no
/// body, the bytes or which bytes of which file.
pub struct LocalResponse {
    /// Status and headers, `Content-Length` included.
    pub header: ResponseHeader,
    /// The body.
    pub body: LocalBody,
}

/// The body of a [`LocalResponse`].
pub enum LocalBody {
    /// No body (HEAD, 304).
    Empty,
    /// A short generated body (errors).
    Bytes(bytes::Bytes),
    /// `len` bytes of an open file from `start`.
    File {
        /// The object.
        file: tokio::fs::File,
        /// First byte offset.
        start: u64,
        /// Number of bytes.
        len: u64,
    },
}

impl LocalBody {
    /// Sends the body in chunks through `send`, so large objects are never held in memory.
    pub async fn stream<F, Fut>(self, mut send: F) -> std::io::Result<()>
    where
        F: FnMut(bytes::Bytes) -> Fut,
        Fut: std::future::Future<Output = std::io::Result<()>>,
    {
        match self {
            LocalBody::Empty => Ok(()),
            LocalBody::Bytes(b) => send(b).await,
            LocalBody::File {
                mut file,
                start,
                len,
            } => {
                file.seek(std::io::SeekFrom::Start(start)).await?;
                let mut left = len;
                while left > 0 {
                    let mut buf = bytes::BytesMut::with_capacity(left.min(64 * 1024) as usize);
                    let n = (&mut file)
                        .take(left.min(64 * 1024))
                        .read_buf(&mut buf)
                        .await?;
                    if n == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "object shrank while being sent",
                        ));
                    }
                    left -= n as u64;
                    send(buf.freeze()).await?;
                }
                Ok(())
            }
        }
    }
}

impl FilesBucket {
    /// A bucket over the configured directory. The root is canonicalized once so that every
    /// served path can be checked against it.
    pub fn new(config: &FilesOrigin) -> std::io::Result<Self> {
        Ok(FilesBucket {
            root: config.root.canonicalize()?,
            index: config.index.clone(),
        })
    }

    /// Answers one request.
    pub async fn respond(&self, req: &RequestHeader) -> LocalResponse {
        if req.method != Method::GET && req.method != Method::HEAD {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");
            r.header
                .insert_header("Allow", "GET, HEAD")
                .expect("valid header");
            return r;
        }
        let Some(path) = self.resolve(req.uri.path()).await else {
            return error(StatusCode::NOT_FOUND, "NoSuchKey");
        };
        let Ok(file) = tokio::fs::File::open(&path).await else {
            return error(StatusCode::NOT_FOUND, "NoSuchKey");
        };
        let Ok(meta) = file.metadata().await else {
            return error(StatusCode::NOT_FOUND, "NoSuchKey");
        };
        let size = meta.len();
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        let validators = Validators::new(size, modified);
        let head = req.method == Method::HEAD;

        match validators.precondition(req) {
            Precondition::Failed => {
                return error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed")
            }
            Precondition::NotModified => {
                let mut h =
                    ResponseHeader::build(StatusCode::NOT_MODIFIED, Some(4)).expect("valid");
                validators.apply(&mut h);
                return LocalResponse {
                    header: h,
                    body: LocalBody::Empty,
                };
            }
            Precondition::Proceed => {}
        }

        let content_type = mime_guess::from_path(&path)
            .first_raw()
            .unwrap_or("application/octet-stream");
        let range = match requested_range(req, &validators, size) {
            RangeRequest::Unsatisfiable => {
                let mut r = error(StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange");
                r.header
                    .insert_header("Content-Range", format!("bytes */{size}"))
                    .expect("valid header");
                return r;
            }
            RangeRequest::Satisfiable(start, end) => Some((start, end)),
            RangeRequest::Whole => None,
        };
        let (status, start, len) = match range {
            Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
            None => (StatusCode::OK, 0, size),
        };
        let mut h = ResponseHeader::build(status, Some(8)).expect("valid status");
        h.insert_header("Content-Type", content_type)
            .expect("valid header");
        h.insert_header("Content-Length", len.to_string())
            .expect("valid header");
        h.insert_header("Accept-Ranges", "bytes")
            .expect("valid header");
        if let Some((s, e)) = range {
            h.insert_header("Content-Range", format!("bytes {s}-{e}/{size}"))
                .expect("valid header");
        }
        validators.apply(&mut h);
        let body = if head || len == 0 {
            LocalBody::Empty
        } else {
            LocalBody::File { file, start, len }
        };
        LocalResponse { header: h, body }
    }

    /// Maps a URL path to a file inside the root, or `None` when there is no such object.
    async fn resolve(&self, url_path: &str) -> Option<PathBuf> {
        let decoded = percent_decode_str(url_path).decode_utf8().ok()?;
        if decoded.contains('\0') || decoded.contains('\\') {
            return None;
        }
        let mut key = decoded.trim_start_matches('/').to_string();
        if key.is_empty() || key.ends_with('/') {
            key.push_str(self.index.as_deref()?);
        }
        let relative = Path::new(&key);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return None;
        }
        let candidate = self.root.join(relative);
        // Symlinks are followed only while they stay inside the root.
        let real = tokio::fs::canonicalize(&candidate).await.ok()?;
        if !real.starts_with(&self.root) {
            return None;
        }
        let meta = tokio::fs::metadata(&real).await.ok()?;
        meta.is_file().then_some(real)
    }
}

/// An S3-style XML error document.
fn error(status: StatusCode, code: &str) -> LocalResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message></Error>\n",
        status.canonical_reason().unwrap_or("")
    );
    let mut h = ResponseHeader::build(status, Some(3)).expect("valid status");
    h.insert_header("Content-Type", "application/xml")
        .expect("valid header");
    h.insert_header("Content-Length", body.len().to_string())
        .expect("valid header");
    LocalResponse {
        header: h,
        body: LocalBody::Bytes(body.into()),
    }
}

/// ETag and Last-Modified of one object.
struct Validators {
    etag: String,
    modified: SystemTime,
}

enum Precondition {
    Proceed,
    NotModified,
    Failed,
}

enum RangeRequest {
    Whole,
    Satisfiable(u64, u64),
    Unsatisfiable,
}

impl Validators {
    /// A strong ETag from size and modification time (as nginx does); it changes whenever the
    /// object is rewritten, without reading the object.
    fn new(size: u64, modified: SystemTime) -> Self {
        let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        Validators {
            etag: format!(
                "\"{:x}-{:x}-{size:x}\"",
                since.as_secs(),
                since.subsec_nanos()
            ),
            // HTTP dates have one-second resolution; compare at that resolution.
            modified: UNIX_EPOCH + std::time::Duration::from_secs(since.as_secs()),
        }
    }

    fn apply(&self, h: &mut ResponseHeader) {
        h.insert_header("ETag", &self.etag).expect("valid header");
        h.insert_header("Last-Modified", httpdate::fmt_http_date(self.modified))
            .expect("valid header");
    }

    fn etag_in(&self, list: &str) -> bool {
        list.split(',').map(str::trim).any(|t| {
            t == "*" || t == self.etag || t.strip_prefix("W/").is_some_and(|w| w == self.etag)
        })
    }

    /// RFC 9110 §13.2.2 evaluation order.
    fn precondition(&self, req: &RequestHeader) -> Precondition {
        let header = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
        if let Some(im) = header("if-match") {
            if !self.etag_in(im) {
                return Precondition::Failed;
            }
        } else if let Some(ius) =
            header("if-unmodified-since").and_then(|d| httpdate::parse_http_date(d).ok())
        {
            if self.modified > ius {
                return Precondition::Failed;
            }
        }
        if let Some(inm) = header("if-none-match") {
            if self.etag_in(inm) {
                return Precondition::NotModified;
            }
        } else if let Some(ims) =
            header("if-modified-since").and_then(|d| httpdate::parse_http_date(d).ok())
        {
            if self.modified <= ims {
                return Precondition::NotModified;
            }
        }
        Precondition::Proceed
    }
}

/// A single `bytes=` range (RFC 9110 §14); multiple ranges are answered with the whole object,
/// which the RFC allows.
fn requested_range(req: &RequestHeader, v: &Validators, size: u64) -> RangeRequest {
    let Some(range) = req.headers.get("range").and_then(|r| r.to_str().ok()) else {
        return RangeRequest::Whole;
    };
    if let Some(if_range) = req.headers.get("if-range").and_then(|r| r.to_str().ok()) {
        let fresh = if if_range.starts_with('"') {
            if_range == v.etag
        } else {
            httpdate::parse_http_date(if_range).is_ok_and(|d| d == v.modified)
        };
        if !fresh {
            return RangeRequest::Whole;
        }
    }
    let Some(spec) = range.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.is_empty(), last.is_empty()) {
        (false, _) => {
            let Ok(start) = first.parse::<u64>() else {
                return RangeRequest::Whole;
            };
            let end = if last.is_empty() {
                Some(u64::MAX)
            } else {
                last.parse::<u64>().ok()
            };
            match end {
                Some(end) if end >= start => Some((start, end)),
                _ => return RangeRequest::Whole,
            }
        }
        (true, false) => {
            let Ok(suffix) = last.parse::<u64>() else {
                return RangeRequest::Whole;
            };
            if suffix == 0 {
                None
            } else {
                Some((size.saturating_sub(suffix), u64::MAX))
            }
        }
        (true, true) => return RangeRequest::Whole,
    };
    match parsed {
        Some((start, end)) if start < size => RangeRequest::Satisfiable(start, end.min(size - 1)),
        _ => RangeRequest::Unsatisfiable,
    }
}
