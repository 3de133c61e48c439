//! The parts of an instance's [`Machine`] that features beside the core state
//! keep — a health check's verdict, a `pidfile` start's phase — in the hand-over
//! record of an upgrade in place (`handover.rs`), so that after it checks go on
//! and a daemonizing program is still followed. Optional in the record: one
//! written before they existed reads as "none".

use serde::{Deserialize, Serialize};

use super::handover::{Clock, RecordError};
use super::state::pidfile::Phase;
use super::state::{Health, HealthState};

/// [`Health`], its state by name.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct HealthRecord {
    pub state: String,
    pub failures: u32,
    pub reason: Option<String>,
}

impl HealthRecord {
    /// `None` while no check is due (the health is unset).
    pub fn of(health: &Health) -> Option<HealthRecord> {
        health.state.map(|state| HealthRecord {
            state: state.name().to_string(),
            failures: health.failures,
            reason: health.reason.clone(),
        })
    }

    pub fn restore(record: Option<&HealthRecord>) -> Result<Health, RecordError> {
        let Some(record) = record else {
            return Ok(Health::default());
        };
        let state = (HealthState::ALL.into_iter())
            .find(|s| s.name() == record.state)
            .ok_or_else(|| RecordError(format!("unknown health '{}'", record.state)))?;
        Ok(Health {
            state: Some(state),
            failures: record.failures,
            reason: record.reason.clone(),
        })
    }
}

/// [`Phase`], its deadline as a [`Clock`] offset.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum PidFileRecord {
    Launching,
    Reading { launcher: i32, until: i64 },
    Following,
}

impl PidFileRecord {
    /// `None` for a start without a pid file.
    pub fn of(phase: &Phase, clock: &Clock) -> Option<PidFileRecord> {
        match *phase {
            Phase::Off => None,
            Phase::Launching => Some(PidFileRecord::Launching),
            Phase::Reading { launcher, until } => Some(PidFileRecord::Reading {
                launcher,
                until: clock.offset(until),
            }),
            Phase::Following => Some(PidFileRecord::Following),
        }
    }

    pub fn restore(record: Option<&PidFileRecord>, clock: &Clock) -> Phase {
        match record {
            None => Phase::Off,
            Some(PidFileRecord::Launching) => Phase::Launching,
            Some(&PidFileRecord::Reading { launcher, until }) => Phase::Reading {
                launcher,
                until: clock.instant(until),
            },
            Some(PidFileRecord::Following) => Phase::Following,
        }
    }
}
