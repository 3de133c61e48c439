//! The random program model: the kinds of program the run mixes, their settings as
//! the config edits change them, and the YAML config rendered from them.

use std::path::Path;

use crate::common::rng::Rng;
use crate::common::*;

/// Bytes written by one run of the flood program.
pub const FLOOD_BYTES: u64 = 64 << 20;
/// The flood's pattern period (testprog: byte i is i % 251).
pub const PERIOD: usize = 251;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Steady,
    Crash,
    Quick,
    Stubborn,
    Chatty,
    Forker,
    ForkerIgnore,
    Flood,
}

impl Kind {
    /// Programs whose processes never exit on their own: every kill -9 of one is
    /// an exit by SIGKILL the log must show.
    pub fn persistent(self) -> bool {
        matches!(
            self,
            Kind::Steady | Kind::Stubborn | Kind::Chatty | Kind::Forker | Kind::ForkerIgnore
        )
    }
}

#[derive(Clone, Debug)]
pub struct Prog {
    pub name: String,
    pub kind: Kind,
    pub numprocs: u32,
    pub autostart: bool,
    pub autorestart: &'static str,
    pub exitcodes: &'static str,
    pub startretries: u32,
    pub starttime: f64,
    pub stoptime: f64,
    pub stopsignal: &'static str,
    /// Launch fields the edits play with.
    pub gen: u32,
    pub umask: Option<&'static str>,
    pub crash_after: f64,
}

impl Prog {
    pub fn new(name: String, kind: Kind, numprocs: u32, rng: &mut Rng) -> Prog {
        let (autorestart, starttime) = match kind {
            Kind::Steady => ("always", 0.2),
            Kind::Quick => ("always", 0.0),
            Kind::Flood => ("never", 0.0),
            Kind::Crash | Kind::Forker | Kind::ForkerIgnore => ("unexpected", 0.3),
            Kind::Stubborn | Kind::Chatty => ("unexpected", 0.2),
        };
        Prog {
            name,
            kind,
            numprocs,
            autostart: true,
            autorestart,
            exitcodes: "[0]",
            startretries: 3,
            starttime,
            stoptime: 0.5,
            stopsignal: "TERM",
            gen: 0,
            umask: None,
            crash_after: 1.0 + rng.range(0, 9) as f64 / 10.0,
        }
    }

    pub fn cmd(&self, testprog: &str, dir: &Path) -> String {
        let dir = dir.display();
        match self.kind {
            Kind::Steady => format!("{testprog} sleep"),
            Kind::Crash => format!("{testprog} exit 1 {}", self.crash_after),
            Kind::Quick => format!("{testprog} exit 0 0.4"),
            Kind::Stubborn => format!("{testprog} ignore-term"),
            Kind::Chatty => format!("{testprog} chatty"),
            // `exec` keeps the shell's pid, so the PIDFILE is named by the instance's pid.
            Kind::Forker => format!("sh -c 'exec {testprog} fork 2 {dir}/pidf.$$'"),
            Kind::ForkerIgnore => format!("sh -c 'exec {testprog} fork-ignore 2 {dir}/pidf.$$'"),
            Kind::Flood => format!("{testprog} flood {FLOOD_BYTES}"),
        }
    }

    pub fn instance_names(&self) -> Vec<String> {
        if self.numprocs == 1 {
            vec![self.name.clone()]
        } else {
            (0..self.numprocs)
                .map(|k| format!("{}:{k}", self.name))
                .collect()
        }
    }
}

pub fn render(progs: &[Prog], dir: &Path, token: &str) -> String {
    let mut y = String::from("programs:\n");
    for p in progs {
        y.push_str(&format!("  {}:\n", p.name));
        y.push_str(&format!("    cmd: \"{}\"\n", p.cmd(testprog(), dir)));
        y.push_str(&format!("    numprocs: {}\n", p.numprocs));
        y.push_str(&format!("    autostart: {}\n", p.autostart));
        y.push_str(&format!("    autorestart: {}\n", p.autorestart));
        y.push_str(&format!("    exitcodes: {}\n", p.exitcodes));
        y.push_str(&format!("    startretries: {}\n", p.startretries));
        y.push_str(&format!("    starttime: {}\n", p.starttime));
        y.push_str(&format!("    stoptime: {}\n", p.stoptime));
        y.push_str(&format!("    stopsignal: {}\n", p.stopsignal));
        y.push_str(&format!(
            "    env: {{CHAOS_MARK: \"{token}\", CHAOS_GEN: \"{}\"}}\n",
            p.gen
        ));
        if let Some(u) = p.umask {
            y.push_str(&format!("    umask: \"{u}\"\n"));
        }
        let out = match p.kind {
            Kind::Chatty => Some(format!("{}.out", p.name)),
            Kind::Flood => Some("flood.out".to_string()),
            _ => None,
        };
        if let Some(out) = out {
            let path = dir.join(out);
            y.push_str(&format!("    stdout: {}\n", path.display()));
            y.push_str(&format!("    stderr: {}\n", path.display()));
        }
    }
    y
}

/// The initial programs: `instances` in all, the flood among them.
pub fn initial_programs(instances: usize, rng: &mut Rng) -> Vec<Prog> {
    const KINDS: [Kind; 8] = [
        Kind::Steady,
        Kind::Crash,
        Kind::Quick,
        Kind::Stubborn,
        Kind::Chatty,
        Kind::Forker,
        Kind::Steady,
        Kind::ForkerIgnore,
    ];
    const NUMPROCS: [u32; 6] = [3, 2, 1, 4, 2, 3];
    let mut progs = vec![Prog::new("flood".into(), Kind::Flood, 1, rng)];
    let mut left = instances.saturating_sub(1) as u32;
    let mut n = 0;
    while left > 0 {
        let kind = KINDS[n % KINDS.len()];
        let numprocs = NUMPROCS[n % NUMPROCS.len()].min(left);
        let tag = match kind {
            Kind::Steady => "steady",
            Kind::Crash => "crash",
            Kind::Quick => "quick",
            Kind::Stubborn => "stub",
            Kind::Chatty => "chat",
            Kind::Forker => "fork",
            Kind::ForkerIgnore => "forki",
            Kind::Flood => "flood",
        };
        progs.push(Prog::new(format!("{tag}_{n}"), kind, numprocs, rng));
        left -= numprocs;
        n += 1;
    }
    progs
}
