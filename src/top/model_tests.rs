use super::*;
use crate::control::protocol::TopDaemon;

fn instance(
    name: &str,
    state: &str,
    cpu: Option<f64>,
    mem: Option<u64>,
    restarts: u32,
) -> TopInstance {
    TopInstance {
        name: name.to_string(),
        state: state.to_string(),
        pid: cpu.map(|_| 100),
        uptime_s: cpu.map(|_| 62.5),
        cpu_percent: cpu,
        memory_bytes: mem,
        restarts,
        health: None,
        last_line: String::new(),
    }
}

fn daemon(uptime_s: f64, cpu_seconds: f64) -> TopDaemon {
    TopDaemon {
        pid: 7,
        uptime_s,
        cpu_seconds: Some(cpu_seconds),
        memory_bytes: Some(3 << 20),
    }
}

fn snapshot(instances: Vec<TopInstance>) -> TopSnapshot {
    TopSnapshot {
        daemon: daemon(10.0, 1.0),
        instances,
    }
}

fn names(model: &Model) -> Vec<&str> {
    model.rows().iter().map(|r| r.name.as_str()).collect()
}

fn sample() -> Vec<TopInstance> {
    vec![
        instance("web:10", "RUNNING", Some(5.0), Some(100), 0),
        instance("web:2", "RUNNING", Some(50.0), Some(10), 3),
        instance("db", "FATAL", None, None, 7),
        instance("cache", "STOPPED", None, None, 0),
        instance("worker", "RUNNING", Some(0.5), Some(5000), 1),
    ]
}

#[test]
fn each_key_sorts_by_its_column() {
    let mut m = Model::new(snapshot(sample()));
    assert_eq!(m.sort(), SortKey::Cpu);
    // Without a process, last; equals by name.
    assert_eq!(names(&m), ["web:2", "web:10", "worker", "cache", "db"]);
    assert_eq!(m.key(Key::Char('m')), Action::Redraw);
    assert_eq!(names(&m), ["worker", "web:10", "web:2", "cache", "db"]);
    m.key(Key::Char('n'));
    // Instance numbers in numeric order.
    assert_eq!(names(&m), ["cache", "db", "web:2", "web:10", "worker"]);
    m.key(Key::Char('r'));
    assert_eq!(names(&m), ["db", "web:2", "worker", "cache", "web:10"]);
    m.key(Key::Char('s'));
    assert_eq!(names(&m), ["db", "cache", "web:2", "web:10", "worker"]);
    assert_eq!(m.key(Key::Char('x')), Action::Nothing);
    assert_eq!(m.key(Key::Char('q')), Action::Quit);
    assert_eq!(m.key(Key::Quit), Action::Quit);
}

#[test]
fn the_order_holds_across_refreshes() {
    let mut m = Model::new(snapshot(sample()));
    m.key(Key::Char('m'));
    let mut next = sample();
    next[0].memory_bytes = Some(1 << 30);
    m.update(snapshot(next));
    assert_eq!(m.sort(), SortKey::Memory);
    assert_eq!(names(&m)[0], "web:10");
}

#[test]
fn scrolling_stays_within_the_rows() {
    let rows: Vec<TopInstance> = (0..50)
        .map(|i| instance(&format!("p:{i}"), "RUNNING", Some(0.0), Some(1), 0))
        .collect();
    let mut m = Model::new(snapshot(rows));
    m.key(Key::Char('n'));
    assert_eq!(m.visible(20), 0..20);
    assert_eq!(m.key(Key::Up), Action::Nothing);
    assert_eq!(m.key(Key::Down), Action::Redraw);
    assert_eq!(m.visible(20), 1..21);
    m.key(Key::PageDown);
    assert_eq!(m.visible(20), 21..41);
    m.key(Key::PageDown);
    // The last page stays full.
    assert_eq!(m.visible(20), 30..50);
    assert_eq!(m.key(Key::PageDown), Action::Nothing);
    m.key(Key::PageUp);
    assert_eq!(m.visible(20), 10..30);
    m.key(Key::Home);
    assert_eq!(m.visible(20), 0..20);
    m.key(Key::End);
    assert_eq!(m.visible(20), 30..50);
    // A taller window shows more, from further up.
    assert_eq!(m.visible(45), 5..50);
    assert_eq!(m.visible(100), 0..50);
    assert!(m.footer(&(0..50)).contains("1-50 of 50"));
    // Rows going away keep the page full.
    m.visible(10);
    m.key(Key::End);
    m.update(snapshot(sample()));
    assert_eq!(m.visible(10), 0..5);
    let mut empty = Model::new(snapshot(Vec::new()));
    assert_eq!(empty.visible(10), 0..0);
    assert!(empty.footer(&(0..0)).contains("no instances"));
}

#[test]
fn cells_say_dash_where_there_is_nothing() {
    let mut running = instance(
        "web",
        "RUNNING",
        Some(12.345),
        Some(12 * 1024 * 1024 + 300 * 1024),
        2,
    );
    running.last_line = "listening on :80".into();
    assert_eq!(
        cells(&running),
        [
            "web",
            "RUNNING",
            "100",
            "0:01:02",
            "12.3",
            "12.3 MiB",
            "2",
            "-",
            "listening on :80"
        ]
    );
    let stopped = instance("db", "STOPPED", None, None, 0);
    assert_eq!(
        cells(&stopped),
        ["db", "STOPPED", "-", "-", "-", "-", "0", "-", ""]
    );
}

#[test]
fn uptime_and_cpu_formats() {
    assert_eq!(format_uptime(Some(0.4)), "0:00:00");
    assert_eq!(format_uptime(Some(3725.0)), "1:02:05");
    assert_eq!(
        format_uptime(Some(2.0 * 86_400.0 + 3.0 * 3600.0 + 4.0)),
        "2d 03:00:04"
    );
    assert_eq!(format_uptime(None), "-");
    assert_eq!(format_uptime(Some(f64::NAN)), "-");
    assert_eq!(format_uptime(Some(-1.0)), "-");
    assert_eq!(format_cpu(Some(0.0)), "0.0");
    assert_eq!(format_cpu(Some(199.96)), "200.0");
    assert_eq!(format_cpu(None), "-");
}

#[test]
fn the_header_counts_states_and_rates_the_daemons_cpu() {
    let mut m = Model::new(snapshot(sample()));
    let t = m.totals();
    assert_eq!((t.running, t.stopped, t.fatal, t.changing), (3, 1, 1, 0));
    let [daemon_line, totals] = m.header();
    // One snapshot has no rate yet.
    assert_eq!(
        daemon_line,
        "taskmaster pid 7, up 0:00:10, cpu -, mem 3.0 MiB"
    );
    assert_eq!(
        totals,
        "5 instances: 3 running, 1 stopped, 1 fatal, 0 starting or stopping"
    );
    // 0.25 s of CPU over 2 s of uptime.
    m.update(TopSnapshot {
        daemon: daemon(12.0, 1.25),
        instances: sample(),
    });
    assert!(m.header()[0].contains("cpu 12.5%"), "{:?}", m.header());
    // The same uptime again (a reused sample) keeps the last rate.
    m.update(TopSnapshot {
        daemon: daemon(12.0, 1.25),
        instances: sample(),
    });
    assert!(m.header()[0].contains("cpu 12.5%"), "{:?}", m.header());
}

#[test]
fn a_last_line_is_made_printable_again() {
    let mut row = instance("web", "RUNNING", Some(1.0), Some(1), 0);
    row.last_line = format!("\x1b[2J\x1b[31mred\x07{}", "x".repeat(500));
    let m = Model::new(snapshot(vec![row]));
    let line = &m.rows()[0].last_line;
    assert!(line.starts_with("red") && !line.contains('\x1b') && !line.contains('\x07'));
    assert_eq!(line.len(), TOP_LINE_MAX);
}

#[test]
fn the_text_snapshot_is_a_table_by_name() {
    let text = snapshot_text(&snapshot(sample()));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("taskmaster pid 7"), "{text}");
    assert!(lines[1].starts_with("5 instances"), "{text}");
    assert!(
        lines[2].starts_with("NAME ") && lines[2].ends_with("LAST LINE"),
        "{text}"
    );
    let firsts: Vec<&str> = lines[3..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(firsts, ["cache", "db", "web:2", "web:10", "worker"]);
    // Columns line up: every STATE starts where the title does.
    let at = lines[2].find("STATE").unwrap();
    for line in &lines[3..] {
        assert!(line[at..].starts_with(char::is_alphabetic), "{line:?}");
    }
}
