//! First pass: the YAML document as a small tree, keys as text.
//!
//! Why not `serde_yaml::Value`: it refuses a duplicated key without saying where,
//! and it stops there. Building our own tree lets us keep the first occurrence of a
//! key, note every duplicate (program names, env names, fields) with a path to it, and
//! go on validating the rest of the file. Keys are kept as text because that is what
//! every key of the schema is (`1:` and `"1":` name the same program).
//!
//! Scalars are resolved by yaml_serde exactly as for `Value` (YAML 1.2 core schema):
//! a bare `022` is the string `"022"`, `0o22` the integer 18.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess};
use serde::de::{SeqAccess, VariantAccess, Visitor};

use super::check::{At, Issue};

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i128),
    /// An integer beyond `i128`, kept as text for messages.
    Huge(String),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order, first occurrence of each key only.
    Map(Vec<(String, Node)>),
    /// A value with a custom tag (`!foo bar`); only its tag is kept.
    Tagged(String),
}

impl Node {
    /// How the value is shown after "found" in messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Node::Null => "an empty value (null)".to_string(),
            Node::Bool(b) => b.to_string(),
            Node::Int(i) => i.to_string(),
            Node::Huge(text) => text.clone(),
            Node::Float(x) => format!("{x:?}"),
            Node::Str(s) => format!("{s:?}"),
            Node::Seq(_) => "a list".to_string(),
            Node::Map(_) => "a mapping".to_string(),
            Node::Tagged(tag) => format!("a value tagged `!{tag}`"),
        }
    }

    /// The value of `key` in a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses `text` into a [`Node`], adding an issue for every duplicated or
/// non-scalar key. `Err` is a YAML syntax error (nothing more can be checked).
pub(crate) fn build(text: &str, issues: &mut Vec<Issue>) -> Result<Node, serde_yaml::Error> {
    NodeSeed {
        place: Place::Root,
        issues,
    }
    .deserialize(serde_yaml::Deserializer::from_str(text))
}

struct NodeSeed<'i, 'p> {
    place: Place<'p>,
    issues: &'i mut Vec<Issue>,
}

/// Where a node is: its parent's path and the step to it. Made into an [`At`]
/// (an allocation) only for a mapping or a list, whose entries may need it:
/// most nodes are scalars, and a reload of 500 programs reads thousands.
#[derive(Clone, Copy)]
enum Place<'p> {
    Root,
    /// The `raw`-th entry as written of the mapping at the path, its key `name`.
    Entry(&'p At, usize, &'p str),
    Index(&'p At, usize),
}

impl Place<'_> {
    /// The path, through `Seg::Entry`/`Seg::Index` steps so that it designates
    /// exactly this occurrence.
    fn at(self) -> At {
        match self {
            Place::Root => At::root(),
            Place::Entry(parent, raw, name) => parent.entry(raw, name),
            Place::Index(parent, index) => parent.index(index),
        }
    }
}

/// Below this many entries a mapping finds a duplicate key by looking through
/// what it has (a program's fields); at this many it starts a set (`programs:`).
const SET_FROM: usize = 32;

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(i128::try_from(v).map_or_else(|_| Node::Huge(v.to_string()), Node::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
        let (tag, variant) = data.variant::<String>()?;
        variant.newtype_variant::<IgnoredAny>()?;
        Ok(Node::Tagged(tag))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let at = self.place.at();
        let mut items = Vec::new();
        loop {
            let seed = NodeSeed {
                place: Place::Index(&at, items.len()),
                issues: &mut *self.issues,
            };
            match seq.next_element_seed(seed)? {
                Some(node) => items.push(node),
                None => return Ok(Node::Seq(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let at = self.place.at();
        let mut entries: Vec<(String, Node)> = Vec::new();
        // Thousands of programs are plausible: keep the duplicate check linear.
        let mut seen: Option<HashSet<String>> = None;
        let mut raw_index = 0;
        while let Some(key) = map.next_key_seed(KeySeed::default())? {
            let raw = raw_index;
            raw_index += 1;
            let Some(key) = key else {
                map.next_value::<IgnoredAny>()?;
                self.issues.push(Issue::on_key(
                    at.entry(raw, "?"),
                    "a key must be a plain scalar (a name), not a list or a mapping",
                ));
                continue;
            };
            let duplicate = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => entries.iter().any(|(k, _)| *k == key),
            };
            if duplicate {
                map.next_value::<IgnoredAny>()?;
                let what = duplicate_kind(&at.path());
                let mut issue =
                    Issue::on_key(at.entry(raw, &key), format!("duplicate {what} `{key}`"));
                // Seg::Key reaches the first entry with that text: the original.
                issue.first = Some(at.key(&key).segs());
                self.issues.push(issue);
                continue;
            }
            let value = map.next_value_seed(NodeSeed {
                place: Place::Entry(&at, raw, &key),
                issues: &mut *self.issues,
            })?;
            entries.push((key, value));
            if seen.is_none() && entries.len() >= SET_FROM {
                seen = Some(entries.iter().map(|(k, _)| k.clone()).collect());
            }
        }
        Ok(Node::Map(entries))
    }
}

/// What a duplicated key is, for the message.
fn duplicate_kind(map_path: &str) -> &'static str {
    let parts: Vec<&str> = map_path.split('.').collect();
    match parts.as_slice() {
        ["programs"] => "program name",
        ["programs", _, "env"] => "environment variable",
        _ => "key",
    }
}

/// Reads a mapping key as text: `Some` for a scalar (`null` becomes the empty
/// text), `None` for a list or mapping used as a key (consumed and skipped).
///
/// With `fail_on`, a key reading exactly that fails instead: the locator's way to
/// get the position of a key (the error carries the key's own position).
#[derive(Clone, Copy, Default)]
pub(crate) struct KeySeed<'a> {
    pub fail_on: Option<&'a str>,
}

impl KeySeed<'_> {
    fn text<E: de::Error>(self, text: String) -> Result<Option<String>, E> {
        if self.fail_on == Some(text.as_str()) {
            return Err(E::custom("locating a key"));
        }
        Ok(Some(text))
    }
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.text(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.text(v.to_string())
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
        self.text(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.text(v.to_string())
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
        self.text(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.text(v.to_string())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.text(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.text(String::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.text(String::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        variant.newtype_variant::<IgnoredAny>()?;
        Ok(None)
    }
}
