//! Program settings made of several values: `exitcodes` (one or many), `backoff`
//! and `restart_throttle` (small mappings) and `env` (names to scalars) — part of
//! the walk in `load.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::check::{wrong, At};
use super::fields;
use super::load::Walk;
use super::model::{Backoff, Policy, RestartThrottle};
use super::tree::Node;

impl Walk<'_> {
    /// `exitcodes`: one code or a list of them (each element checked in place).
    pub(super) fn exitcodes(&mut self, node: Option<&Node>, at: &At) -> Option<BTreeSet<i32>> {
        match node {
            None => Some(Policy::default().exitcodes),
            Some(Node::Seq(items)) => {
                let mut codes = Some(BTreeSet::new());
                for (i, item) in items.iter().enumerate() {
                    match (
                        self.checker.take(&at.index(i), fields::exit_code(item)),
                        &mut codes,
                    ) {
                        (Some(code), Some(codes)) => {
                            codes.insert(code);
                        }
                        _ => codes = None,
                    }
                }
                codes
            }
            Some(Node::Int(_)) => {
                let code = node.map(fields::exit_code)?;
                self.checker
                    .take(at, code)
                    .map(|code| BTreeSet::from([code]))
            }
            Some(other) => {
                let expected = "an exit code (0-255) or a list of them";
                self.checker.error(at, wrong(other, expected));
                None
            }
        }
    }

    /// `backoff: {initial, max, factor}` (all optional: 1 s, 60 s, 2); absent means
    /// supervisor's linear 1 s, 2 s, 3 s….
    pub(super) fn backoff(&mut self, node: Option<&Node>, at: &At) -> Option<Backoff> {
        let entries = match node {
            None | Some(Node::Null) => return Some(Backoff::Linear),
            Some(Node::Map(entries)) => entries,
            Some(other) => {
                let expected = "a mapping with initial, max (seconds) and factor";
                self.checker.error(at, wrong(other, expected));
                return None;
            }
        };
        self.checker.unknown_keys(
            entries,
            at,
            &["initial", "max", "factor"],
            "backoff setting",
        );
        let map = node?;
        let c = &mut self.checker;
        let initial = c.field(map, at, "initial", Duration::from_secs(1), fields::seconds);
        let max = c.field(map, at, "max", Duration::from_secs(60), fields::seconds);
        let factor = c.field(map, at, "factor", 2.0, fields::factor);
        let (initial, max, factor) = (initial?, max?, factor?);
        self.max_at_least_initial(at, initial, max)?;
        if entries
            .iter()
            .any(|(k, _)| !["initial", "max", "factor"].contains(&k.as_str()))
        {
            return None;
        }
        Some(Backoff::Exponential {
            initial,
            max,
            factor,
        })
    }

    /// `max` of a `backoff` or `restart_throttle` must not be below its `initial`:
    /// an error at `at.max` otherwise (`None`, for `?`).
    fn max_at_least_initial(&mut self, at: &At, initial: Duration, max: Duration) -> Option<()> {
        if max >= initial {
            return Some(());
        }
        let message = format!(
            "found {}, expected a maximum ≥ initial ({} s)",
            max.as_secs_f64(),
            initial.as_secs_f64()
        );
        self.checker.error(&at.key("max"), message);
        None
    }

    /// `restart_throttle`: `false`, `true` (the defaults) or `{after, initial, max}`
    /// (each optional: 3, 0.1 s, 10 s). `Some(None)` is `false`.
    pub(super) fn restart_throttle(
        &mut self,
        node: Option<&Node>,
        at: &At,
    ) -> Option<Option<RestartThrottle>> {
        const KEYS: [&str; 3] = ["after", "initial", "max"];
        let defaults = RestartThrottle::default();
        let entries = match node {
            None | Some(Node::Null) => return Some(Some(defaults)),
            Some(Node::Map(entries)) => entries,
            Some(other) => {
                let expected = "true, false or a mapping with after, initial and max (seconds)";
                let on = fields::boolean(other).map_err(|_| wrong(other, expected));
                return self.checker.take(at, on).map(|on| on.then_some(defaults));
            }
        };
        self.checker
            .unknown_keys(entries, at, &KEYS, "restart_throttle setting");
        let map = node?;
        let c = &mut self.checker;
        let after = c.field(map, at, "after", defaults.after, |n| fields::integer(n, 0));
        let initial = c.field(map, at, "initial", defaults.initial, fields::seconds);
        let max = c.field(map, at, "max", defaults.max, fields::seconds);
        let (after, initial, max) = (after?, initial?, max?);
        if initial.is_zero() {
            let message = "found 0, expected a number of seconds > 0 \
                           (restart_throttle: false turns the throttle off)";
            self.checker.error(&at.key("initial"), message);
            return None;
        }
        self.max_at_least_initial(at, initial, max)?;
        if entries.iter().any(|(k, _)| !KEYS.contains(&k.as_str())) {
            return None;
        }
        Some(Some(RestartThrottle {
            after,
            initial,
            max,
        }))
    }

    pub(super) fn env(&mut self, node: Option<&Node>, at: &At) -> Option<BTreeMap<String, String>> {
        let entries = match node {
            None | Some(Node::Null) => return Some(BTreeMap::new()),
            Some(Node::Map(entries)) => entries,
            Some(other) => {
                let expected = "a mapping of variable names to values";
                self.checker.error(at, wrong(other, expected));
                return None;
            }
        };
        let mut env = Some(BTreeMap::new());
        for (name, value) in entries {
            let at = at.key(name);
            let named = fields::env_name(name)
                .map_err(|message| self.checker.key_error(&at, message))
                .ok();
            let value = self.checker.take(&at, fields::env_value(value));
            match (named, value, env.as_mut()) {
                (Some(()), Some(value), Some(env)) => {
                    env.insert(name.clone(), value);
                }
                _ => env = None,
            }
        }
        env
    }
}
