//! One command on several hosts (README: Many hosts over SSH): asked of every host
//! at once — a thread per host, at most [`MAX_PARALLEL`] at a time — then the
//! replies gathered in the order the hosts were given: each line behind its
//! host's label in a HOST column (`status --json`: a `host` field), an unreachable
//! host as an error line in its place, and one exit code for all.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::ssh::SshSettings;
use super::url::{labels, SshTarget};
use crate::control::protocol::Response;

/// Hosts asked at the same time.
pub const MAX_PARALLEL: usize = 16;

/// A command that holds the connection open (a stream, the terminal), so it
/// goes to one host only.
pub fn needs_one_host(cmd: &str, args: &[String]) -> bool {
    match cmd {
        "attach" | "fg" | "top" | "events" | "notices" => true,
        "tail" | "maintail" => args.iter().any(|a| a == "-f"),
        _ => false,
    }
}

/// What one host answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Reply(Response),
    /// The host or its daemon could not be reached, or the connection broke.
    Unreachable(String),
}

/// `cmd args` asked of every target; the answers in the targets' order.
pub fn ask_all(
    targets: &[SshTarget],
    settings: &SshSettings,
    cmd: &str,
    args: &[String],
) -> Vec<Answer> {
    let answers: Vec<Mutex<Option<Answer>>> = targets.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(target) = targets.get(i) else {
            return;
        };
        *answers[i].lock() = Some(ask(target, settings, cmd, args));
    };
    std::thread::scope(|scope| {
        for _ in 0..targets.len().min(MAX_PARALLEL) {
            let started = std::thread::Builder::new()
                .name("host".into())
                .stack_size(crate::stack::THREAD_STACK)
                .spawn_scoped(scope, work);
            if started.is_err() {
                break;
            }
        }
        // The caller's thread works too: with no thread started, it asks them all.
        work();
    });
    answers
        .into_iter()
        .map(|a| {
            a.into_inner()
                .unwrap_or_else(|| Answer::Unreachable("not asked".into()))
        })
        .collect()
}

fn ask(target: &SshTarget, settings: &SshSettings, cmd: &str, args: &[String]) -> Answer {
    let mut client = match settings.connect(target) {
        Ok(c) => c,
        Err(e) => return Answer::Unreachable(e.to_string()),
    };
    match client.request(cmd, args) {
        // Checked before sending; a daemon that streams anyway is not followed.
        Ok(reply) if reply.stream => Answer::Reply(Response {
            data: None,
            exit: 2,
            ok: false,
            output: format!("{cmd}: a stream needs one host"),
            stream: false,
        }),
        Ok(reply) => Answer::Reply(reply),
        Err(e) => Answer::Unreachable(e.to_string()),
    }
}

/// The gathered reply: what to print, and the exit code.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered {
    pub text: String,
    pub exit: u8,
}

/// The answers of `targets` to `cmd args`, gathered. The exit code is the highest
/// of the hosts' codes (so 0 only if every host succeeded); an unreachable host
/// counts as taskmasterctl's own code for it: 4 for `status`, 3 otherwise.
pub fn gather(targets: &[SshTarget], cmd: &str, args: &[String], answers: &[Answer]) -> Gathered {
    let status = cmd == "status";
    let unreachable_code = if status { 4 } else { 3 };
    let exit = answers
        .iter()
        .map(|a| match a {
            Answer::Reply(r) => r.exit.clamp(0, 255) as u8,
            Answer::Unreachable(_) => unreachable_code,
        })
        .max()
        .unwrap_or(0);
    let labels = labels(targets);
    let text = if status && args.iter().any(|a| a == "--json") {
        json(&labels, answers)
    } else {
        columns(&labels, answers)
    };
    Gathered { text, exit }
}

/// Every line behind its host, the labels padded to one width.
fn columns(labels: &[String], answers: &[Answer]) -> String {
    let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (label, answer) in labels.iter().zip(answers) {
        let output = match answer {
            Answer::Reply(r) => r.output.clone(),
            Answer::Unreachable(why) => format!("ERROR: {why}"),
        };
        for line in output.lines() {
            out.push_str(&format!("{label:<width$}  {line}\n"));
        }
    }
    out
}

/// `status --json` of every host as one array: each instance's object (or each
/// host's `-l` object) with a `host` field; a host that could not answer as
/// `{"host": LABEL, "error": WHY}`.
fn json(labels: &[String], answers: &[Answer]) -> String {
    let mut all = Vec::new();
    for (label, answer) in labels.iter().zip(answers) {
        let with_host = |value: &serde_json::Value| {
            let mut value = value.clone();
            if let Some(object) = value.as_object_mut() {
                object.insert("host".into(), label.clone().into());
            }
            value
        };
        match answer {
            Answer::Reply(r) => match r.data_value() {
                Some(serde_json::Value::Array(items)) => all.extend(items.iter().map(with_host)),
                Some(object @ serde_json::Value::Object(_)) => all.push(with_host(&object)),
                _ => all.push(serde_json::json!({"host": label, "error": r.output})),
            },
            Answer::Unreachable(why) => all.push(serde_json::json!({"host": label, "error": why})),
        }
    }
    let mut text = serde_json::to_string(&all).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

#[cfg(test)]
#[path = "fanout_tests.rs"]
mod tests;
