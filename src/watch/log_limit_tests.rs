//! The limiter as a pure function of timestamps.

use super::*;
use std::time::{Duration, Instant};

const EXIT1: LineKind = LineKind::Exited {
    status: ExitStatus::Code(1),
    expected: false,
};

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

/// One crash-loop cycle (spawned, RUNNING, exited) at `now`; how many lines written.
fn cycle(l: &mut LogLimit, now: Instant, summaries: &mut Vec<Suppressed>) -> usize {
    let mut written = 0;
    for kind in [LineKind::Spawned, LineKind::Running, EXIT1] {
        let (summary, write) = l.admit(kind, now);
        summaries.extend(summary);
        written += usize::from(write);
    }
    written
}

#[test]
fn the_first_lines_of_each_kind_in_a_second_are_written_the_rest_counted() {
    let (t0, mut l, mut s) = (Instant::now(), LogLimit::default(), Vec::new());
    let written: usize = (0..100).map(|i| cycle(&mut l, ms(t0, i), &mut s)).sum();
    assert_eq!(written, 3 * WRITTEN_PER_SECOND as usize);
    assert!(s.is_empty(), "no summary within the second");
    assert_eq!(l.due(), Some(ms(t0, 1000)));
    assert_eq!(l.flush_due(ms(t0, 999)), None);
    let summary = l
        .flush_due(ms(t0, 1000))
        .expect("a summary at the second's end");
    assert_eq!(
        summary,
        Suppressed {
            spawned: 97,
            running: 97,
            exits: vec![(ExitStatus::Code(1), false, 97)],
            other_exits: 0,
            outlived: 0,
        }
    );
    assert_eq!(l.due(), None);
}

#[test]
fn the_next_line_after_the_second_brings_the_summary_and_a_fresh_allowance() {
    let (t0, mut l, mut s) = (Instant::now(), LogLimit::default(), Vec::new());
    for i in 0..10 {
        cycle(&mut l, ms(t0, i), &mut s);
    }
    // The watcher did not wake at the due time: the next line flushes first.
    let (summary, write) = l.admit(LineKind::Spawned, ms(t0, 1500));
    assert_eq!(summary.map(|s| s.spawned), Some(7));
    assert!(write);
    assert_eq!(l.due(), None, "nothing suppressed in the new window yet");
}

#[test]
fn an_early_flush_keeps_the_window_and_its_spent_allowance() {
    let (t0, mut l, mut s) = (Instant::now(), LogLimit::default(), Vec::new());
    for i in 0..10 {
        cycle(&mut l, ms(t0, i), &mut s);
    }
    // A stop: the summary comes out before the stop's own line.
    assert_eq!(l.flush().map(|s| s.running), Some(7));
    assert_eq!(l.flush(), None);
    assert_eq!(l.due(), None);
    // Still in the same second: still counted, not written.
    assert!(!l.admit(LineKind::Spawned, ms(t0, 20)).1);
    assert_eq!(l.due(), Some(ms(t0, 1000)));
}

#[test]
fn a_slow_program_is_never_limited() {
    let (t0, mut l, mut s) = (Instant::now(), LogLimit::default(), Vec::new());
    let written: usize = (0..50)
        .map(|i| cycle(&mut l, ms(t0, i * 400), &mut s))
        .sum();
    assert_eq!(written, 150);
    assert!(s.is_empty());
    assert_eq!(l.due(), None);
}

#[test]
fn exit_statuses_are_told_apart_up_to_a_bound() {
    let (t0, mut l) = (Instant::now(), LogLimit::default());
    for code in 0..10 {
        for _ in 0..(WRITTEN_PER_SECOND + 2) {
            l.admit(
                LineKind::Exited {
                    status: ExitStatus::Code(code),
                    expected: false,
                },
                t0,
            );
        }
    }
    let s = l.flush_due(ms(t0, 1000)).expect("summary");
    // 50 exits, 3 written: the first status kept 2 of its 5, the others all 5.
    assert_eq!(s.exits.len(), EXIT_KINDS);
    let counted: u64 = s.exits.iter().map(|e| e.2).sum::<u64>() + s.other_exits;
    assert_eq!(counted, 50 - u64::from(WRITTEN_PER_SECOND));
}

#[test]
fn only_the_repeated_kinds_are_limited() {
    assert_eq!(LineKind::of(&Report::Killed), None);
    assert_eq!(LineKind::of(&Report::GaveUp { pid: None }), None);
    assert_eq!(
        LineKind::of(&Report::StopRequested {
            signal: nix::sys::signal::Signal::SIGTERM
        }),
        None
    );
    assert_eq!(
        LineKind::of(&Report::Spawned { pid: 1 }),
        Some(LineKind::Spawned)
    );
}

#[test]
fn groups_outliving_their_leader_are_limited_and_summarised_too() {
    let (t0, mut l) = (Instant::now(), LogLimit::default());
    let written = (0..10)
        .filter(|&i| l.admit(LineKind::Outlived, ms(t0, i)).1)
        .count();
    assert_eq!(written, WRITTEN_PER_SECOND as usize);
    let summary = l.flush_due(ms(t0, 1000)).expect("a summary");
    assert_eq!(summary.outlived, 10 - u64::from(WRITTEN_PER_SECOND));
}
