//! CloudFront-style path patterns: `*` matches any run of characters (slashes included),
//! `?` matches exactly one, everything else matches itself.

use std::fmt;

/// A compiled path or host pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    ignore_case: bool,
}

impl Pattern {
    /// A case-sensitive pattern, as CloudFront path patterns are.
    pub fn path(text: &str) -> Self {
        Pattern {
            text: text.to_string(),
            ignore_case: false,
        }
    }

    /// A case-insensitive pattern, because host names are.
    pub fn host(text: &str) -> Self {
        Pattern {
            text: text.to_ascii_lowercase(),
            ignore_case: true,
        }
    }

    /// Whether `subject` matches the whole pattern.
    pub fn matches(&self, subject: &str) -> bool {
        if self.ignore_case && subject.bytes().any(|b| b.is_ascii_uppercase()) {
            return glob(
                self.text.as_bytes(),
                subject.to_ascii_lowercase().as_bytes(),
            );
        }
        glob(self.text.as_bytes(), subject.as_bytes())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Iterative wildcard match with single-star backtracking: linear in practice, no recursion.
fn glob(pattern: &[u8], subject: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < subject.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == subject[s]) {
            p += 1;
            s += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, s));
            p += 1;
        } else if let Some((sp, ss)) = star {
            p = sp + 1;
            s = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_across_slashes_and_question_mark_one_char() {
        let p = Pattern::path("/images/*.jpg");
        assert!(p.matches("/images/a/b.jpg"));
        assert!(!p.matches("/images/a/b.png"));
        assert!(Pattern::path("/v?/x").matches("/v1/x"));
        assert!(!Pattern::path("/v?/x").matches("/v10/x"));
        assert!(Pattern::path("*").matches("/anything"));
    }

    #[test]
    fn path_patterns_are_case_sensitive_hosts_are_not() {
        assert!(!Pattern::path("/API/*").matches("/api/x"));
        assert!(Pattern::host("*.Example.com").matches("www.EXAMPLE.com"));
        assert!(!Pattern::host("*.example.com").matches("example.org"));
    }
}
