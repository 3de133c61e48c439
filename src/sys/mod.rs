//! The daemon's dealings with the kernel that are not a feature of their own,
//! one concern per module so a reader finds a call by what it is for. The calls
//! themselves come from nix and rustix; what neither crate has is hand-written
//! and listed in docs/ARCHITECTURE.md ("Hand-written system calls").

pub mod fds;
pub mod group_memory;
pub mod malloc;
pub mod pidfd;
pub mod proc_stat;
pub mod process_group;
pub mod sd_notify;
pub mod signals;
pub mod subreaper;
pub mod time;
pub mod wake;
