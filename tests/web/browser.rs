//! The page in a real browser: headless Chromium driven over WebDriver loads it
//! with the token, sees the states pushed live, stops a program, follows output,
//! attaches to a pty program (types, reads the echo, resizes, detaches), and is
//! refused without the token and from another site. Its screenshots are the
//! README's (`TASKMASTER_UPDATE_SCREENSHOTS=1` writes them to docs/screenshots).

use super::webdriver::{chromedriver, Browser};
use super::*;

const PROGRAMS: &str = "  sleeper:
    cmd: TESTPROG sleep
    starttime: 0
  talker:
    cmd: TESTPROG lines 100000 0.5
    starttime: 0
  workers:
    cmd: TESTPROG sleep
    numprocs: 2
    starttime: 0
  shell:
    cmd: /bin/sh -i
    pty: true
    starttime: 0
  echoer:
    cmd: TESTPROG echo
    starttime: 0
";

const WAIT: Duration = Duration::from_secs(30);

fn state(browser: &Browser, name: &str) -> String {
    browser.text(&format!("tr[data-name=\"{name}\"] .state"))
}

fn wait_state(browser: &Browser, name: &str, want: &str) {
    wait_for(&format!("{name} {want} in the page"), WAIT, || {
        (state(browser, name) == want).then_some(())
    });
}

/// The terminal's rows and columns, as the page's xterm.js has them.
fn term_size(browser: &Browser) -> (u64, u64) {
    let size = browser.eval("return [attach.term.rows, attach.term.cols];");
    (size[0].as_u64().unwrap(), size[1].as_u64().unwrap())
}

#[test]
fn the_dashboard_in_headless_chromium() {
    let driver = match chromedriver() {
        Ok(path) => path,
        Err(why) => {
            eprintln!("SKIPPED the_dashboard_in_headless_chromium: no browser: {why}");
            return;
        }
    };
    let (mut d, web) = start("web-browser", PROGRAMS);
    let all = [
        "sleeper",
        "talker",
        "workers:0",
        "workers:1",
        "shell",
        "echoer",
    ];
    for name in all {
        d.wait_state(name, "RUNNING", short());
    }
    let browser = Browser::start(&driver);
    browser.resize(1280, 900);

    // Without the token: refused.
    browser.go(&format!("http://{}/", web.addr));
    browser.wait_text("body", WAIT, |t| t.contains("not authenticated"));

    // With it: the page, live. The token leaves the address bar for a cookie.
    browser.go(&format!("http://{}/?token={}", web.addr, web.token));
    browser.wait_text("#connection", WAIT, |t| t == "live");
    let url = browser.eval("return location.href;");
    assert_eq!(
        url,
        format!("http://{}/", web.addr),
        "the token is not left in the address"
    );
    for name in ["sleeper", "talker", "workers:0", "workers:1", "shell"] {
        wait_state(&browser, name, "RUNNING");
    }
    assert!(browser
        .text("tr[data-group=\"workers\"]")
        .contains("workers:*"));
    let pid = d.pid_of("sleeper");
    assert_eq!(
        browser.text("tr[data-name=\"sleeper\"] td.pid"),
        pid.to_string()
    );

    // Stop: the page shows STOPPED, and the process is gone.
    browser.click("tr[data-name=\"sleeper\"] button[data-action=\"stop\"]");
    wait_state(&browser, "sleeper", "STOPPED");
    assert!(gone(pid), "pid {pid} is gone from /proc");
    assert_eq!(d.instance("sleeper")["state"], "STOPPED");
    browser.wait_text("#events", WAIT, |t| t.contains("sleeper"));

    // A group's stop: both instances.
    browser.click("tr[data-group=\"workers\"] button[data-action=\"stop\"]");
    wait_state(&browser, "workers:0", "STOPPED");
    wait_state(&browser, "workers:1", "STOPPED");

    // A live tail.
    browser.click("tr[data-name=\"talker\"] button[data-action=\"tail\"]");
    let first = browser.wait_text("#tail-output", WAIT, |t| t.contains("line "));
    browser.wait_text("#tail-output", WAIT, |t| t.len() > first.len() + 6);
    browser.screenshot("dashboard");

    // Attach to the pty shell: type, read the echo.
    browser.click("tr[data-name=\"shell\"] button[data-action=\"attach\"]");
    browser.wait_text("#attach-state", WAIT, |t| t == "attached");
    let keys = ".xterm-helper-textarea";
    browser.type_into(keys, "echo hello-$((6 * 7))\u{E007}");
    browser.wait_text(".xterm-rows", WAIT, |t| t.contains("hello-42"));
    browser.type_into(keys, "stty size\u{E007}");
    let (rows, cols) = term_size(&browser);
    browser.wait_text(".xterm-rows", WAIT, |t| {
        t.contains(&format!("{rows} {cols}"))
    });
    // Resize the window: the pane, the terminal and the program's size follow.
    browser.resize(900, 1000);
    let (new_rows, new_cols) = wait_for("the terminal to fit the window", WAIT, || {
        let size = term_size(&browser);
        (size != (rows, cols)).then_some(size)
    });
    browser.type_into(keys, "stty size\u{E007}");
    browser.wait_text(".xterm-rows", WAIT, |t| {
        t.contains(&format!("{new_rows} {new_cols}"))
    });
    browser.screenshot("attach");
    // Detach with the button: the session ends, the program goes on.
    let shell = d.pid_of("shell");
    browser.click("#detach");
    d.wait_log("the detach", WAIT, |log| {
        log.contains("attach: a client left shell")
    });
    assert!(!gone(shell));
    wait_state(&browser, "shell", "RUNNING");

    // A pipe program: the page edits the line (a typo erased) and sends it whole.
    browser.click("tr[data-name=\"echoer\"] button[data-action=\"attach\"]");
    browser.wait_text("#attach-state", WAIT, |t| t == "attached");
    browser.type_into(keys, "pingx\u{E003}-pong\u{E007}");
    browser.wait_text(".xterm-rows", WAIT, |t| t.matches("ping-pong").count() == 2);
    browser.click("#detach");
    d.wait_log("the detach", WAIT, |log| {
        log.contains("attach: a client left echoer")
    });

    // Reload from the page: its result is shown.
    browser.click("#reload");
    browser.wait_text("#reload-result", WAIT, |t| {
        !t.is_empty() && t != "reloading…"
    });

    // Another site (localhost is not 127.0.0.1 to a browser) gets no cookie and
    // is refused; what its page posts changes nothing.
    let port = web.addr.rsplit(':').next().unwrap();
    browser.go(&format!("http://localhost:{port}/"));
    browser.wait_text("body", WAIT, |t| t.contains("not authenticated"));
    let talker = d.pid_of("talker");
    let outcome = browser.eval(&format!(
        "return fetch('http://{}/api/command', {{method: 'POST', credentials: 'include', \
         body: '{{\"command\":\"stop\",\"args\":[\"talker\"]}}'}})\
         .then(r => 'answered ' + r.status, e => 'refused: ' + e);",
        web.addr
    ));
    assert!(
        outcome.as_str().unwrap().starts_with("refused"),
        "{outcome}"
    );
    assert_eq!(d.instance("talker")["state"], "RUNNING");
    assert_eq!(d.pid_of("talker"), talker);
    drop(browser);
    d.finish(secs(20.0));
}
