//! One walk of the text for [`super::locate_batch`]: follows every wanted path at
//! once, fails on purpose at each target and goes on (see that module for why the
//! deserializer is still in step after such an error).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess};
use serde::de::{SeqAccess, VariantAccess, Visitor};

use super::locate_batch::{Position, Trie};
use super::tree::KeySeed;

/// What one walk found and what it leaves to the next.
pub(super) struct State<'f> {
    pub found: &'f mut Vec<Option<Position>>,
    pub deferred: Vec<usize>,
    pub one_by_one: Vec<usize>,
    /// The requests a target just made the deserializer fail for: the error that
    /// comes back carries their position.
    pub expect: Vec<usize>,
}

/// The message of the deliberate errors.
const LOCATING: &str = "locating a value";

impl State<'_> {
    /// Takes the outcome of deserializing one value: a deliberate error becomes
    /// positions and the walk goes on; any other error ends it.
    pub(super) fn settle<E: fmt::Debug>(&mut self, result: Result<(), E>) -> Result<(), E> {
        let expect = std::mem::take(&mut self.expect);
        match result {
            // A wanted container that turned out empty: no error to read it from.
            Ok(()) => self.one_by_one.extend(expect),
            Err(error) if !expect.is_empty() => {
                let position = position_of(&error);
                if position.is_none() {
                    self.one_by_one.extend(&expect);
                }
                for request in expect {
                    self.found[request] = position;
                }
            }
            Err(error) => return Err(error),
        }
        Ok(())
    }
}

/// The position in a yaml_serde error. The visitors here see the deserializer's
/// error type only as a generic `de::Error`, whose one way out is its text: the
/// debug form ends `, line: L, column: C)` whenever the error has a position (the
/// message before it is quoted, so it cannot end that way itself).
fn position_of(error: &impl fmt::Debug) -> Option<Position> {
    let text = format!("{error:?}");
    let (_, tail) = text.strip_suffix(')')?.rsplit_once(", line: ")?;
    let (line, column) = tail.split_once(", column: ")?;
    Some(Position {
        line: line.parse().ok()?,
        column: column.parse().ok()?,
    })
}

/// Walks one value with the tree nodes that reach it.
pub(super) struct Walk<'w, 'f> {
    pub trie: &'w Trie,
    pub nodes: Vec<usize>,
    pub state: &'w mut State<'f>,
}

impl<'f> Walk<'_, 'f> {
    fn wanted_here(&self) -> Vec<usize> {
        self.trie.requests(&self.nodes, |node| &node.value)
    }

    /// At a scalar (or a tagged value, once consumed): fails if it is wanted.
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        let wanted = self.wanted_here();
        if wanted.is_empty() {
            return Ok(());
        }
        self.state.expect = wanted;
        Err(E::custom(LOCATING))
    }

    /// At a mapping or list: if it is wanted, it is left unread (yaml_serde then
    /// fails with its position, see the module's comment) and what is below it
    /// waits for the next walk.
    fn container_wanted(&mut self) -> bool {
        let wanted = self.wanted_here();
        if wanted.is_empty() {
            return false;
        }
        for &at in &self.nodes {
            self.trie.below(at, &mut self.state.deferred);
        }
        self.state.expect = wanted;
        true
    }

    fn child(&mut self, nodes: Vec<usize>) -> Walk<'_, 'f> {
        Walk {
            trie: self.trie,
            nodes,
            state: &mut *self.state,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        if self.container_wanted() {
            return Ok(());
        }
        // Keys already met that a `Seg::Key` reached: it designates the first.
        let mut seen = HashSet::new();
        for raw in 0.. {
            let mut read = KeyRead::default();
            let probe = KeyProbe {
                trie: self.trie,
                nodes: &self.nodes,
                raw,
                seen: &seen,
                read: &mut read,
            };
            let result = map.next_key_seed(probe);
            if matches!(result, Ok(None)) {
                break;
            }
            self.state.expect = std::mem::take(&mut read.fail_for);
            self.state.settle(result.map(|_| ()))?;
            seen.extend(read.first_of);
            if read.children.is_empty() {
                map.next_value::<IgnoredAny>()?;
            } else {
                let result = map.next_value_seed(self.child(read.children));
                self.state.settle(result)?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        if self.container_wanted() {
            return Ok(());
        }
        for index in 0.. {
            let children: Vec<usize> = self
                .nodes
                .iter()
                .filter_map(|&at| self.trie.nodes[at].indexes.get(&index).copied())
                .collect();
            if children.is_empty() {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    break;
                }
                continue;
            }
            let result = seq.next_element_seed(self.child(children));
            if matches!(result, Ok(None)) {
                break;
            }
            self.state.settle(result.map(|_| ()))?;
        }
        Ok(())
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        variant.newtype_variant::<IgnoredAny>()?;
        self.scalar()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
}

/// What reading one key of a mapping found.
#[derive(Default)]
struct KeyRead {
    /// The tree nodes its value is reached by.
    children: Vec<usize>,
    /// The requests for the key's own position (the probe failed for them).
    fail_for: Vec<usize>,
    /// The key's text, if a `Seg::Key` reached it (later entries with it do not).
    first_of: Option<String>,
}

/// Reads a key as the loader's tree does ([`KeySeed`]), notes where it leads, and
/// fails on it if its position is wanted.
struct KeyProbe<'p> {
    trie: &'p Trie,
    nodes: &'p [usize],
    raw: usize,
    seen: &'p HashSet<String>,
    read: &'p mut KeyRead,
}

impl KeyProbe<'_> {
    /// Notes where the key `text` (`None`: not a scalar) leads; true if its own
    /// position is wanted.
    fn note(&mut self, text: Option<&str>) -> bool {
        let children = self
            .trie
            .entry_children(self.nodes, self.raw, text, self.seen);
        if let Some(text) = text.filter(|text| !self.seen.contains(*text)) {
            let nodes = self.nodes.iter().map(|&at| &self.trie.nodes[at]);
            if nodes.clone().any(|node| node.keys.contains_key(text)) {
                self.read.first_of = Some(text.to_string());
            }
        }
        self.read.fail_for = self.trie.requests(&children, |node| &node.key);
        self.read.children = children;
        !self.read.fail_for.is_empty()
    }

    fn scalar<E: de::Error>(mut self, text: Result<Option<String>, E>) -> Result<(), E> {
        if self.note(text?.as_deref()) {
            Err(E::custom(LOCATING))
        } else {
            Ok(())
        }
    }
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    // A list or mapping as a key: left unread if its position is wanted (see the
    // module's comment), read through otherwise.
    fn visit_seq<A: SeqAccess<'de>>(mut self, seq: A) -> Result<(), A::Error> {
        if self.note(None) {
            return Ok(());
        }
        KeySeed::default().visit_seq(seq).map(|_| ())
    }
    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<(), A::Error> {
        if self.note(None) {
            return Ok(());
        }
        KeySeed::default().visit_map(map).map(|_| ())
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let text = KeySeed::default().visit_enum(data);
        self.scalar(text)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(KeySeed::default().visit_bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(KeySeed::default().visit_i64(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<(), E> {
        self.scalar(KeySeed::default().visit_i128(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(KeySeed::default().visit_u64(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<(), E> {
        self.scalar(KeySeed::default().visit_u128(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.scalar(KeySeed::default().visit_f64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(KeySeed::default().visit_str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(KeySeed::default().visit_unit())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar(KeySeed::default().visit_none())
    }
}
