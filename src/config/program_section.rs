//! One program's section — part of the walk in `load.rs`: every field checked and
//! defaults filled in, and the settings made of several values: `exitcodes` (one
//! or many), `backoff` and `restart_throttle` (small mappings) and `env` (names to
//! scalars).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::check::{wrong, At, Checker};
use super::fields;
use super::healthcheck;
use super::load::{Walk, PROGRAM_KEYS};
use super::model::{
    Backoff, ExecForm, LaunchSpec, OutputTarget, Policy, ProgramConfig, RestartThrottle, Rotation,
};
use super::resolve;
use super::tree::Node;

impl Walk<'_> {
    /// One program: every field checked, defaults filled in. `raw_umask` is how
    /// an integer `umask` was written (`0o22` or `22`), looked up beforehand for
    /// all programs at once.
    pub(super) fn program(
        &mut self,
        name: &str,
        node: &Node,
        at: &At,
        raw_umask: Option<&str>,
    ) -> Option<ProgramConfig> {
        let Node::Map(entries) = node else {
            let expected = "a mapping of program settings (at least `cmd`)";
            self.checker.error(at, wrong(node, expected));
            return None;
        };
        self.checker
            .unknown_keys(entries, at, PROGRAM_KEYS, "field");
        let defaults = Policy::default();
        let (dir, euid) = (self.dir, self.system.euid);
        let c = &mut self.checker;
        let cmd = match node.get("cmd") {
            Some(cmd) => c.take(&at.key("cmd"), fields::command(cmd)),
            None => {
                c.key_error(at, "missing required field `cmd` (the command to run)");
                None
            }
        };
        let numprocs = c.field(node, at, "numprocs", 1, |n| {
            fields::bounded(n, 1, fields::MAX_NUMPROCS.into())
        });
        let autostart = c.field(node, at, "autostart", defaults.autostart, fields::boolean);
        let autorestart = c.field(
            node,
            at,
            "autorestart",
            defaults.autorestart,
            fields::autorestart,
        );
        let priority = c.field(node, at, "priority", defaults.priority, |n| {
            fields::integer(n, -999_999)
        });
        let depends_on = healthcheck::depends_on(c, node.get("depends_on"), &at.key("depends_on"));
        let health = healthcheck::healthcheck(c, node.get("healthcheck"), &at.key("healthcheck"));
        let startretries = c.field(
            node,
            at,
            "startretries",
            defaults.startretries,
            fields::retries,
        );
        let starttime = c.field(node, at, "starttime", defaults.starttime, fields::seconds);
        let stopsignal = c.field(node, at, "stopsignal", defaults.stopsignal, fields::signal);
        let stoptime = c.field(node, at, "stoptime", defaults.stoptime, fields::seconds);
        let max_memory = c.field(node, at, "max_memory", None, fields::memory_limit);
        let pidfile = c.field(node, at, "pidfile", None, |n| {
            resolve::path(n, dir).map(Some)
        });
        let discard = OutputTarget::Discard;
        let stdout = c.field(node, at, "stdout", discard.clone(), |n| {
            resolve::output(n, dir)
        });
        let stderr = c.field(node, at, "stderr", discard, |n| resolve::output(n, dir));
        let rotation = |c: &mut Checker, stream: &str| -> Option<Rotation> {
            let maxbytes = c.field(node, at, &format!("{stream}_maxbytes"), 0, fields::bytes);
            let backups = c.field(node, at, &format!("{stream}_backups"), 0, |n| {
                fields::bounded(n, 0, fields::MAX_BACKUPS.into())
            });
            Some(Rotation {
                maxbytes: maxbytes?,
                backups: backups?,
            })
        };
        let timestamps = c.field(node, at, "timestamps", false, fields::boolean);
        let stdout_rotation = rotation(c, "stdout");
        let stderr_rotation = rotation(c, "stderr");
        let workingdir = c.field(node, at, "workingdir", dir.to_path_buf(), |n| {
            resolve::workingdir(n, dir)
        });
        let umask = c.field(node, at, "umask", None, |n| {
            fields::umask(n, raw_umask).map(Some)
        });
        let pty = c.field(node, at, "pty", false, fields::boolean);
        let user = c.field(node, at, "user", None, |n| resolve::user(n, euid).map(Some));
        let exitcodes = self.exitcodes(node.get("exitcodes"), &at.key("exitcodes"));
        let backoff = self.backoff(node.get("backoff"), &at.key("backoff"));
        let throttle = node.get("restart_throttle");
        let restart_throttle = self.restart_throttle(throttle, &at.key("restart_throttle"));
        let env = self.env(node.get("env"), &at.key("env"));
        let (cmd, argv) = cmd?;
        let (depends_on, depends_on_healthy) = depends_on?;
        let (env, workingdir) = (env?, workingdir?);
        let exec = match ExecForm::new(&argv, &env, &workingdir) {
            Ok(exec) => exec,
            Err((field, message)) => {
                self.checker.error(&at.key(field), message);
                return None;
            }
        };
        Some(ProgramConfig {
            name: name.to_string(),
            numprocs: numprocs?,
            launch: LaunchSpec {
                cmd,
                argv,
                env,
                workingdir,
                umask: umask?,
                stdout: stdout?,
                stderr: stderr?,
                stdout_rotation: stdout_rotation?,
                stderr_rotation: stderr_rotation?,
                timestamps: timestamps?,
                pty: pty?,
                user: user?,
                exec,
            },
            policy: Policy {
                autostart: autostart?,
                autorestart: autorestart?,
                exitcodes: exitcodes?,
                startretries: startretries?,
                priority: priority?,
                depends_on,
                depends_on_healthy,
                healthcheck: health?,
                backoff: backoff?,
                starttime: starttime?,
                stopsignal: stopsignal?,
                stoptime: stoptime?,
                restart_throttle: restart_throttle?,
                max_memory: max_memory?,
                pidfile: pidfile?,
            },
        })
    }

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
