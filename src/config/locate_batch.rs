//! Finding the positions of many values in one reading of the text.
//!
//! [`super::locate::locate`] reads the whole text once per value, which is
//! quadratic in a file full of errors. Here every wanted path goes into one tree
//! of paths, and one walk of the text follows all of them at once.
//!
//! The position still comes from yaml_serde's own error, raised on purpose at the
//! target: the same event, hence the same line and column, as the one-by-one
//! locator. What differs is that the walk goes on after it. That is sound only
//! where the deserializer has consumed the whole target when the error comes out:
//! * a scalar (or a tagged value, consumed before failing) is one event, taken
//!   before its visitor runs;
//! * a non-empty mapping or list is left unread by its visitor: yaml_serde then
//!   skips its entries itself, takes its end, and only then fails because fewer
//!   entries were read than it had — with the container's own position.
//!
//! An empty container gives no such error: those few (with their count bounded)
//! go to the one-by-one locator. Paths below a container that is itself wanted
//! wait for the next walk (the first one did not enter it): a few walks at most,
//! one per level of wanted containers inside wanted containers.

use std::collections::{HashMap, HashSet};

use serde::de::DeserializeSeed;

use super::locate::{count_text_pass, locate, scalar_at, Seg};
use super::locate_walk::{State, Walk};

/// How many positions at most are looked up one by one, each reading the whole
/// text: empty containers, and what follows a YAML error met on the way (neither
/// is there in a file the loader got this far with, bar a hostile one).
pub(crate) const MAX_ONE_BY_ONE: usize = 200;

/// A 1-based line and column (in characters), as yaml_serde counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub line: usize,
    pub column: usize,
}

/// One position to find.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub segs: Vec<Seg>,
    /// The key whose value is at `segs` rather than the value (the value itself
    /// for the root or a list element, which have no key).
    pub on_key: bool,
    /// If the path is not in the text, the key of its nearest ancestor that is (a
    /// value reached through an alias, for example, may have no path of its own).
    pub nearest: bool,
}

/// The position of each of `wanted`, in order; `None` where the path is not in the
/// text (and, with `nearest`, neither is any ancestor's key).
pub(crate) fn locate_all(text: &str, wanted: &[Wanted]) -> Vec<Option<Position>> {
    let mut found = locate_exact(text, wanted);
    let mut ancestors = Vec::new();
    let mut owners = Vec::new();
    for (i, w) in wanted.iter().enumerate() {
        if w.nearest && found[i].is_none() {
            // Longest first: the first one found is the nearest.
            for len in (0..w.segs.len()).rev() {
                ancestors.push(Wanted {
                    segs: w.segs[..len].to_vec(),
                    on_key: true,
                    nearest: false,
                });
                owners.push(i);
            }
        }
    }
    if !ancestors.is_empty() {
        let around = locate_exact(text, &ancestors);
        for (owner, position) in owners.into_iter().zip(around) {
            if found[owner].is_none() {
                found[owner] = position;
            }
        }
    }
    found
}

/// The source text of the plain scalar at each of `paths`, as
/// [`super::locate::raw_scalar`] reads it, in one reading for all of them.
pub(crate) fn raw_scalars<'t>(text: &'t str, paths: &[Vec<Seg>]) -> Vec<Option<&'t str>> {
    let wanted: Vec<Wanted> = (paths.iter())
        .map(|segs| Wanted {
            segs: segs.clone(),
            on_key: false,
            nearest: false,
        })
        .collect();
    let lines = LineStarts::of(text);
    (locate_all(text, &wanted).into_iter())
        .map(|position| scalar_at(text, lines.index(text, position?)?))
        .collect()
}

/// Where each line starts, in bytes, as yaml_serde counts lines: a position
/// carries a line and a column but not its byte offset.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn of(text: &str) -> LineStarts {
        // A byte-order mark counts as the first line's first character.
        let mut starts = vec![0];
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            // The YAML line breaks: CR LF (one break), CR, LF, NEL, LS, PS.
            let end = match c {
                '\r' if chars.next_if(|&(_, c)| c == '\n').is_some() => at + 2,
                '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => at + c.len_utf8(),
                _ => continue,
            };
            starts.push(end);
        }
        LineStarts(starts)
    }

    /// The byte offset of a position (its column counts characters).
    fn index(&self, text: &str, position: Position) -> Option<usize> {
        let start = *self.0.get(position.line.checked_sub(1)?)?;
        let line = text.get(start..)?;
        let (offset, _) = line.char_indices().nth(position.column.checked_sub(1)?)?;
        Some(start + offset)
    }
}

/// The positions of exactly these paths, in as few walks as the containers allow.
fn locate_exact(text: &str, wanted: &[Wanted]) -> Vec<Option<Position>> {
    let mut found = vec![None; wanted.len()];
    let mut one_by_one = Vec::new();
    let mut pending: Vec<usize> = (0..wanted.len()).collect();
    while !pending.is_empty() {
        let trie = Trie::build(wanted, &pending);
        let mut state = State {
            found: &mut found,
            deferred: Vec::new(),
            one_by_one: Vec::new(),
            expect: Vec::new(),
        };
        count_text_pass();
        let walk = Walk {
            trie: &trie,
            nodes: vec![ROOT],
            state: &mut state,
        };
        let result = walk.deserialize(serde_yaml::Deserializer::from_str(text));
        let failed = state.settle(result).is_err();
        one_by_one.append(&mut state.one_by_one);
        let deferred = std::mem::take(&mut state.deferred);
        if failed {
            // A YAML error on the way: the one-by-one locator reports what it did.
            one_by_one.extend(pending.into_iter().filter(|&i| found[i].is_none()));
            break;
        }
        pending = deferred;
    }
    for i in one_by_one.into_iter().take(MAX_ONE_BY_ONE) {
        if found[i].is_none() {
            found[i] = locate(text, &wanted[i].segs, wanted[i].on_key).map(|l| Position {
                line: l.line(),
                column: l.column(),
            });
        }
    }
    found
}

pub(super) const ROOT: usize = 0;

/// The wanted paths as a tree: one node per distinct prefix.
#[derive(Default)]
pub(super) struct TrieNode {
    /// Requests for the position of this value.
    pub value: Vec<usize>,
    /// Requests for the position of the key whose value this is.
    pub key: Vec<usize>,
    pub keys: HashMap<String, usize>,
    pub entries: HashMap<usize, usize>,
    pub indexes: HashMap<usize, usize>,
}

pub(super) struct Trie {
    pub nodes: Vec<TrieNode>,
}

impl Trie {
    fn build(wanted: &[Wanted], pending: &[usize]) -> Trie {
        let mut trie = Trie {
            nodes: vec![TrieNode::default()],
        };
        for &i in pending {
            let segs = &wanted[i].segs;
            let mut at = ROOT;
            for seg in segs {
                at = trie.child(at, seg);
            }
            // The root and a list element have no key: the one-by-one locator
            // gives their value's position, and so does this.
            let keyed = matches!(segs.last(), Some(Seg::Key(_) | Seg::Entry(_)));
            if wanted[i].on_key && keyed {
                trie.nodes[at].key.push(i);
            } else {
                trie.nodes[at].value.push(i);
            }
        }
        trie
    }

    fn child(&mut self, at: usize, seg: &Seg) -> usize {
        let next = self.nodes.len();
        let node = &mut self.nodes[at];
        let slot = match seg {
            Seg::Key(key) => node.keys.entry(key.clone()).or_insert(next),
            Seg::Entry(raw) => node.entries.entry(*raw).or_insert(next),
            Seg::Index(index) => node.indexes.entry(*index).or_insert(next),
        };
        let child = *slot;
        if child == next {
            self.nodes.push(TrieNode::default());
        }
        child
    }

    /// Every request strictly below `at`.
    pub(super) fn below(&self, at: usize, out: &mut Vec<usize>) {
        let node = &self.nodes[at];
        let children = node.keys.values().chain(node.entries.values());
        for &child in children.chain(node.indexes.values()) {
            out.extend(&self.nodes[child].value);
            out.extend(&self.nodes[child].key);
            self.below(child, out);
        }
    }

    /// The children of `nodes` that the `raw`-th entry of a mapping reaches: by its
    /// place, and by its key if no earlier entry had that key (`seen`).
    pub(super) fn entry_children(
        &self,
        nodes: &[usize],
        raw: usize,
        key: Option<&str>,
        seen: &HashSet<String>,
    ) -> Vec<usize> {
        let mut children = Vec::new();
        for &at in nodes {
            let node = &self.nodes[at];
            children.extend(node.entries.get(&raw));
            if let Some(key) = key.filter(|key| !seen.contains(*key)) {
                children.extend(node.keys.get(key));
            }
        }
        children
    }

    pub(super) fn requests(
        &self,
        nodes: &[usize],
        which: fn(&TrieNode) -> &Vec<usize>,
    ) -> Vec<usize> {
        nodes
            .iter()
            .flat_map(|&at| which(&self.nodes[at]))
            .copied()
            .collect()
    }
}

#[cfg(test)]
#[path = "locate_batch_tests.rs"]
mod tests;
