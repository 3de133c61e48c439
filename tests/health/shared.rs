//! The daemon's one `health-net` thread runs every `http` and `tcp` check to an
//! address (or `localhost`): many checks in flight at once on it, each with its
//! own timeout; a check dropped while its request is in flight closes its
//! socket at once and says nothing more; the thread exists only while such
//! checks do.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;

/// An HTTP server that answers 200, or, while `hold` is set, keeps each
/// request it reads unanswered (its connection open) and counts it.
struct HoldingServer {
    port: u16,
    hold: Arc<AtomicBool>,
    held: Arc<AtomicUsize>,
}

impl HoldingServer {
    fn start() -> HoldingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let port = listener.local_addr().expect("its address").port();
        let hold = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicUsize::new(0));
        let (holding, count) = (hold.clone(), held.clone());
        std::thread::spawn(move || {
            let mut kept: Vec<TcpStream> = Vec::new();
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                read_request(&mut conn);
                if holding.load(Ordering::SeqCst) {
                    kept.push(conn);
                    count.fetch_add(1, Ordering::SeqCst);
                } else {
                    kept.clear();
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            }
        });
        HoldingServer { port, hold, held }
    }
}

/// The names of the daemon's threads.
fn thread_names(pid: i32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|name| name.trim_end().to_string())
        .collect()
}

/// How many of the daemon's descriptors are TCP sockets connected to `port`.
fn sockets_to(pid: i32, port: u16) -> usize {
    let mut inodes = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let remote_port = fields.get(2).and_then(|a| a.rsplit(':').next());
            if remote_port.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port) {
                if let Some(inode) = fields.get(9) {
                    inodes.push(format!("socket:[{inode}]"));
                }
            }
        }
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|link| inodes.iter().any(|i| link.to_str() == Some(i)))
        .count()
}

#[test]
fn many_http_checks_share_one_thread_and_time_out_together() {
    let server = HoldingServer::start();
    let mut d = Daemon::start(
        "health-shared",
        &format!(
            "programs:
  web:
    cmd: TESTPROG sleep
    starttime: 0
    numprocs: 12
    healthcheck: {{http: \"http://127.0.0.1:{}/\", interval: 0.2, timeout: 1, retries: 1, on_failure: none}}
",
            server.port
        ),
    );
    for i in 0..12 {
        wait_health(&mut d, &format!("web:{i}"), "healthy", secs(20.0));
    }
    let threads = thread_names(d.pid());
    assert_eq!(
        threads.iter().filter(|t| *t == "health-net").count(),
        1,
        "{threads:?}"
    );
    assert!(
        !threads.iter().any(|t| t.starts_with("health:")),
        "{threads:?}"
    );
    // The server keeps every request: all twelve are in flight together, and
    // each fails at its own timeout.
    server.hold.store(true, Ordering::SeqCst);
    wait_for("several requests held", secs(20.0), || {
        (server.held.load(Ordering::SeqCst) >= 6).then_some(())
    });
    let reason = format!(
        "GET http://127.0.0.1:{}/: no answer within 1 s",
        server.port
    );
    for i in 0..12 {
        let web = wait_health(&mut d, &format!("web:{i}"), "unhealthy", secs(20.0));
        assert_eq!(web["health_reason"], reason.as_str(), "{web}");
    }
    server.hold.store(false, Ordering::SeqCst);
    for i in 0..12 {
        wait_health(&mut d, &format!("web:{i}"), "healthy", secs(20.0));
    }
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_check_stopped_in_flight_closes_its_socket_and_says_nothing() {
    let server = HoldingServer::start();
    server.hold.store(true, Ordering::SeqCst);
    let mut d = Daemon::start(
        "health-dropped",
        &format!(
            "programs:
  web:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {{http: \"http://127.0.0.1:{}/\", interval: 0.2, timeout: 60, retries: 1, on_failure: none}}
",
            server.port
        ),
    );
    wait_health(&mut d, "web", "starting", secs(20.0));
    wait_for("the request held", secs(20.0), || {
        (server.held.load(Ordering::SeqCst) >= 1).then_some(())
    });
    assert_eq!(sockets_to(d.pid(), server.port), 1);
    d.command_expect("stop web", "web: stopped", secs(20.0));
    // Closed at once, not at its 60 s timeout; and with no check left, the
    // thread is gone too.
    let pid = d.pid();
    wait_for("the check's socket closed", secs(10.0), || {
        (sockets_to(pid, server.port) == 0).then_some(())
    });
    wait_for("no health-net thread", secs(10.0), || {
        (!thread_names(pid).iter().any(|t| t == "health-net")).then_some(())
    });
    let web = d.instance("web");
    assert_eq!(web["state"], "STOPPED", "{web}");
    assert!(web["health"].is_null(), "{web}");
    assert!(!d.log().contains("web: unhealthy"), "{}", d.log());
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn localhost_checks_run_on_the_shared_thread() {
    let server = HttpServer::start();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let mut d = Daemon::start(
        "health-localhost",
        &format!(
            "programs:
  web:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {{http: \"http://localhost:{}/\", interval: 0.1, retries: 1, on_failure: none}}
  db:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {{tcp: \"localhost:{port}\", interval: 0.1, retries: 1, on_failure: none}}
",
            server.port
        ),
    );
    wait_health(&mut d, "web", "healthy", secs(20.0));
    wait_health(&mut d, "db", "healthy", secs(20.0));
    let threads = thread_names(d.pid());
    assert!(threads.iter().any(|t| t == "health-net"), "{threads:?}");
    assert!(
        !threads.iter().any(|t| t.starts_with("health:")),
        "{threads:?}"
    );
    drop(listener);
    let db = wait_health(&mut d, "db", "unhealthy", secs(20.0));
    let reason = format!("connect to localhost:{port}: connection refused");
    assert_eq!(db["health_reason"], reason.as_str(), "{db}");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_reload_moves_a_check_between_the_shared_thread_and_its_own() {
    let server = HttpServer::start();
    let plain = "programs:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n";
    let http = format!(
        "{plain}    healthcheck: {{http: \"http://127.0.0.1:{}/\", interval: 0.1, retries: 1, on_failure: none}}\n",
        server.port
    );
    let failing = format!(
        "{plain}    healthcheck: {{cmd: \"sh -c 'echo down; exit 1'\", interval: 0.1, retries: 1, on_failure: none}}\n"
    );
    let mut d = Daemon::start("health-move", &http);
    wait_health(&mut d, "web", "healthy", secs(20.0));
    let pid = d.pid();
    assert!(thread_names(pid).iter().any(|t| t == "health-net"));
    // Now a command: it runs on a thread of the instance's own, at once.
    crate::reload::write_config(&d, &failing);
    crate::reload::reload(&mut d);
    let web = wait_health(&mut d, "web", "unhealthy", secs(20.0));
    assert_eq!(
        web["health_reason"], "check command exited with status 1: down",
        "{web}"
    );
    wait_for("the shared thread gone", secs(10.0), || {
        let threads = thread_names(pid);
        (!threads.iter().any(|t| t == "health-net") && threads.iter().any(|t| t == "health:web"))
            .then_some(())
    });
    // And back.
    crate::reload::write_config(&d, &http);
    crate::reload::reload(&mut d);
    wait_health(&mut d, "web", "healthy", secs(20.0));
    wait_for("the check back on the shared thread", secs(10.0), || {
        let threads = thread_names(pid);
        (threads.iter().any(|t| t == "health-net") && !threads.iter().any(|t| t == "health:web"))
            .then_some(())
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}
