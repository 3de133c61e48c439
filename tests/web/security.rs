//! Every request authenticated, nothing that acts from another site, bad
//! requests answered with a clear 4xx and nothing changed.

use super::*;

fn refused_and_still_running(d: &mut Daemon, pid: i32) {
    assert_eq!(d.instance("sleeper")["state"], "RUNNING");
    assert_eq!(d.pid_of("sleeper"), pid, "the program was left alone");
}

#[test]
fn unauthenticated_and_cross_origin_requests_are_refused() {
    let (mut d, web) = start("web-security", SLEEPER);
    d.wait_state("sleeper", "RUNNING", short());
    let pid = d.pid_of("sleeper");
    let stop = r#"{"command":"stop","args":["sleeper"]}"#;
    let json = ("Content-Type", "application/json");

    // No credential, or a wrong one: 401, for the page, its files and the API.
    for path in ["/", "/app.js", "/vendor/xterm.js", "/nosuch"] {
        assert_eq!(web.request("GET", path, &[], "").status, 401, "{path}");
    }
    let page = web.request("GET", "/?token=wrong", &[], "");
    assert_eq!(page.status, 401);
    assert!(page.body.contains("taskmasterctl web-url"), "{}", page.body);
    assert!(
        page.header("www-authenticate").is_none(),
        "no password configured"
    );
    let bad = format!("Bearer {}x", web.token);
    let answer = web.request(
        "POST",
        "/api/command",
        &[("Authorization", &bad), json],
        stop,
    );
    assert_eq!(answer.status, 401);
    // ?token= counts for the page only, not for the API.
    let path = format!("/api/command?token={}", web.token);
    assert_eq!(web.request("POST", &path, &[json], stop).status, 401);
    refused_and_still_running(&mut d, pid);

    // The first load with the token: a cookie, and the token leaves the address.
    let first = web.request("GET", &format!("/?token={}", web.token), &[], "");
    assert_eq!(first.status, 303, "{first:?}");
    assert_eq!(first.header("location"), Some("/"));
    let cookie = first.header("set-cookie").expect("a cookie");
    assert!(cookie.starts_with(&web.cookie()), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let page = web.request("GET", "/", &[("Cookie", &web.cookie())], "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<title>taskmaster</title>"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'self'"));

    // With the cookie, a POST from another site's page is refused; so is one that
    // does not say where it comes from (a browser always does).
    let cookie = web.cookie();
    for origin in [Some("http://evil.example"), Some("null"), None] {
        let mut headers = vec![("Cookie", cookie.as_str()), json];
        headers.extend(origin.map(|o| ("Origin", o)));
        let answer = web.request("POST", "/api/command", &headers, stop);
        assert_eq!(answer.status, 403, "{origin:?}: {answer:?}");
        assert!(answer.body.contains("cross-origin"), "{}", answer.body);
    }
    // Nor may another site open the live WebSocket.
    let upgrade = [
        ("Cookie", cookie.as_str()),
        ("Origin", "http://evil.example"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    assert_eq!(web.request("GET", "/ws", &upgrade, "").status, 403);
    assert_eq!(web.request("GET", "/ws", &upgrade[2..], "").status, 401);
    refused_and_still_running(&mut d, pid);
    d.wait_log("the refusal", short(), |log| {
        log.contains("is not this server")
    });

    // The page's own origin may.
    let origin = web.origin();
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Origin", origin.as_str()),
        json,
    ];
    let answer = web.request("POST", "/api/command", &headers, stop);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.contains("sleeper: stopped"), "{}", answer.body);
    d.finish(secs(20.0));
}

#[test]
fn malformed_and_oversized_requests_get_a_clear_4xx() {
    let (mut d, web) = start("web-malformed", SLEEPER);
    d.wait_state("sleeper", "RUNNING", short());
    let pid = d.pid_of("sleeper");
    let bearer = format!("Bearer {}", web.token);
    let auth = ("Authorization", bearer.as_str());
    let json = ("Content-Type", "application/json");

    let not_json = web.request("POST", "/api/command", &[auth, json], "stop sleeper");
    assert_eq!(not_json.status, 400);
    let reply: serde_json::Value = serde_json::from_str(&not_json.body).unwrap();
    assert_eq!(reply["exit"], 2);
    assert!(
        reply["output"]
            .as_str()
            .unwrap()
            .contains("malformed request"),
        "{reply}"
    );
    let array = web.request("POST", "/api/command", &[auth, json], r#"["stop"]"#);
    assert_eq!(array.status, 400);
    let text = web.request(
        "POST",
        "/api/command",
        &[auth, ("Content-Type", "text/plain")],
        "{}",
    );
    assert_eq!(text.status, 415);
    let get_command = web.request("GET", "/api/command", &[auth], "");
    assert_eq!(get_command.status, 405);
    assert_eq!(get_command.header("allow"), Some("POST"));
    // A 405 names the methods the page takes.
    let delete = web.request("DELETE", "/", &[auth], "");
    assert_eq!(delete.status, 405);
    assert_eq!(delete.header("allow"), Some("GET"));
    assert_eq!(web.request("GET", "/nosuch", &[auth], "").status, 404);

    let big = format!(
        r#"{{"command":"status","args":["{}"]}}"#,
        "x".repeat(70_000)
    );
    let answer = web.request("POST", "/api/command", &[auth, json], &big);
    assert_eq!(answer.status, 413, "{answer:?}");
    let long_header = "y".repeat(20_000);
    let answer = web.request("GET", "/", &[auth, ("X-Long", &long_header)], "");
    assert_eq!(answer.status, 431, "{answer:?}");
    assert_eq!(web.raw(b"\x16\x03\x01 garbage\r\n\r\n").status, 400);
    let chunked = "POST /api/command HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(web.raw(chunked.as_bytes()).status, 411);

    // Nothing of it changed anything, and the server still answers.
    refused_and_still_running(&mut d, pid);
    assert_eq!(web.command("status", &[])["ok"], true);
    d.finish(secs(20.0));
}

#[test]
fn a_network_address_needs_a_password_and_the_password_opens() {
    // Refused at load without auth.
    let dir = TempDir::new("web-network");
    let config = write_config_file(
        &dir.0,
        "taskmaster:\n  http:\n    listen: 0.0.0.0:9001\nprograms:\n  p:\n    cmd: /bin/true\n",
    );
    let out = std::process::Command::new(TASKMASTER)
        .arg("--check")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("taskmaster.http") && said.contains("not a loopback"),
        "{said}"
    );

    // `taskmaster --hash-password` makes the hash from standard input.
    let mut hasher = std::process::Command::new(TASKMASTER)
        .arg("--hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    hasher
        .stdin
        .take()
        .unwrap()
        .write_all(b"open sesame\n")
        .unwrap();
    let hashed = hasher.wait_with_output().unwrap();
    assert!(hashed.status.success());
    let hash = String::from_utf8(hashed.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    let yaml = format!(
        "taskmaster:\n  http:\n    listen: 0.0.0.0:0\n    auth:\n      user: admin\n      \
         password_hash: '{hash}'\nprograms:\n{SLEEPER}"
    );
    let mut d = Daemon::start("web-password", &yaml);
    d.wait_state("sleeper", "RUNNING", short());
    let mut web = Web::of(&d);
    web.addr = web.addr.replace("0.0.0.0", "127.0.0.1");
    let basic = |credentials: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    };
    let wrong = web.request("GET", "/", &[("Authorization", &basic("admin:guess"))], "");
    assert_eq!(wrong.status, 401);
    assert!(
        wrong
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic"),
        "{wrong:?}"
    );
    let right = web.request(
        "GET",
        "/",
        &[("Authorization", &basic("admin:open sesame"))],
        "",
    );
    assert_eq!(right.status, 200, "{right:?}");
    // The cookie then stands for the password.
    let cookie = right.header("set-cookie").unwrap();
    assert!(cookie.starts_with(&web.cookie()), "{cookie}");
    // The token works as well.
    assert_eq!(web.command("status", &[])["ok"], true);
    d.finish(secs(20.0));
}
