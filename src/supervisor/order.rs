//! The order of starts and stops: batches of programs, pure and unit-tested.
//!
//! Two rules, both from the config: `priority` (lower starts first and stops last)
//! and `depends_on` (a dependency starts before its dependants and stops after
//! them). When they disagree, the dependency rule wins by *delaying*: a program is
//! never started or stopped earlier than its priority says, but it may wait for a
//! dependency that comes later (a start) or a dependant that comes later (a stop).
//! A program that waits holds back nobody else.
//!
//! Each batch is every program that may go now and shares the lowest (start) or
//! highest (stop) priority of them; its members go in parallel, and the next batch
//! waits until the whole batch is done.

use std::collections::BTreeSet;

/// One program as the ordering sees it.
#[derive(Debug, Clone)]
pub(crate) struct Member<'a> {
    pub name: &'a str,
    pub priority: i32,
    pub depends_on: &'a [String],
}

/// Which way the batches go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Dependencies first, then lower priority first.
    Start,
    /// Dependants first, then higher priority first.
    Stop,
}

/// The batches, as indices into `members`, each batch in name order. Dependencies
/// on programs that are not members do not hold anything back. A cycle (which
/// config validation rejects) cannot hang: its members go last, by priority.
pub(crate) fn batches(members: &[Member], direction: Direction) -> Vec<Vec<usize>> {
    let names: BTreeSet<&str> = members.iter().map(|m| m.name).collect();
    // `blockers[i]`: the members that must be done before member i may go.
    let blockers: Vec<BTreeSet<usize>> = members
        .iter()
        .map(|m| match direction {
            Direction::Start => m
                .depends_on
                .iter()
                .filter(|d| names.contains(d.as_str()))
                .filter_map(|d| members.iter().position(|o| o.name == d))
                .collect(),
            Direction::Stop => members
                .iter()
                .enumerate()
                .filter(|(_, o)| o.depends_on.iter().any(|d| d == m.name))
                .map(|(i, _)| i)
                .collect(),
        })
        .collect();
    let mut done = vec![false; members.len()];
    let mut out = Vec::new();
    while done.iter().any(|d| !d) {
        let left = (0..members.len()).filter(|&i| !done[i]);
        let mut ready: Vec<usize> = left
            .clone()
            .filter(|&i| blockers[i].iter().all(|&b| done[b] || b == i))
            .collect();
        if ready.is_empty() {
            ready = left.collect();
        }
        let rank = |i: &usize| members[*i].priority;
        let best = match direction {
            Direction::Start => ready.iter().map(rank).min(),
            Direction::Stop => ready.iter().map(rank).max(),
        };
        let mut batch: Vec<usize> = ready
            .into_iter()
            .filter(|i| Some(rank(i)) == best)
            .collect();
        batch.sort_by_key(|&i| members[i].name);
        batch.iter().for_each(|&i| done[i] = true);
        out.push(batch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(name, priority, depends_on)` → the batches as names.
    fn order(programs: &[(&str, i32, &[&str])], direction: Direction) -> Vec<Vec<String>> {
        let deps: Vec<Vec<String>> = programs
            .iter()
            .map(|(_, _, d)| d.iter().map(|s| s.to_string()).collect())
            .collect();
        let members: Vec<Member> = programs
            .iter()
            .zip(&deps)
            .map(|((name, priority, _), depends_on)| Member {
                name,
                priority: *priority,
                depends_on,
            })
            .collect();
        batches(&members, direction)
            .into_iter()
            .map(|b| b.into_iter().map(|i| programs[i].0.to_string()).collect())
            .collect()
    }

    fn names(batches: &[&[&str]]) -> Vec<Vec<String>> {
        batches
            .iter()
            .map(|b| b.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn priorities_alone_make_strict_batches() {
        let programs: &[(&str, i32, &[&str])] = &[
            ("d", 900, &[]),
            ("a", 1, &[]),
            ("c", 500, &[]),
            ("b", 100, &[]),
            ("c2", 500, &[]),
        ];
        assert_eq!(
            order(programs, Direction::Start),
            names(&[&["a"], &["b"], &["c", "c2"], &["d"]])
        );
        assert_eq!(
            order(programs, Direction::Stop),
            names(&[&["d"], &["c", "c2"], &["b"], &["a"]])
        );
    }

    #[test]
    fn an_unrelated_dependency_pair_changes_nothing_for_the_others() {
        let programs: &[(&str, i32, &[&str])] = &[
            ("p1", 1, &[]),
            ("p100", 100, &[]),
            ("p500", 500, &[]),
            ("p900", 900, &[]),
            ("db", 999, &[]),
            ("web", 999, &["db"]),
        ];
        assert_eq!(
            order(programs, Direction::Start),
            names(&[&["p1"], &["p100"], &["p500"], &["p900"], &["db"], &["web"]])
        );
        assert_eq!(
            order(programs, Direction::Stop),
            names(&[&["web"], &["db"], &["p900"], &["p500"], &["p100"], &["p1"]])
        );
    }

    #[test]
    fn a_dependency_delays_its_dependant_and_nobody_else() {
        // `early` wants to start first but needs `late`: it waits for `late`, and
        // `mid` does not wait for it.
        let programs: &[(&str, i32, &[&str])] = &[
            ("early", 1, &["late"]),
            ("mid", 500, &[]),
            ("late", 900, &[]),
        ];
        assert_eq!(
            order(programs, Direction::Start),
            names(&[&["mid"], &["late"], &["early"]])
        );
        // Stopping: `early` (stopped last by priority) must go before `late`, so
        // `late` waits for it; `mid` is not held back.
        assert_eq!(
            order(programs, Direction::Stop),
            names(&[&["mid"], &["early"], &["late"]])
        );
    }

    #[test]
    fn the_demos_last_program_stops_after_the_others() {
        // chatty (500) depends on worker (999): the other 999s stop first, then
        // chatty, then worker which waited for it.
        let programs: &[(&str, i32, &[&str])] = &[
            ("chatty", 500, &["worker"]),
            ("crasher", 999, &[]),
            ("worker", 999, &[]),
        ];
        assert_eq!(
            order(programs, Direction::Stop),
            names(&[&["crasher"], &["chatty"], &["worker"]])
        );
        assert_eq!(
            order(programs, Direction::Start),
            names(&[&["crasher", "worker"], &["chatty"]])
        );
    }

    #[test]
    fn chains_and_missing_members() {
        let programs: &[(&str, i32, &[&str])] = &[
            ("c", 1, &["b"]),
            ("b", 1, &["a", "not-a-member"]),
            ("a", 1, &[]),
        ];
        assert_eq!(
            order(programs, Direction::Start),
            names(&[&["a"], &["b"], &["c"]])
        );
        assert_eq!(
            order(programs, Direction::Stop),
            names(&[&["c"], &["b"], &["a"]])
        );
    }

    #[test]
    fn a_cycle_still_ends() {
        let programs: &[(&str, i32, &[&str])] =
            &[("a", 2, &["b"]), ("b", 1, &["a"]), ("c", 3, &[])];
        assert_eq!(
            order(programs, Direction::Start),
            names(&[&["c"], &["b"], &["a"]])
        );
    }
}
