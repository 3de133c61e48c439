//! Metrics (README: Metrics): `/metrics` in Prometheus's text format, served
//! when `taskmaster.metrics` says where — off by default: no thread, no socket.
//!
//! * [`counters`] — a subscriber of the hub: the daemon's reloads, failed
//!   reloads and events by kind, counted as they are published (engine side:
//!   it knows no transport).
//! * [`exposition`] — the page: every instance read at the scrape from the
//!   same sources as `status` (its `Status`, the `/proc` sampler), encoded by
//!   prometheus-client.
//! * [`http`] — the listener, a transport beside the control socket.
//!
//! The [`Endpoint`] owns the running listener: started with the daemon,
//! moved, started or stopped by a reload that changes the setting.

mod counters;
mod exposition;
mod http;

use std::sync::Arc;

use log::info;
use parking_lot::Mutex;

pub use counters::{Counts, DaemonCounters};

use crate::config::MetricsSetting;
use crate::supervisor::Supervisor;

/// The metrics listener of the daemon, if the setting asks for one. Its lock
/// is held while the listener is started, moved or stopped (under the
/// reloader's, never the other way round); a scrape never takes it.
pub struct Endpoint {
    sup: Arc<Supervisor>,
    serving: Mutex<Option<Serving>>,
}

struct Serving {
    setting: MetricsSetting,
    listening: http::Listening,
}

impl Endpoint {
    pub fn new(sup: Arc<Supervisor>) -> Endpoint {
        Endpoint {
            sup,
            serving: Mutex::new(None),
        }
    }

    /// At the daemon's start: listens where the configuration says, if it
    /// says so. An address that cannot be taken is an error (the daemon stops).
    pub fn start(&self) -> Result<(), String> {
        let Some(setting) = self.sup.config().daemon.metrics else {
            return Ok(());
        };
        let listening = self.listen(setting)?;
        info!("metrics served on {}", url(&listening));
        *self.serving.lock() = Some(Serving { setting, listening });
        Ok(())
    }

    /// On a reload: makes the listener match `wanted`. Returns the reply's line
    /// when something changed or failed (then it stays as it was, and the next
    /// reload tries again).
    pub fn apply(&self, wanted: Option<MetricsSetting>) -> Option<String> {
        let mut serving = self.serving.lock();
        let current = serving.as_ref().map(|s| s.setting);
        if current == wanted {
            return None;
        }
        let Some(setting) = wanted else {
            if let Some(old) = serving.take() {
                old.listening.stop();
            }
            return Some("taskmaster: metrics no longer served".into());
        };
        // Only `public` changed: the same address, nothing to move.
        if let Some(s) = serving
            .as_mut()
            .filter(|s| s.setting.listen == setting.listen)
        {
            s.setting = setting;
            return None;
        }
        let moved = |listening: http::Listening| {
            let line = format!("taskmaster: metrics served on {}", url(&listening));
            (Some(Serving { setting, listening }), line)
        };
        let (now, line) = match (self.listen(setting), serving.take()) {
            (Ok(new), old) => {
                if let Some(old) = old {
                    old.listening.stop();
                }
                moved(new)
            }
            (Err(e), None) => (None, format!("taskmaster: ERROR ({e}); metrics stay off")),
            // The old address may hold the new one's port (127.0.0.1:9100 to
            // 0.0.0.0:9100): let it go, try again, and take it back on failure.
            (Err(_), Some(old)) => {
                let before = old.setting;
                old.listening.stop();
                match self.listen(setting) {
                    Ok(new) => moved(new),
                    Err(e) => match self.listen(before) {
                        Ok(back) => {
                            let line =
                                format!("taskmaster: ERROR ({e}); metrics stay on {}", url(&back));
                            let serving = Serving {
                                setting: before,
                                listening: back,
                            };
                            (Some(serving), line)
                        }
                        Err(again) => (
                            None,
                            format!("taskmaster: ERROR ({e}; the old address then: {again}); metrics are off"),
                        ),
                    },
                }
            }
        };
        *serving = now;
        Some(line)
    }

    fn listen(&self, setting: MetricsSetting) -> Result<http::Listening, String> {
        let sup = self.sup.clone();
        let page: http::Page = Arc::new(move || exposition::page(&sup).ok());
        http::start(setting.listen, page)
    }
}

fn url(listening: &http::Listening) -> String {
    format!("http://{}/metrics", listening.addr)
}
