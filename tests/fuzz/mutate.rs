//! Mutations of the seed files: bit flips, truncation, line edits, splices.

use proptest::prelude::*;
use proptest::sample::{select, Index};

use super::setup::seeds;

/// One edit of a seed's bytes.
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Truncate(Index),
    DuplicateLine(Index),
    DeleteLine(Index),
    SwapLines(Index, Index),
    Insert(Index, &'static str),
    /// A range of another seed pasted in.
    Splice(Index, Index, Index, Index),
}

pub const INTERESTING_BYTES: &[u8] = b":-[]{}&*!|>'\"# \t\n\r\\0\x00\x7f\xff~%@,?";
pub const INSERTS: &[&str] = &[
    ": ",
    "- ",
    "\n",
    "  ",
    "\t",
    "&a ",
    "*a",
    "*nope",
    "<<: *a\n",
    "!!str ",
    "!tag ",
    "\"",
    "'",
    "[",
    "{",
    "#",
    "---\n",
    "?",
    "\0",
    "é",
    "99999999999999999999999999999999999999999",
    "-1",
    "0o777",
    "1e400",
    ".nan",
    "null",
    "~",
    "cmd: x\n",
    "numprocs: 0\n",
];

pub fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), select(INTERESTING_BYTES)).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        any::<Index>().prop_map(Mutation::DeleteLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<Index>(), select(INSERTS)).prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<(Index, Index, Index, Index)>()
            .prop_map(|(s, a, b, at)| Mutation::Splice(s, a, b, at)),
    ]
    .boxed()
}

pub fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let lines = |b: &Vec<u8>| -> Vec<Vec<u8>> {
        b.split_inclusive(|c| *c == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    };
    match m {
        Mutation::FlipBit(i, bit) if !bytes.is_empty() => {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Mutation::SetByte(i, b) if !bytes.is_empty() => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Mutation::Truncate(i) if !bytes.is_empty() => bytes.truncate(i.index(bytes.len())),
        Mutation::DuplicateLine(i) | Mutation::DeleteLine(i) => {
            let mut l = lines(bytes);
            if l.is_empty() {
                return;
            }
            let at = i.index(l.len());
            if matches!(m, Mutation::DuplicateLine(_)) {
                let line = l[at].clone();
                l.insert(at, line);
            } else {
                l.remove(at);
            }
            *bytes = l.concat();
        }
        Mutation::SwapLines(a, b) => {
            let mut l = lines(bytes);
            if l.is_empty() {
                return;
            }
            let (a, b) = (a.index(l.len()), b.index(l.len()));
            l.swap(a, b);
            *bytes = l.concat();
        }
        Mutation::Insert(i, s) => {
            let at = i.index(bytes.len() + 1);
            bytes.splice(at..at, s.bytes());
        }
        Mutation::Splice(s, a, b, at) => {
            let other = seeds()[s.index(seeds().len())].1.as_bytes();
            if other.is_empty() {
                return;
            }
            let (a, b) = (a.index(other.len()), b.index(other.len()));
            let (a, b) = (a.min(b), a.max(b));
            let at = at.index(bytes.len() + 1);
            bytes.splice(at..at, other[a..b].iter().copied());
        }
        _ => {}
    }
}

/// A seed with 1 to 5 mutations applied, as text (invalid UTF-8 made lossy: the
/// loader takes `&str`).
pub fn mutated_seed() -> BoxedStrategy<String> {
    (any::<Index>(), prop::collection::vec(mutation(), 1..6))
        .prop_map(|(seed, edits)| {
            let seeds = seeds();
            let mut bytes = seeds[seed.index(seeds.len())].1.clone().into_bytes();
            for m in &edits {
                apply(&mut bytes, m);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .boxed()
}
