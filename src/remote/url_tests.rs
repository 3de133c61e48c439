use super::*;

fn target(user: Option<&str>, host: &str, port: Option<u16>, socket: Option<&str>) -> SshTarget {
    SshTarget {
        user: user.map(str::to_string),
        host: host.to_string(),
        port,
        socket: socket.map(str::to_string),
    }
}

#[test]
fn every_part_is_optional_but_the_host() {
    assert_eq!(parse("ssh://web1"), Ok(target(None, "web1", None, None)));
    assert_eq!(parse("ssh://web1/"), Ok(target(None, "web1", None, None)));
    assert_eq!(
        parse("ssh://ops@web1.example.com:2222/run/taskmaster.sock"),
        Ok(target(
            Some("ops"),
            "web1.example.com",
            Some(2222),
            Some("/run/taskmaster.sock")
        ))
    );
    assert_eq!(
        parse("ssh://10.0.0.7/tmp/a b.sock"),
        Ok(target(None, "10.0.0.7", None, Some("/tmp/a b.sock")))
    );
    assert_eq!(
        parse("ssh://root@[::1]:22/s"),
        Ok(target(Some("root"), "::1", Some(22), Some("/s")))
    );
}

#[test]
fn a_url_is_written_back_as_it_was_read() {
    for url in [
        "ssh://web1",
        "ssh://ops@web1:2222/run/tm.sock",
        "ssh://[fe80::1]:22/s",
        "ssh://[::1]",
    ] {
        assert_eq!(parse(url).map(|t| t.to_string()), Ok(url.to_string()));
    }
}

#[test]
fn bad_urls_say_what_is_wrong() {
    assert_eq!(parse("web1"), Err(UrlError::NotUrl));
    assert_eq!(
        parse("http://web1"),
        Err(UrlError::UnknownScheme("http".into()))
    );
    assert_eq!(
        parse("SSH://web1"),
        Err(UrlError::UnknownScheme("SSH".into()))
    );
    assert_eq!(parse("ssh://"), Err(UrlError::EmptyHost));
    assert_eq!(parse("ssh:///sock"), Err(UrlError::EmptyHost));
    assert_eq!(parse("ssh://ops@:22"), Err(UrlError::EmptyHost));
    assert_eq!(parse("ssh://@web1"), Err(UrlError::EmptyUser));
    assert_eq!(parse("ssh://web1:"), Err(UrlError::BadPort("".into())));
    assert_eq!(parse("ssh://web1:0"), Err(UrlError::BadPort("0".into())));
    assert_eq!(
        parse("ssh://web1:65536"),
        Err(UrlError::BadPort("65536".into()))
    );
    assert_eq!(
        parse("ssh://web1:+22"),
        Err(UrlError::BadPort("+22".into()))
    );
    assert_eq!(
        parse("ssh://web1:ssh"),
        Err(UrlError::BadPort("ssh".into()))
    );
    assert_eq!(
        parse("ssh://ops:secret@web1"),
        Err(UrlError::BadUser("ops:secret".into()))
    );
    assert_eq!(parse("ssh://web 1"), Err(UrlError::BadHost("web 1".into())));
    assert_eq!(parse("ssh://[::1"), Err(UrlError::BadHost("[::1".into())));
    assert_eq!(parse("ssh://[]"), Err(UrlError::BadHost("[]".into())));
    assert_eq!(
        parse("ssh://[::1]x"),
        Err(UrlError::BadHost("[::1]x".into()))
    );
    assert_eq!(parse("ssh://web1/\nx"), Err(UrlError::ControlCharacter));
}

#[test]
fn nothing_that_ssh_would_read_as_an_option_gets_through() {
    assert_eq!(
        parse("ssh://-oProxyCommand=touch /tmp/x"),
        Err(UrlError::BadHost("-oProxyCommand=touch ".into()))
    );
    assert_eq!(
        parse("ssh://-oProxyCommand=x@web1"),
        Err(UrlError::BadUser("-oProxyCommand=x".into()))
    );
    assert_eq!(parse("ssh://-p"), Err(UrlError::BadHost("-p".into())));
}

#[test]
fn labels_grow_only_as_far_as_telling_hosts_apart_needs() {
    let urls =
        |list: &[&str]| -> Vec<SshTarget> { list.iter().map(|u| parse(u).unwrap()).collect() };
    assert_eq!(
        labels(&urls(&["ssh://web1/a.sock", "ssh://ops@web2:2222"])),
        ["web1", "web2"]
    );
    assert_eq!(
        labels(&urls(&["ssh://web1:22", "ssh://web1:2222"])),
        ["web1:22", "web1:2222"]
    );
    assert_eq!(
        labels(&urls(&["ssh://a@web1", "ssh://b@web1"])),
        ["a@web1", "b@web1"]
    );
    assert_eq!(
        labels(&urls(&["ssh://r@h:22/x/a.sock", "ssh://r@h:22/x/b.sock"])),
        ["r@h:22/x/a.sock", "r@h:22/x/b.sock"]
    );
    assert_eq!(labels(&urls(&["ssh://[::1]:22"])), ["[::1]"]);
}
