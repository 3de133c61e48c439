//! What the loader reports: every problem found, each with where and why.
//!
//! One [`ConfigError`] per problem; [`ConfigErrors`] carries all of them so the user
//! fixes a file in one round instead of one error per run.

use std::fmt;
use std::path::PathBuf;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// Absolute path of the file.
    pub file: PathBuf,
    /// 1-based line, when the YAML parser could tell.
    pub line: Option<usize>,
    /// 1-based column, when the YAML parser could tell.
    pub column: Option<usize>,
    /// Field path such as `programs.web.autorestart`; empty for the whole file.
    pub path: String,
    /// What was found and what is allowed.
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// `FILE:LINE:COLUMN: PATH: MESSAGE`, the form editors and compilers use, so a
    /// terminal or IDE can jump to it. Parts that are unknown are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one file, in the order they appear in it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    /// One error per line, no trailing newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no error (never the case for a value returned by the
    /// loader, which always reports at least one).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the errors in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: Option<usize>, path: &str) -> ConfigError {
        ConfigError {
            file: PathBuf::from("/abs/taskmaster.yaml"),
            line,
            column: line.map(|_| 18),
            path: path.to_string(),
            message: "found \"maybe\", expected one of: always, never".to_string(),
        }
    }

    #[test]
    fn display_with_and_without_position() {
        assert_eq!(
            err(Some(4), "programs.web.autorestart").to_string(),
            "/abs/taskmaster.yaml:4:18: programs.web.autorestart: found \"maybe\", expected one of: always, never"
        );
        assert_eq!(
            err(None, "").to_string(),
            "/abs/taskmaster.yaml: found \"maybe\", expected one of: always, never"
        );
    }

    #[test]
    fn display_one_per_line() {
        let all = ConfigErrors(vec![err(Some(1), "a"), err(Some(2), "b")]);
        let text = all.to_string();
        assert_eq!(text.lines().count(), 2);
        assert!(!text.ends_with('\n'));
        assert_eq!(all.len(), 2);
    }
}
