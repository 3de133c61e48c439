//! Supervising one instance: the pure state machine, the watcher thread that drives
//! it, and the spawn path (posix_spawn plus the exec helper).

mod child_signals;
pub mod handle;
pub mod handover;
pub mod handover_output;
pub mod handover_state;
mod health;
pub mod helper;
pub mod instance;
mod leftover;
mod log_limit;
pub mod spawn;
mod spawn_slots;
pub mod spawner;
pub mod state;
pub mod stdin;
mod timeout;
mod unpumped;
pub mod watcher;

pub use handle::{SignalOutcome, StartOutcome, StartTicket, StopOutcome, StopTicket};
pub use instance::{ChildInput, Command, InputTarget, Instance, Status};
pub use log_limit::Suppressed;
pub use state::{ExitStatus, State};
pub use watcher::start_watcher;
