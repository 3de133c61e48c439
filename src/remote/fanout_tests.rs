use serde_json::json;

use super::*;
use crate::remote::url::parse;

fn reply(exit: i32, output: &str, data: Option<serde_json::Value>) -> Answer {
    Answer::Reply(Response {
        data: data.and_then(|d| crate::control::protocol::raw_data(&d)),
        exit,
        ok: exit == 0,
        output: output.to_string(),
        stream: false,
    })
}

fn hosts(urls: &[&str]) -> Vec<SshTarget> {
    urls.iter().map(|u| parse(u).unwrap()).collect()
}

#[test]
fn streams_and_the_terminal_need_one_host() {
    let none: [String; 0] = [];
    let follow = ["-f".to_string(), "web".into()];
    for cmd in ["attach", "fg", "top", "events", "notices"] {
        assert!(needs_one_host(cmd, &none), "{cmd}");
    }
    assert!(needs_one_host("tail", &follow));
    assert!(needs_one_host("maintail", &follow[..1]));
    assert!(!needs_one_host("tail", &follow[1..]));
    assert!(!needs_one_host("status", &none));
    assert!(!needs_one_host("stop", &follow));
}

#[test]
fn each_line_is_behind_its_host_and_an_unreachable_one_in_its_place() {
    let targets = hosts(&["ssh://alpha", "ssh://b", "ssh://gamma"]);
    let answers = [
        reply(0, "web  RUNNING   pid 1\ndb   RUNNING   pid 2", None),
        Answer::Unreachable("cannot reach taskmaster at ssh://b: refused".into()),
        reply(3, "web  STOPPED   Not started", None),
    ];
    let gathered = gather(&targets, "status", &[], &answers);
    assert_eq!(
        gathered.text,
        "alpha  web  RUNNING   pid 1\n\
         alpha  db   RUNNING   pid 2\n\
         b      ERROR: cannot reach taskmaster at ssh://b: refused\n\
         gamma  web  STOPPED   Not started\n"
    );
    assert_eq!(gathered.exit, 4, "an unreachable host is status's 4");
}

#[test]
fn the_exit_code_is_zero_only_if_every_host_succeeded() {
    let targets = hosts(&["ssh://a", "ssh://b"]);
    let ok = reply(0, "web: started", None);
    let failed = reply(1, "nosuch: ERROR (no such process)", None);
    let args = ["web".to_string()];
    assert_eq!(
        gather(&targets, "start", &args, &[ok.clone(), ok.clone()]).exit,
        0
    );
    assert_eq!(
        gather(&targets, "start", &args, &[ok.clone(), failed.clone()]).exit,
        1
    );
    let gone = Answer::Unreachable("x".into());
    assert_eq!(gather(&targets, "start", &args, &[failed, gone]).exit, 3);
    assert_eq!(
        gather(&targets, "start", &args, &[ok.clone(), ok]).text,
        "a  web: started\nb  web: started\n"
    );
}

#[test]
fn status_json_is_one_array_with_a_host_field() {
    let targets = hosts(&["ssh://a", "ssh://b", "ssh://c"]);
    let answers = [
        reply(0, "[..]", Some(json!([{"name": "web"}, {"name": "db"}]))),
        reply(
            0,
            "{..}",
            Some(json!({"daemon": {"pid": 7}, "instances": []})),
        ),
        Answer::Unreachable("refused".into()),
    ];
    let args = ["--json".to_string()];
    let text = gather(&targets, "status", &args, &answers).text;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value,
        json!([
            {"host": "a", "name": "web"},
            {"host": "a", "name": "db"},
            {"host": "b", "daemon": {"pid": 7}, "instances": []},
            {"host": "c", "error": "refused"},
        ])
    );
}
