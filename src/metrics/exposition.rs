//! What a scrape answers (README: Metrics): every instance as `status` sees it
//! at that moment — its status, and its group's CPU and memory from the same
//! `/proc` sampler — and the daemon's counts, encoded in Prometheus's text format
//! (version 0.0.4, which `promtool check metrics` reads) by prometheus-client.
//!
//! Nothing is kept between scrapes: the values are read when asked, so a daemon
//! nobody scrapes does no work for its metrics.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::counters::Counts;
use crate::resources::Usage;
use crate::supervisor::Supervisor;
use crate::watch::state::HealthState;
use crate::watch::{ExitStatus, State};

/// The `Content-Type` of the answer.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// One instance at the moment of the scrape.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sample {
    pub program: String,
    pub name: String,
    pub state: State,
    pub restarts: u32,
    pub last_exit: Option<ExitStatus>,
    /// Seconds since its process was spawned (STARTING, RUNNING), else 0.
    pub uptime: f64,
    /// Its process group's, while one lives.
    pub usage: Option<Usage>,
    /// While RUNNING under a `healthcheck`: its health.
    pub health: Option<HealthState>,
}

/// Everything one scrape shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Scrape {
    pub instances: Vec<Sample>,
    pub counts: Counts,
}

/// The page for `sup` now.
pub(super) fn page(sup: &Supervisor) -> Result<String, std::fmt::Error> {
    encode(read(sup))
}

/// Reads every instance's status, then the usage of the live groups in one
/// pass over `/proc` (the sampler `status` uses: at most one pass a second).
fn read(sup: &Supervisor) -> Scrape {
    let rows: Vec<_> = (sup.instances().into_iter())
        .map(|i| (i.program.clone(), i.name(), i.status()))
        .collect();
    let pgids: Vec<i32> = rows.iter().filter_map(|(_, _, s)| s.pid).collect();
    let usage = sup.resources().usage(&pgids);
    let instances = rows
        .into_iter()
        .map(|(program, name, s)| Sample {
            program,
            name,
            state: s.state,
            restarts: s.restarts,
            last_exit: s.last_exit,
            uptime: s.uptime().map_or(0.0, |d| d.as_secs_f64()),
            usage: s.pid.and_then(|pid| usage.get(&pid).copied()),
            health: s.health,
        })
        .collect();
    Scrape {
        instances,
        counts: sup.hub().counters().counts(),
    }
}

/// The text of `scrape`.
pub(super) fn encode(scrape: Scrape) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

/// An instance's labels: `program`, and `name` as `status` shows it (`web:0`).
/// Not `instance`: Prometheus gives every series it scrapes an `instance` label
/// of its own (the target), and would rename ours.
fn labels(s: &Sample) -> [(&'static str, &str); 2] {
    [("program", s.program.as_str()), ("name", s.name.as_str())]
}

impl Scrape {
    /// One family of instance series: `value` of each instance that has one.
    fn family<M: EncodeMetric>(
        &self,
        encoder: &mut DescriptorEncoder,
        (name, help, unit, kind): (&str, &str, Option<&Unit>, MetricType),
        value: impl Fn(&Sample) -> Option<M>,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, unit, kind)?;
        for sample in &self.instances {
            if let Some(metric) = value(sample) {
                metric.encode(family.encode_family(&labels(sample))?)?;
            }
        }
        Ok(())
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let e = &mut encoder;
        let mut state = e.encode_descriptor(
            "taskmaster_instance_state",
            "1 for the state the instance is in, 0 for the six others",
            None,
            Gauge,
        )?;
        for sample in &self.instances {
            for s in State::ALL {
                let [program, name] = labels(sample);
                let set = [program, name, ("state", s.name())];
                ConstGauge::new(i64::from(sample.state == s)).encode(state.encode_family(&set)?)?;
            }
        }
        let gauge = |v: i64| Some(ConstGauge::new(v));
        self.family(
            e,
            (
                "taskmaster_instance_up",
                "1 while the instance is RUNNING, else 0",
                None,
                Gauge,
            ),
            |s| gauge(i64::from(s.state == State::Running)),
        )?;
        self.family(
            e,
            (
                "taskmaster_instance_restarts",
                "Automatic spawns (autorestarts, retries) since the last manual start",
                None,
                Counter,
            ),
            |s| Some(ConstCounter::new(u64::from(s.restarts))),
        )?;
        self.family(
            e,
            (
                "taskmaster_instance_last_exit_code",
                "Exit code of the instance's last process, if it exited with one",
                None,
                Gauge,
            ),
            |s| match s.last_exit {
                Some(ExitStatus::Code(code)) => gauge(i64::from(code)),
                _ => None,
            },
        )?;
        self.family(
            e,
            (
                "taskmaster_instance_last_exit_signal",
                "Number of the signal that ended the instance's last process, if one did",
                None,
                Gauge,
            ),
            |s| match s.last_exit {
                Some(ExitStatus::Signal(signal)) => gauge(signal as i64),
                _ => None,
            },
        )?;
        self.family(
            e,
            (
                "taskmaster_instance_uptime",
                "Time since the instance's process was spawned (STARTING, RUNNING), else 0",
                Some(&Unit::Seconds),
                Gauge,
            ),
            |s| Some(ConstGauge::new(s.uptime)),
        )?;
        self.family(
            e,
            (
                "taskmaster_instance_cpu",
                "CPU time used by the instance's process group, while it lives",
                Some(&Unit::Seconds),
                Counter,
            ),
            |s| s.usage.map(|u| ConstCounter::new(u.cpu_seconds)),
        )?;
        self.family(
            e,
            (
                "taskmaster_instance_resident_memory",
                "Resident memory of the instance's process group, while it lives",
                Some(&Unit::Bytes),
                Gauge,
            ),
            |s| {
                s.usage
                    .map(|u| ConstGauge::new(i64::try_from(u.memory_bytes).unwrap_or(i64::MAX)))
            },
        )?;
        self.family(
            e,
            (
                "taskmaster_instance_healthy",
                "1 once a health check passed, 0 while starting or unhealthy; only while RUNNING under a healthcheck",
                None,
                Gauge,
            ),
            |s| s.health.map(|h| ConstGauge::new(i64::from(h == HealthState::Healthy))),
        )?;
        self.daemon_counts(e)
    }
}

impl Scrape {
    /// The daemon's families: reloads, failed reloads, events by kind.
    fn daemon_counts(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = &self.counts;
        for (name, help, value) in [
            (
                "taskmaster_reloads",
                "Configuration changes applied (reload, SIGHUP, update, add, remove)",
                c.reloads,
            ),
            (
                "taskmaster_reload_failures",
                "Reloads that failed or were refused, changing nothing",
                c.failed_reloads,
            ),
        ] {
            let metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(metric)?;
        }
        let mut events = e.encode_descriptor(
            "taskmaster_events",
            "Events since the daemon started, by the kind `taskmasterctl events` gives them",
            None,
            MetricType::Counter,
        )?;
        for (kind, n) in &c.events {
            ConstCounter::new(*n).encode(events.encode_family(&[("kind", *kind)])?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "exposition_tests.rs"]
mod tests;
