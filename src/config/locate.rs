//! Finding the line and column of a value, after the fact.
//!
//! yaml_serde keeps no spans in its values. It does attach the position of the
//! current event to an error raised while deserializing that event. So to locate a
//! value we deserialize the text once more with a seed that follows a path of keys and
//! indexes, skips everything else with [`IgnoredAny`], and fails on purpose when it
//! reaches the target: the error's [`serde_yaml::Location`] is the target's position.
//!
//! This reads the whole text for one value: [`super::locate_batch`] finds many in
//! one reading, and comes here only for the few it cannot.
//!
//! A key is located by failing inside the key's own deserialization (the error then
//! carries the key's position). Failing in the map visitor *after* reading a key
//! would report the position of the mapping's start instead: never do that.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess};
use serde::de::{SeqAccess, VariantAccess, Visitor};
use serde_yaml::Location;

use super::tree::KeySeed;

/// One step from a node to one of its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// The value of the first entry whose key, as text, is this.
    Key(String),
    /// The value of the N-th entry of a mapping, counting every entry as written
    /// (duplicates included): how duplicates and odd keys are reached.
    Entry(usize),
    /// The N-th element of a sequence.
    Index(usize),
}

/// Position of the value at `segs` in `text` (or, with `on_key`, of the key whose
/// value that is), if the path exists there.
pub(crate) fn locate(text: &str, segs: &[Seg], on_key: bool) -> Option<Location> {
    count_text_pass();
    let seek = Seek {
        segs,
        on_key: on_key && !segs.is_empty(),
    };
    match seek.deserialize(serde_yaml::Deserializer::from_str(text)) {
        Ok(()) => None,
        Err(error) => error.location(),
    }
}

#[cfg(test)]
thread_local! {
    static TEXT_PASSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts one reading of the whole text by a locator (tests check that locating a
/// file's errors reads it a bounded number of times, not once per error).
pub(crate) fn count_text_pass() {
    #[cfg(test)]
    TEXT_PASSES.with(|passes| passes.set(passes.get() + 1));
}

/// How many times the locators read a whole text on this thread so far.
#[cfg(test)]
pub(crate) fn text_passes() -> usize {
    TEXT_PASSES.with(std::cell::Cell::get)
}

/// The source text of the plain scalar at `segs` (up to a separator), for the rare
/// check that needs how a value was written rather than what it means. The loader
/// asks [`super::locate_batch::raw_scalars`], all at once; this one by one is
/// what that is tested against.
#[cfg(test)]
pub(crate) fn raw_scalar<'t>(text: &'t str, segs: &[Seg]) -> Option<&'t str> {
    let location = locate(text, segs, false)?;
    scalar_at(text, location.index())
}

/// The plain scalar that starts at byte `index` of `text`, up to a separator.
pub(crate) fn scalar_at(text: &str, index: usize) -> Option<&str> {
    // get() refuses a non-boundary instead of panicking.
    let rest = text.get(index..)?;
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}' | '#'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Follows the path; returns `Err` (with a position) on reaching its end, `Ok` when
/// the path does not exist.
struct Seek<'s> {
    segs: &'s [Seg],
    /// Stop at the key of the last step rather than at its value.
    on_key: bool,
}

impl<'s> Seek<'s> {
    fn next(&self, segs: &'s [Seg]) -> Seek<'s> {
        Seek {
            segs,
            on_key: self.on_key,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.segs.is_empty() {
            deserializer.deserialize_any(Fail)
        } else {
            deserializer.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (first, rest) = match self.segs.split_first() {
            Some(split) => split,
            None => return Ok(()),
        };
        if self.on_key && rest.is_empty() {
            return seek_key(map, first);
        }
        let mut index = 0;
        let mut done = false;
        while let Some(key) = map.next_key_seed(KeySeed::default())? {
            let hit = !done
                && match first {
                    Seg::Key(wanted) => key.as_deref() == Some(wanted.as_str()),
                    Seg::Entry(wanted) => *wanted == index,
                    Seg::Index(_) => false,
                };
            if hit {
                done = true;
                map.next_value_seed(self.next(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            index += 1;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (first, rest) = match self.segs.split_first() {
            Some(split) => split,
            None => return Ok(()),
        };
        let mut index = 0;
        loop {
            let found = if *first == Seg::Index(index) {
                seq.next_element_seed(self.next(rest))?
            } else {
                seq.next_element::<IgnoredAny>()?.map(|_| ())
            };
            if found.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        variant.newtype_variant::<IgnoredAny>().map(|_| ())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    // A scalar on the way: the path does not exist.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Fails on the key of the entry `seg` designates (`Ok` if there is none).
fn seek_key<'de, A: MapAccess<'de>>(mut map: A, seg: &Seg) -> Result<(), A::Error> {
    let mut index = 0;
    loop {
        let more = match seg {
            Seg::Key(wanted) => {
                let seed = KeySeed {
                    fail_on: Some(wanted),
                };
                map.next_key_seed(seed)?.is_some()
            }
            Seg::Entry(wanted) if *wanted == index => map.next_key_seed(Fail)?.is_some(),
            _ => map.next_key_seed(KeySeed::default())?.is_some(),
        };
        if !more {
            return Ok(());
        }
        map.next_value::<IgnoredAny>()?;
        index += 1;
    }
}

/// The target: every `visit_*` keeps serde's default, which is an error.
struct Fail;

impl<'de> DeserializeSeed<'de> for Fail {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(Fail)
    }
}

impl Visitor<'_> for Fail {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nothing (locating a value)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "é: 1\nprograms:\n  web:\n    cmd: x\n    umask: 0o22\n  list: [5, 6]\n  dup: 1\n  dup: 2\n";

    fn at(segs: &[Seg]) -> Option<(usize, usize)> {
        locate(TEXT, segs, false).map(|l| (l.line(), l.column()))
    }

    fn key_at(segs: &[Seg]) -> Option<(usize, usize)> {
        locate(TEXT, segs, true).map(|l| (l.line(), l.column()))
    }

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_string())
    }

    #[test]
    fn follows_keys_indexes_and_entries() {
        assert_eq!(
            at(&[key("programs"), key("web"), key("umask")]),
            Some((5, 12))
        );
        assert_eq!(
            at(&[key("programs"), key("list"), Seg::Index(1)]),
            Some((6, 13))
        );
        assert_eq!(at(&[key("programs"), Seg::Entry(3)]), Some((8, 8)));
        assert_eq!(at(&[key("programs"), key("dup")]), Some((7, 8)));
        assert_eq!(at(&[key("programs"), key("nope")]), None);
        assert_eq!(at(&[key("é"), key("deeper")]), None);
    }

    #[test]
    fn finds_keys() {
        assert_eq!(key_at(&[key("programs"), key("web")]), Some((3, 3)));
        assert_eq!(
            key_at(&[key("programs"), key("web"), key("umask")]),
            Some((5, 5))
        );
        assert_eq!(key_at(&[key("programs"), Seg::Entry(3)]), Some((8, 3)));
        assert_eq!(key_at(&[key("programs"), key("dup")]), Some((7, 3)));
        assert_eq!(key_at(&[key("programs"), key("nope")]), None);
        // The root has no key: its value.
        assert_eq!(key_at(&[]), Some((1, 1)));
    }

    #[test]
    fn raw_scalar_reads_the_source_text() {
        assert_eq!(
            raw_scalar(TEXT, &[key("programs"), key("web"), key("umask")]),
            Some("0o22")
        );
        assert_eq!(
            raw_scalar(TEXT, &[key("programs"), key("list"), Seg::Index(0)]),
            Some("5")
        );
    }
}
