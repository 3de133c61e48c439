//! Names as supervisorctl reads them, and replies that keep their promises: `status`
//! in argument order and valid JSON whatever the names, `stop all` and `start all`
//! listing what they did, group addresses (`NAME:`, `NAME:*`).

use serde_json::Value;

use super::support::*;
use crate::common::*;

const MIXED_YAML: &str = "programs:
  sleeper:
    cmd: TESTPROG sleep
    starttime: 0
  idle:
    cmd: TESTPROG sleep
    autostart: false
    starttime: 0
  pool:
    cmd: TESTPROG sleep
    numprocs: 2
    starttime: 0
";

#[test]
fn status_answers_in_argument_order_and_json_stays_json() {
    let mut d = Daemon::start("ctl-status-order", MIXED_YAML);
    let sock = d.socket();
    wait_running(&sock, &["sleeper", "pool:0", "pool:1"], secs(10.0));

    // Plain: one line per name, in the order given, the unknown one in its place.
    let out = ctl(&sock, &["status", "pool:1", "nosuch", "idle", "sleeper"]);
    assert_eq!(out.code, 4, "an unknown name: LSB's unknown: {out:?}");
    let firsts: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(firsts, ["pool:1", "nosuch:", "idle", "sleeper"], "{out:?}");
    assert!(
        out.stdout.contains("nosuch: ERROR (no such process)"),
        "{out:?}"
    );

    // JSON: valid as a whole, same order, the unknown name an object with its error.
    for args in [
        &["status", "--json", "idle", "nosuch", "pool"][..],
        &["status", "idle", "nosuch", "pool", "--json"][..],
    ] {
        let out = ctl(&sock, args);
        assert_eq!(out.code, 4, "{args:?}: {out:?}");
        let items: Vec<Value> = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}): {out:?}"));
        let names: Vec<&str> = items.iter().filter_map(|i| i["name"].as_str()).collect();
        assert_eq!(names, ["idle", "nosuch", "pool:0", "pool:1"], "{out:?}");
        assert_eq!(items[1]["error"], "no such process", "{out:?}");
        assert_eq!(items[0]["state"], "STOPPED", "{out:?}");
        assert!(items[0].get("error").is_none(), "{out:?}");
    }
    // Over the raw protocol: `output` and `data` are the same JSON, `ok` false.
    let reply = request(
        &sock,
        b"{\"command\": \"status\", \"args\": [\"--json\", \"nosuch\", \"sleeper\"]}\n",
    );
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["exit"], 4, "{reply}");
    let output: Value =
        serde_json::from_str(reply["output"].as_str().expect("output")).expect("output is JSON");
    assert_eq!(output, reply["data"], "{reply}");
    assert_eq!(reply["data"][0]["name"], "nosuch", "{reply}");
    assert_eq!(reply["data"][1]["name"], "sleeper", "{reply}");
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// The reply's lines, sorted (instances of one command are handled in parallel).
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn stop_all_and_start_all_list_what_they_did() {
    let mut d = Daemon::start("ctl-all", MIXED_YAML);
    let sock = d.socket();
    wait_running(&sock, &["sleeper", "pool:0", "pool:1"], secs(10.0));

    // `stop all`: what it stopped; `idle` was not running and is not listed.
    let out = ctl_ok(&sock, &["stop", "all"], 0);
    assert_eq!(
        sorted_lines(&out),
        ["pool:0: stopped", "pool:1: stopped", "sleeper: stopped"],
        "{out:?}"
    );
    // Nothing left to stop: nothing to say, and no error.
    assert_eq!(ctl_ok(&sock, &["stop", "all"], 0), "");
    // Named on its own, a stopped instance still says so.
    assert_eq!(
        ctl_ok(&sock, &["stop", "idle"], 0).trim(),
        "idle: ERROR (not running)"
    );
    assert_eq!(
        ctl_ok(&sock, &["stop", "sleeper", "pool:1"], 0),
        "sleeper: ERROR (not running)\npool:1: ERROR (not running)\n"
    );

    // `start all`: what it started; one already started is not an error.
    assert_eq!(ctl_ok(&sock, &["start", "idle"], 0).trim(), "idle: started");
    let out = ctl_ok(&sock, &["start", "all"], 0);
    assert_eq!(
        sorted_lines(&out),
        ["pool:0: started", "pool:1: started", "sleeper: started"],
        "{out:?}"
    );
    assert_eq!(ctl_ok(&sock, &["start", "all"], 0), "");
    assert_eq!(
        ctl_ok(&sock, &["start", "idle"], 0).trim(),
        "idle: ERROR (already started)"
    );

    // `restart all`: every instance stopped, then started.
    let out = ctl_ok(&sock, &["restart", "all"], 0);
    let lines = sorted_lines(&out);
    assert_eq!(lines.len(), 8, "{out:?}");
    assert!(!out.contains("ERROR"), "{out:?}");
    for name in ["idle", "pool:0", "pool:1", "sleeper"] {
        assert!(lines.contains(&format!("{name}: stopped")), "{out:?}");
        assert!(lines.contains(&format!("{name}: started")), "{out:?}");
    }
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn name_colon_and_name_colon_star_mean_every_instance() {
    let mut d = Daemon::start("ctl-groups", MIXED_YAML);
    let sock = d.socket();
    wait_running(&sock, &["sleeper", "pool:0", "pool:1"], secs(10.0));

    for name in ["pool:", "pool:*", "pool"] {
        let out = ctl_ok(&sock, &["status", name], 0);
        let firsts: Vec<&str> = out.lines().filter_map(|l| l.split(' ').next()).collect();
        assert_eq!(firsts, ["pool:0", "pool:1"], "status {name}: {out:?}");
    }
    // Also for a program of one instance.
    for name in ["sleeper:", "sleeper:*"] {
        let out = ctl_ok(&sock, &["pid", name], 0);
        assert_eq!(out.trim(), instance(&sock, "sleeper")["pid"].to_string());
    }
    let out = ctl_ok(&sock, &["stop", "pool:"], 0);
    assert_eq!(sorted_lines(&out), ["pool:0: stopped", "pool:1: stopped"]);
    // A group with nothing to do says nothing; `sleeper:*` is a group too.
    assert_eq!(ctl_ok(&sock, &["stop", "pool:*"], 0), "");
    assert_eq!(
        ctl_ok(&sock, &["stop", "sleeper:*"], 0),
        "sleeper: stopped\n"
    );
    assert_eq!(ctl_ok(&sock, &["stop", "sleeper:"], 0), "");
    assert_eq!(
        ctl_ok(&sock, &["start", "pool:", "sleeper"], 0),
        "pool:0: started\npool:1: started\nsleeper: started\n"
    );
    // An unknown program is an error whatever its form; a group address in
    // supervisorctl's words.
    for (name, said) in [
        ("nosuch:", "nosuch: ERROR (no such group)"),
        ("nosuch:*", "nosuch: ERROR (no such group)"),
        ("pool:7", "pool:7: ERROR (no such process)"),
    ] {
        let out = ctl(&sock, &["stop", name]);
        assert_eq!(out.code, 1, "{out:?}");
        assert_eq!(out.stdout, format!("{said}\n"));
    }
    assert_eq!(d.finish(secs(20.0)), 0);
}
