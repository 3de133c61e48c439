//! Tab completion as readline does it: a unique match is completed with a space
//! after it, so the next word can be typed at once.

use super::*;

#[test]
fn tab_completes_a_unique_match_with_a_space() {
    let mut d = PtyDaemon::start("shell-tab-space", WEB_YAML);
    wait_all_running(&d.socket(), 1);
    d.wait_prompt(0);

    // A command: `att` + Tab is `attach `; the name typed next is its argument.
    let typed = d.type_text("att");
    d.keys("\t");
    d.wait_text(typed, "ach", secs(10.0));
    d.run("nosuch", "nosuch: ERROR (no such process)");

    // A process name after a command: `status web` + Tab + `stdout`-like next word.
    let typed = d.type_text("stat");
    d.keys("\t");
    d.wait_text(typed, "us", secs(10.0));
    let typed = d.type_text("web");
    d.keys("\t");
    d.wait_text(typed, "server", secs(10.0));
    let mark = d.mark();
    d.type_text("webserver");
    d.keys("\r");
    let (_, end) = d.wait_line(mark, "two status lines of webserver", |l| {
        status_line_of(l, "webserver", "RUNNING")
    });
    let next = d.wait_prompt(end);
    let reply = d.text()[mark..next].to_string();
    assert!(
        !reply.contains("ERROR") && !reply.contains("Unknown"),
        "`status webserver webserver` was typed: {reply:?}"
    );
    quit(&mut d);
}
