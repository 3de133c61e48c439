//! What a process group uses — CPU time, resident memory, threads — read from
//! `/proc` when someone asks (`status`), never in the background: an idle daemon
//! still does no work.
//!
//! An instance's child leads its own process group, and what it forks stays in it
//! (unless it makes a group of its own), so an instance's usage is its group's:
//! one pass over `/proc/*/stat` sorts every process on the machine into the groups
//! asked for. Each `stat` line has all the fields needed; a process that ends
//! during the pass is simply not counted.

use std::collections::HashMap;
use std::os::fd::OwnedFd;

/// The fields of `/proc/PID/stat` used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    /// `R`, `S`, `Z`…
    pub state: char,
    pub pgrp: i32,
    /// User and system time of the process itself, in clock ticks.
    pub cpu_ticks: u64,
    /// User and system time of its children that it waited for, in clock ticks.
    pub reaped_children_ticks: u64,
    pub threads: u64,
    /// When it started, in clock ticks since boot.
    pub start_ticks: u64,
    pub rss_pages: u64,
}

/// Parses one `/proc/PID/stat` line. The command name (field 2) may hold spaces,
/// parentheses and bytes that are not UTF-8, so the fields are counted from its
/// last `)` and the line is read as bytes.
pub fn parse_stat(line: impl AsRef<[u8]>) -> Option<ProcStat> {
    let line = line.as_ref();
    let open = line.iter().position(|&b| b == b'(')?;
    let pid = number_in(line.get(..open)?.trim_ascii())?;
    // Numbered as in proc(5): field 3 (the state) is the first after the name.
    // Into an array, not a Vec: the status scan parses one line per process.
    let mut fields = [""; 22];
    let mut count = 0;
    for (slot, field) in fields
        .iter_mut()
        .zip(after_name(line)?.split_ascii_whitespace())
    {
        *slot = field;
        count += 1;
    }
    if count < fields.len() {
        return None;
    }
    let number = |n: usize| fields[n - 3].parse::<u64>().ok();
    Some(ProcStat {
        pid: i32::try_from(pid).ok()?,
        state: fields[0].chars().next()?,
        pgrp: i32::try_from(number(5)?).ok()?,
        cpu_ticks: number(14)? + number(15)?,
        reaped_children_ticks: number(16)? + number(17)?,
        threads: number(20)?,
        start_ticks: number(22)?,
        rss_pages: number(24)?,
    })
}

impl ProcStat {
    /// Exited: a zombie waiting to be reaped (`Z`), or on its way out (`X`).
    pub fn exited(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// The fields of a `/proc/PID/stat` line after the command name (from the state
/// on), which are ASCII whatever bytes the name holds: every reader of a `stat`
/// line starts here, so a process named in bytes that are not UTF-8 is still seen.
pub fn after_name(line: &[u8]) -> Option<&str> {
    let close = line.iter().rposition(|&b| b == b')')?;
    std::str::from_utf8(line.get(close + 1..)?).ok()
}

/// A field of digits as a number (a negative or garbled one is none).
fn number_in(field: &[u8]) -> Option<u64> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Longer than any `stat` line: 52 numeric fields and a name of at most 64 bytes.
const STAT_BUFFER: usize = 2048;

const READ_ONLY: nix::fcntl::OFlag =
    nix::fcntl::OFlag::O_RDONLY.union(nix::fcntl::OFlag::O_CLOEXEC);

/// The `stat` line of the open `fd`, read at once into `buf`: one read and no
/// allocation, where `read_to_string` also asks the size, reads again for the end
/// and allocates. `status` reads one for every process on the machine.
fn stat_of(fd: OwnedFd, buf: &mut [u8; STAT_BUFFER]) -> Option<ProcStat> {
    let n = nix::unistd::read(&fd, buf).ok()?;
    // A whole buffer would mean a line cut short: not believed.
    parse_stat(buf.get(..n).filter(|_| n < STAT_BUFFER)?)
}

/// `/proc/PID/stat` of `pid`, if it still exists.
pub fn read_stat(pid: i32) -> Option<ProcStat> {
    let path = format!("/proc/{pid}/stat");
    let fd = nix::fcntl::open(path.as_str(), READ_ONLY, nix::sys::stat::Mode::empty()).ok()?;
    stat_of(fd, &mut [0; STAT_BUFFER])
}

/// What one process group uses now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupUsage {
    /// Live members (zombies are not counted).
    pub processes: u64,
    pub threads: u64,
    pub rss_bytes: u64,
    /// CPU time of the live members, and of the children they reaped, in ticks.
    pub cpu_ticks: u64,
}

impl GroupUsage {
    fn add(&mut self, stat: &ProcStat, page_size: u64) {
        self.processes += 1;
        self.threads += stat.threads;
        self.rss_bytes += stat.rss_pages * page_size;
        self.cpu_ticks += stat.cpu_ticks + stat.reaped_children_ticks;
    }
}

/// The usage of each group in `pgids` (groups with no live member are absent),
/// in one pass over `/proc`.
pub fn group_usage(pgids: &[i32]) -> HashMap<i32, GroupUsage> {
    let mut usage: HashMap<i32, GroupUsage> = HashMap::with_capacity(pgids.len());
    if pgids.is_empty() {
        return usage;
    }
    let wanted: std::collections::HashSet<i32> = pgids.iter().copied().collect();
    let page_size = page_size();
    let Ok(mut dir) = nix::dir::Dir::open(
        "/proc",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) else {
        return usage;
    };
    // The directory's own descriptor, for the `openat`s: iterating borrows `dir`.
    let Ok(proc) = nix::unistd::dup(&dir) else {
        return usage;
    };
    let mut buf = [0u8; STAT_BUFFER];
    let mut path = String::new();
    for entry in dir.iter().flatten() {
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if !name.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        // Relative to `/proc` held open: no walk from the root for each process.
        path.clear();
        path.push_str(name);
        path.push_str("/stat");
        let opened = nix::fcntl::openat(
            &proc,
            path.as_str(),
            READ_ONLY,
            nix::sys::stat::Mode::empty(),
        );
        let Some(stat) = opened.ok().and_then(|fd| stat_of(fd, &mut buf)) else {
            continue;
        };
        if wanted.contains(&stat.pgrp) && !stat.exited() {
            usage.entry(stat.pgrp).or_default().add(&stat, page_size);
        }
    }
    usage
}

/// Seconds since boot (`/proc/uptime`), the clock of [`ProcStat::start_ticks`].
pub fn seconds_since_boot() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/uptime").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Clock ticks per second (`_SC_CLK_TCK`), 100 if unknown.
pub fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// The size of a memory page (`_SC_PAGESIZE`), 4096 if unknown.
pub fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096)
}

/// How many descriptors `pid` has open, if it can be read.
pub fn fd_count(pid: i32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_is_read_from_after_the_command_name() {
        // A name with a space and a parenthesis, as a program may set.
        let line = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    7 3 11 2 20 0 5 0 12345 10000000 321 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(
            stat,
            ProcStat {
                pid: 4242,
                state: 'S',
                pgrp: 4242,
                cpu_ticks: 10,
                reaped_children_ticks: 13,
                threads: 5,
                start_ticks: 12345,
                rss_pages: 321,
            }
        );
    }

    #[test]
    fn a_short_or_garbled_line_is_no_stat() {
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
        assert_eq!(
            parse_stat("x (y) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22"),
            None
        );
    }

    #[test]
    fn our_own_group_is_found_with_our_memory_and_threads() {
        let me = std::process::id() as i32;
        let own = read_stat(me).unwrap();
        let usage = group_usage(&[own.pgrp]);
        let group = usage.get(&own.pgrp).unwrap();
        assert!(group.processes >= 1);
        assert!(group.threads >= 1);
        assert!(group.rss_bytes > 0);
        assert!(fd_count(me).unwrap() >= 3);
    }

    #[test]
    fn a_process_whose_name_is_not_utf8_is_counted() {
        let sleep = crate::testutil::OddlyNamedSleep::start();
        let pgid = sleep.pid();
        let usage = group_usage(&[pgid]);
        assert_eq!(usage.get(&pgid).map(|u| u.processes), Some(1));
        assert_eq!(read_stat(pgid).map(|s| s.pgrp), Some(pgid));
    }

    #[test]
    fn a_group_with_no_process_is_absent() {
        // No pid is ever 0 of a live user group; a huge one is unallocated.
        assert!(group_usage(&[i32::MAX]).is_empty());
        assert!(group_usage(&[]).is_empty());
    }
}
