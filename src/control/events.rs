//! `events [--json]`: every event as it happens, until the client ends the stream
//! — one JSON object per line ([`EventLine`]) or one line for a person. The
//! records come from the hub's event stream (`event_stream.rs`); this is where
//! they become lines, on the follower's own thread.

use super::continuation::Sink;
use super::protocol::EventLine;
use super::{Continuation, Reply};
use crate::event_stream::{EventFeed, EventRecord, Item};
use crate::watch::state::ExitStatus;

const USAGE: &str = "events [--json]";

/// How the stream writes each event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventFormat {
    /// `TIME MESSAGE`, the time local as in the event log.
    Human,
    /// One [`EventLine`] per line.
    Json,
}

pub fn events(args: &[String]) -> Reply {
    let mut format = EventFormat::Human;
    for arg in args {
        match arg.as_str() {
            "--json" if format == EventFormat::Human => format = EventFormat::Json,
            "--json" => return Reply::usage(format!("Error: --json given twice ({USAGE})")),
            _ => return Reply::usage(format!("Error: bad argument {arg} ({USAGE})")),
        }
    }
    Reply::then("", Continuation::Events(format))
}

/// Writes the feed's events through `out` until the stream is ended or the
/// client cannot be written to.
pub fn copy(feed: &EventFeed, format: EventFormat, out: Sink) {
    while let Ok(item) = feed.next() {
        let line = match item {
            Item::Event(record) => event_line(&record, format),
            Item::Lost(count) => lost_line(count, format),
            Item::End => return,
        };
        if out(line.as_bytes()).is_err() {
            return;
        }
    }
}

fn event_line(record: &EventRecord, format: EventFormat) -> String {
    if format == EventFormat::Human {
        let stamp = crate::sys::time::timestamp(record.time);
        return format!("{stamp} {}\n", record.message);
    }
    let (exitcode, signal) = match record.exit {
        Some(ExitStatus::Code(code)) => (Some(code), None),
        Some(ExitStatus::Signal(sig)) => (None, Some(sig.as_str().to_string())),
        None => (None, None),
    };
    EventLine {
        time: crate::sys::time::rfc3339_utc(record.time),
        kind: record.kind.to_string(),
        instance: record.instance.clone(),
        pid: record.pid,
        from: record.from.map(|s| s.name().to_string()),
        to: record.to.map(|s| s.name().to_string()),
        exitcode,
        signal,
        expected: record.expected,
        sent_signal: record.signal.map(|s| s.as_str().to_string()),
        count: None,
        health: record.health.map(|h| h.name().to_string()),
        reason: record.reason.clone(),
        message: record.message.clone(),
    }
    .line()
}

fn lost_line(count: u64, format: EventFormat) -> String {
    let now = std::time::SystemTime::now();
    let events = if count == 1 { "event" } else { "events" };
    let message = format!("taskmaster: {count} {events} lost (this client reads too slowly)");
    match format {
        EventFormat::Human => format!("{} {message}\n", crate::sys::time::timestamp(now)),
        EventFormat::Json => EventLine {
            time: crate::sys::time::rfc3339_utc(now),
            kind: "lost".to_string(),
            instance: None,
            pid: None,
            from: None,
            to: None,
            exitcode: None,
            signal: None,
            expected: None,
            sent_signal: None,
            count: Some(count),
            health: None,
            reason: None,
            message,
        }
        .line(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_stream::tests::{publish_a_crash, readme_event_stream};
    use crate::hub::{Event, Hub};

    fn copied(hub: &Hub, format: EventFormat, publish: impl FnOnce(&Hub)) -> Vec<String> {
        let feed = hub.follow_events();
        publish(hub);
        (feed.ender())();
        let mut out = Vec::new();
        copy(&feed, format, &mut |bytes| {
            out.extend_from_slice(bytes);
            Ok(())
        });
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn json_lines_name_the_exit_and_the_states() {
        let hub = Hub::new(vec![]);
        let lines = copied(&hub, EventFormat::Json, publish_a_crash);
        let exited: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(exited["kind"], "exited");
        assert_eq!(exited["instance"], "web");
        assert_eq!(exited["pid"], 42);
        assert_eq!(exited["signal"], "SIGKILL");
        assert_eq!(exited["expected"], false);
        assert!(exited.get("exitcode").is_none(), "{exited}");
        let time = exited["time"].as_str().unwrap();
        assert!(time.len() == 24 && time.ends_with('Z'), "{time}");
        let changed: EventLine = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(changed.from.as_deref(), Some("RUNNING"));
        assert_eq!(changed.to.as_deref(), Some("BACKOFF"));
        assert_eq!(changed.line().trim_end(), lines[1], "nothing lost decoding");
    }

    #[test]
    fn human_lines_are_the_time_and_the_message() {
        let hub = Hub::new(vec![]);
        let lines = copied(&hub, EventFormat::Human, |hub| {
            hub.publish(&Event::StartRequested { name: "web" });
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].ends_with(" start requested: web"), "{lines:?}");
        assert_eq!(&lines[0][4..5], "-", "starts with the date: {lines:?}");
    }

    /// The README's examples are lines the daemon writes, byte for byte.
    #[test]
    fn the_readme_examples_are_event_lines() {
        let section = readme_event_stream();
        let examples: Vec<&str> = (section.lines())
            .filter(|l| l.starts_with("{\"time\""))
            .collect();
        assert!(examples.len() >= 3, "{examples:?}");
        for example in examples {
            let line: EventLine = serde_json::from_str(example).expect(example);
            assert_eq!(line.line().trim_end(), example);
            for field in serde_json::to_value(&line)
                .unwrap()
                .as_object()
                .unwrap()
                .keys()
            {
                assert!(section.contains(&format!("`{field}`")), "{field} explained");
            }
        }
    }

    #[test]
    fn arguments_other_than_one_json_are_usage_errors() {
        for bad in [&["--bogus"][..], &["extra"], &["--json", "--json"]] {
            let args: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            let reply = events(&args);
            assert_eq!(reply.exit, 2, "{bad:?}");
            assert!(reply.output.contains(USAGE), "{}", reply.output);
        }
        assert!(matches!(
            events(&["--json".to_string()]).then,
            Continuation::Events(EventFormat::Json)
        ));
    }
}
