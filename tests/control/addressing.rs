//! 8. Names as supervisorctl reads them, and replies that keep their promises:
//! `status` in argument order and valid JSON whatever the names, `stop all` /
//! `start all` listing what they did, group addresses (`NAME:`, `NAME:*`).

use serde_json::Value;

use crate::common::*;
use crate::support::*;

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
    assert_eq!(out.code, 1, "{out:?}");
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
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
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
    assert_eq!(reply["exit"], 1, "{reply}");
    let output: Value =
        serde_json::from_str(reply["output"].as_str().expect("output")).expect("output is JSON");
    assert_eq!(output, reply["data"], "{reply}");
    assert_eq!(reply["data"][0]["name"], "nosuch", "{reply}");
    assert_eq!(reply["data"][1]["name"], "sleeper", "{reply}");
    assert_eq!(d.finish(secs(20.0)), 0);
}
