//! Configuration errors that point at the file, line and key a user has to fix.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// 1-based line, when the problem can be pinned to one.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `behaviors[1].origin`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Every problem found in a configuration file. Loading never stops at the first semantic
/// problem: a user fixing a file should see all of them at once.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The file the problems are in.
    pub file: PathBuf,
    /// The problems, in file order.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some(line) = issue.line {
                write!(f, ":{line}")?;
            }
            if issue.key.is_empty() {
                write!(f, ": {}", issue.message)?;
            } else {
                write!(f, ": {}: {}", issue.key, issue.message)?;
            }
        }
        Ok(())
    }
}

/// Collects issues while validating, turning byte spans into line numbers.
pub(crate) struct IssueSink<'a> {
    text: &'a str,
    issues: Vec<ConfigIssue>,
}

impl<'a> IssueSink<'a> {
    pub fn new(text: &'a str) -> Self {
        IssueSink {
            text,
            issues: Vec::new(),
        }
    }

    /// Records a problem at `span` (a byte range of the file) for `key`.
    pub fn at(
        &mut self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        msg: impl Into<String>,
    ) {
        let line = span.map(|s| line_of(self.text, s.start));
        self.issues.push(ConfigIssue {
            line,
            key: key.into(),
            message: msg.into(),
        });
    }

    /// Drops the problems recorded from `from` on that name one of `broken` in quotes: an item
    /// that did not read is reported once, not again by every check that looks for it.
    pub fn forget_mentions(&mut self, from: usize, broken: &[String]) {
        if broken.is_empty() {
            return;
        }
        let mut index = 0;
        self.issues.retain(|issue| {
            index += 1;
            index <= from
                || !broken
                    .iter()
                    .any(|name| issue.message.contains(&format!("\"{name}\"")))
        });
    }

    /// How many problems are recorded.
    pub fn len(&self) -> usize {
        self.issues.len()
    }

    pub fn finish(mut self, file: &Path) -> Result<(), ConfigError> {
        if self.issues.is_empty() {
            return Ok(());
        }
        self.issues.sort_by_key(|i| i.line.unwrap_or(usize::MAX));
        Err(ConfigError {
            file: file.to_path_buf(),
            issues: self.issues,
        })
    }
}

/// 1-based line number of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
