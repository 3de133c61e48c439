//! Collecting problems while walking the tree, and turning them into
//! [`ConfigError`]s with positions at the end.
//!
//! Validation never stops at the first problem: each check records an [`Issue`]
//! (where, as a path; what, as a message) and returns `None`, and the walk goes on.
//! Positions are looked up only once the walk is over, and only for the issues found.

use std::path::Path;
use std::rc::Rc;

use super::error::{ConfigError, ConfigErrors};
use super::locate::Seg;
use super::locate_batch::{locate_all, Wanted};
use super::suggest::suggest;
use super::tree::Node;

/// Where a value is: the steps to reach it from the root.
///
/// Every node of a file gets one while it is read and checked, and nearly all
/// are never used (only an error asks where it was), so a step shares its
/// parent's chain: making one costs an allocation, not a copy of every step
/// above it. The segments and the dotted path are spelled out on demand.
#[derive(Debug, Clone, Default)]
pub(crate) struct At(Option<Rc<Step>>);

#[derive(Debug)]
struct Step {
    parent: At,
    seg: Seg,
    /// How the step reads in a path: the key for `Entry` (`Key` has its own).
    name: Option<String>,
}

impl At {
    pub(crate) fn root() -> At {
        At(None)
    }

    fn child(&self, seg: Seg, name: Option<String>) -> At {
        At(Some(Rc::new(Step {
            parent: self.clone(),
            seg,
            name,
        })))
    }

    /// The value of the (first) entry `key`.
    pub(crate) fn key(&self, key: &str) -> At {
        self.child(Seg::Key(key.to_string()), None)
    }

    /// The value of the `raw`-th entry as written, whose key reads `name`.
    pub(crate) fn entry(&self, raw: usize, name: &str) -> At {
        self.child(Seg::Entry(raw), Some(name.to_string()))
    }

    /// The `index`-th element of a list.
    pub(crate) fn index(&self, index: usize) -> At {
        self.child(Seg::Index(index), None)
    }

    /// The steps from the root, outermost first.
    fn steps(&self) -> Vec<&Step> {
        let mut steps = Vec::new();
        let mut at = self;
        while let Some(step) = &at.0 {
            steps.push(&**step);
            at = &step.parent;
        }
        steps.reverse();
        steps
    }

    /// The segments from the root, for the locator.
    pub(crate) fn segs(&self) -> Vec<Seg> {
        self.steps().into_iter().map(|s| s.seg.clone()).collect()
    }

    /// The dotted field path (`programs.web.cmd`, `…depends_on[0]`).
    pub(crate) fn path(&self) -> String {
        let mut path = String::new();
        for step in self.steps() {
            match (&step.seg, &step.name) {
                (Seg::Index(i), _) => path.push_str(&format!("[{i}]")),
                (Seg::Key(name), _) | (Seg::Entry(_), Some(name)) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&shortened(name));
                }
                (Seg::Entry(_), None) => {}
            }
        }
        path
    }
}

/// A key as it reads in a path: a long one (a hostile or damaged file can have
/// keys of megabytes) cut after its first 40 characters, so that every message
/// stays a line a terminal can show.
fn shortened(name: &str) -> std::borrow::Cow<'_, str> {
    const LONGEST: usize = 64;
    if name.chars().count() <= LONGEST {
        return name.into();
    }
    let start: String = name.chars().take(40).collect();
    format!("{start}…").into()
}

/// One problem, before its position is known.
#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub at: At,
    pub message: String,
    /// Whether the problem is the key (a name) rather than its value: the position
    /// reported is then the key's.
    pub on_key: bool,
    /// For a duplicate: where the original is, to name its line.
    pub first: Option<Vec<Seg>>,
}

impl Issue {
    /// A problem with the value at `at`.
    pub(crate) fn new(at: At, message: impl Into<String>) -> Issue {
        Issue {
            at,
            message: message.into(),
            on_key: false,
            first: None,
        }
    }

    /// A problem with the key whose value is at `at`.
    pub(crate) fn on_key(at: At, message: impl Into<String>) -> Issue {
        Issue {
            on_key: true,
            ..Issue::new(at, message)
        }
    }
}

/// The issues found so far.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    pub issues: Vec<Issue>,
}

impl Checker {
    pub(crate) fn error(&mut self, at: &At, message: impl Into<String>) {
        self.issues.push(Issue::new(at.clone(), message));
    }

    /// Records a problem with the key (the name) whose value is at `at`.
    pub(crate) fn key_error(&mut self, at: &At, message: impl Into<String>) {
        self.issues.push(Issue::on_key(at.clone(), message));
    }

    /// The value of a check, or `None` after recording its error.
    pub(crate) fn take<T>(&mut self, at: &At, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.error(at, message)).ok()
    }

    /// Runs `check` on field `name` of `map` if present; `Some(default)` if absent.
    pub(crate) fn field<T>(
        &mut self,
        map: &Node,
        at: &At,
        name: &str,
        default: T,
        check: impl FnOnce(&Node) -> Result<T, String>,
    ) -> Option<T> {
        match map.get(name) {
            None => Some(default),
            // The path (an allocation) only for an error: thousands of fields a load.
            Some(node) => match check(node) {
                Ok(value) => Some(value),
                Err(message) => {
                    self.error(&at.key(name), message);
                    None
                }
            },
        }
    }

    /// Records an error for every key of `entries` not in `valid`, with the closest
    /// valid name when one is near (`what` names the section for the message).
    pub(crate) fn unknown_keys(
        &mut self,
        entries: &[(String, Node)],
        at: &At,
        valid: &[&str],
        what: &str,
    ) {
        for (key, _) in entries {
            if valid.contains(&key.as_str()) {
                continue;
            }
            let message = match suggest(key, valid) {
                Some(near) => format!("unknown {what} `{key}`: did you mean `{near}`?"),
                None => format!("unknown {what} `{key}`; valid ones: {}", valid.join(", ")),
            };
            self.key_error(&at.key(key), message);
        }
    }

    /// Turns the issues into positioned errors, in file order.
    ///
    /// Every position (of each issue, and of the original of each duplicate) is
    /// looked up in one batch: a few readings of the text, however many issues.
    pub(crate) fn finish(self, text: &str, file: &Path) -> ConfigErrors {
        let mut wanted: Vec<Wanted> = self
            .issues
            .iter()
            .map(|issue| Wanted {
                segs: issue.at.segs(),
                on_key: issue.on_key,
                nearest: true,
            })
            .collect();
        let firsts: Vec<Option<usize>> = self
            .issues
            .iter()
            .map(|issue| {
                let segs = issue.first.clone()?;
                wanted.push(Wanted {
                    segs,
                    on_key: true,
                    nearest: false,
                });
                Some(wanted.len() - 1)
            })
            .collect();
        let positions = locate_all(text, &wanted);
        let mut errors: Vec<ConfigError> = self
            .issues
            .into_iter()
            .zip(firsts)
            .enumerate()
            .map(|(i, (issue, first))| {
                let mut message = issue.message;
                if let Some(first) = first.and_then(|at| positions[at]) {
                    message.push_str(&format!(" (first defined on line {})", first.line));
                }
                let position = positions[i];
                ConfigError {
                    file: file.to_path_buf(),
                    line: position.map(|p| p.line),
                    column: position.map(|p| p.column),
                    path: issue.at.path(),
                    message,
                }
            })
            .collect();
        // Stable: issues at the same place keep the order they were found in.
        errors.sort_by_key(|e| (e.line.is_none(), e.line, e.column));
        ConfigErrors(errors)
    }
}

/// "found X, expected Y": the shape of every value error.
pub(crate) fn wrong(node: &Node, expected: &str) -> String {
    format!("found {}, expected {expected}", node.describe())
}
