//! The event stream's subscriber alone: records, bounded queues, lost counts.

use super::*;
use crate::hub::Hub;

fn state_changed(hub: &Hub, name: &str) {
    hub.publish(&Event::StateChanged {
        name,
        pid: None,
        from: State::Stopped,
        to: State::Starting,
    });
}

fn event(item: Item) -> Arc<EventRecord> {
    match item {
        Item::Event(record) => record,
        other => panic!("not an event: {other:?}"),
    }
}

/// Publishes the crash both the stream's tests and `events`' lines read back:
/// `web`, pid 42, killed by SIGKILL and not expected, then RUNNING -> BACKOFF.
pub(crate) fn publish_a_crash(hub: &Hub) {
    let report = Report::Exited {
        pid: 42,
        status: ExitStatus::Signal(Signal::SIGKILL),
        expected: false,
    };
    hub.publish(&Event::Report {
        name: "web",
        pid: None,
        report: &report,
        policy: &crate::config::Policy::default(),
        write_line: true,
    });
    hub.publish(&Event::StateChanged {
        name: "web",
        pid: Some(42),
        from: State::Running,
        to: State::Backoff,
    });
}

#[test]
fn a_follower_gets_records_with_the_event_logs_words() {
    let hub = Hub::new(vec![]);
    let feed = hub.follow_events();
    publish_a_crash(&hub);
    let exited = event(feed.next().unwrap());
    assert_eq!(exited.kind, "exited");
    assert_eq!(
        (exited.instance.as_deref(), exited.pid),
        (Some("web"), Some(42))
    );
    assert_eq!(exited.exit, Some(ExitStatus::Signal(Signal::SIGKILL)));
    assert_eq!(exited.expected, Some(false));
    assert_eq!(
        exited.message,
        "exited: web (terminated by SIGKILL; not expected)"
    );
    let changed = event(feed.next().unwrap());
    assert_eq!(changed.kind, "state_changed");
    assert_eq!(
        (changed.from, changed.to),
        (Some(State::Running), Some(State::Backoff))
    );
    assert_eq!(changed.message, "web: RUNNING -> BACKOFF");
}

#[test]
fn a_slow_follower_loses_events_and_is_told_how_many_without_holding_up_anyone() {
    let hub = Hub::new(vec![]);
    let feed = hub.follow_events();
    for _ in 0..FOLLOWER_QUEUE + 5 {
        state_changed(&hub, "web");
    }
    for _ in 0..FOLLOWER_QUEUE {
        event(feed.next().unwrap());
    }
    // Read empty: the count of those dropped comes at once.
    assert!(matches!(feed.next(), Ok(Item::Lost(5))));
    state_changed(&hub, "web");
    event(feed.next().unwrap());
    // Dropped, then room for one: the count takes it, ahead of later events (this
    // next one is lost too, and told once the queue is read empty).
    for _ in 0..FOLLOWER_QUEUE + 2 {
        state_changed(&hub, "web");
    }
    event(feed.next().unwrap());
    state_changed(&hub, "web");
    for _ in 0..FOLLOWER_QUEUE - 1 {
        event(feed.next().unwrap());
    }
    assert!(matches!(feed.next(), Ok(Item::Lost(2))));
    assert!(matches!(feed.next(), Ok(Item::Lost(1))));
    // Told before the next event once there is room.
    for _ in 0..FOLLOWER_QUEUE + 1 {
        state_changed(&hub, "web");
    }
    for _ in 0..FOLLOWER_QUEUE {
        event(feed.next().unwrap());
    }
    state_changed(&hub, "web");
    assert!(matches!(feed.next(), Ok(Item::Lost(1))));
    event(feed.next().unwrap());
}

#[test]
fn nobody_following_costs_nothing_and_a_dropped_feed_leaves_at_once() {
    let hub = Hub::new(vec![]);
    assert_eq!(hub.event_followers(), 0);
    let (a, b) = (hub.follow_events(), hub.follow_events());
    assert_eq!(hub.event_followers(), 2);
    drop(a);
    assert_eq!(hub.event_followers(), 1, "gone without any event published");
    let end = b.ender();
    end();
    assert!(matches!(b.next(), Ok(Item::End)));
    drop(b);
    assert_eq!(hub.event_followers(), 0);
}

#[test]
fn daemon_events_have_no_instance() {
    let hub = Hub::new(vec![]);
    let feed = hub.follow_events();
    hub.publish(&Event::ReloadFailed {
        text: "reload failed, nothing changed: bad",
    });
    hub.publish(&Event::SighupReloadFailed { why: "bad" });
    hub.publish(&Event::Reloaded {
        text: "reload applied: 1 added, 0 removed, 0 changed, 2 unchanged",
    });
    let failed = event(feed.next().unwrap());
    assert_eq!(
        (failed.kind, failed.instance.as_deref()),
        ("reload_failed", None)
    );
    assert_eq!(failed.message, "reload failed, nothing changed: bad");
    let applied = event(feed.next().unwrap());
    assert_eq!(applied.kind, "reload", "the SIGHUP twin is not repeated");
}

/// The README from its "Event stream" section on, which both the kinds here and
/// `events`' JSON lines are checked against.
pub(crate) fn readme_event_stream() -> &'static str {
    let readme = include_str!("../README.md");
    (readme.split("\n### Event stream\n").nth(1)).expect("README: Event stream")
}

/// Every kind the stream writes is in the README's table.
#[test]
fn every_kind_is_documented() {
    let table = readme_event_stream();
    let source = include_str!("event_stream.rs");
    let mut kinds = 0;
    // Every kind is a string `kind_of` answers.
    for rest in source.split("=> \"").skip(1) {
        let kind = &rest[..rest.find('"').unwrap()];
        assert!(table.contains(&format!("`{kind}`")), "{kind} in the README");
        kinds += 1;
    }
    assert!(kinds >= 20, "{kinds}");
}
