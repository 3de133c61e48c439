//! `taskmasterctl`'s interactive shell: the same line editor as the daemon's,
//! each command sent over one connection (reopened when it breaks), notices on a
//! second one — to a local socket or, through ssh, a remote daemon.

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use taskmaster::control::client::{self, complain, say, Client};
use taskmaster::control::protocol::Response;
use taskmaster::remote::Endpoint;
use taskmaster::shell::{self, Backend};
use taskmaster::terminal::attach::attach_and_report;
use taskmaster::terminal::until_ctrl_c;

use crate::{is_attach, print_reply};

/// The interactive shell over one connection, reopened when it breaks.
struct ConnectionBackend {
    endpoint: Endpoint,
    client: Option<Client>,
    /// Where notices go until a subscription is running (the daemon may not be up
    /// yet when the shell starts: it is tried again after each command).
    notices: Option<std::sync::mpsc::SyncSender<String>>,
    /// A command could not reach the daemon (commands piped in then exit 3).
    unreachable: bool,
    /// Set by the interrupter (Ctrl-C) of the command running: its connection was
    /// closed on purpose, and the command must not be sent again.
    interrupted: Arc<AtomicBool>,
    /// The shell's notices, held while attached.
    hold: shell::NoticeHold,
}

impl ConnectionBackend {
    fn request(&mut self, cmd: &str, args: &[String]) -> Result<Response, String> {
        // One retry on a fresh connection: the daemon may have been restarted.
        for attempt in 0..2 {
            let client = match self.client.take() {
                Some(c) => c,
                None => self.endpoint.connect().map_err(|e| e.to_string())?,
            };
            self.client = Some(client);
            match self.client.as_mut().map(|c| c.request(cmd, args)) {
                Some(Ok(reply)) => return Ok(reply),
                Some(Err(_)) if self.interrupted.load(Ordering::SeqCst) => {
                    self.client = None;
                    return Err("interrupted".into());
                }
                Some(Err(e)) if attempt == 1 => {
                    self.client = None;
                    return Err(e.to_string());
                }
                _ => self.client = None,
            }
        }
        Err(format!(
            "cannot reach taskmaster at {}",
            self.endpoint.place()
        ))
    }

    /// `tail -f`: copy the stream until Ctrl-C, which closes the connection.
    fn follow(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        let Some(closer) = client.closer() else {
            return;
        };
        until_ctrl_c(
            move || closer.close(),
            || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = client.stream().read(&mut buf) {
                    if n == 0 || client::write_out(&buf[..n]).is_err() {
                        break;
                    }
                }
            },
        );
        say("");
    }
}

impl Backend for ConnectionBackend {
    fn run(&mut self, line: &str) -> bool {
        let Some(words) = shlex::split(line) else {
            say("*** Unbalanced quotes in command line");
            return true;
        };
        let Some((cmd, args)) = words.split_first() else {
            return true;
        };
        if cmd == "quit" || cmd == "exit" {
            // `-y` is accepted as in the daemon's shell; leaving stops nothing here.
            return false;
        }
        if cmd == "top" && args.is_empty() && taskmaster::top::usable_terminal() {
            let endpoint = self.endpoint.clone();
            let view = || taskmaster::top::over_connection(|| endpoint.connect());
            if let Err(e) = self.hold.holding(view) {
                say(&format!("top: {e}"));
            }
            return true;
        }
        let result = self.request(cmd, args);
        let interrupted = std::mem::take(&mut self.interrupted);
        if result.is_err() && interrupted.load(Ordering::SeqCst) {
            say(&taskmaster::frontend::interrupted_message(line));
            return true;
        }
        if result.is_ok() {
            if let Some(tx) = self.notices.take() {
                if let Err(tx) = subscribe_notices(&self.endpoint, tx) {
                    self.notices = Some(tx);
                }
            }
        }
        match result {
            Ok(reply) if reply.stream && is_attach(cmd) => {
                if let Some(client) = self.client.take() {
                    self.hold
                        .holding(|| attach_and_report(client, &reply, true));
                }
            }
            Ok(reply) => {
                print_reply(&reply);
                if reply.stream {
                    self.follow();
                }
            }
            Err(e) => {
                self.unreachable = true;
                say(&format!("taskmasterctl: {e}"));
            }
        }
        true
    }

    fn end_of_input(&mut self) {
        say("");
    }

    fn interrupter(&mut self) -> Option<Box<dyn FnOnce() + Send>> {
        if self.client.is_none() {
            self.client = self.endpoint.connect().ok();
        }
        let closer = self.client.as_ref()?.closer()?;
        let interrupted = Arc::new(AtomicBool::new(false));
        self.interrupted = interrupted.clone();
        // Closing our end ends our wait; the daemon finishes the command anyway.
        Some(Box::new(move || {
            interrupted.store(true, Ordering::SeqCst);
            closer.close();
        }))
    }
}

pub fn interactive(endpoint: &Endpoint, history: Option<PathBuf>) -> u8 {
    // Say at once when the daemon is not there, rather than at the first command.
    // On a terminal the shell still opens (each command tries again: the daemon may
    // be starting); commands piped in would all fail, so they are not run.
    let terminal = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    if let Err(e) = endpoint.connect_checked() {
        complain(&format!("taskmasterctl: {e}"));
        if !terminal {
            return 3;
        }
    }
    let names = {
        let endpoint = endpoint.clone();
        Arc::new(move || remote_names(&endpoint)) as shell::NameSource
    };
    let channel = shell::NoticeChannel::new();
    let mut backend = ConnectionBackend {
        endpoint: endpoint.clone(),
        client: None,
        notices: subscribe_notices(endpoint, channel.tx.clone()).err(),
        unreachable: false,
        interrupted: Arc::default(),
        hold: channel.hold(),
    };
    match shell::run(&mut backend, names, history, Some(channel)) {
        Ok(()) if backend.unreachable && !terminal => 3,
        Ok(()) => 0,
        Err(e) => {
            complain(&format!("taskmasterctl: {e}"));
            1
        }
    }
}

/// Event notices from the daemon, on a connection of their own, fed to `tx` for
/// the shell to print above its prompt. Gives `tx` back when the daemon cannot be
/// reached (yet).
fn subscribe_notices(
    endpoint: &Endpoint,
    tx: std::sync::mpsc::SyncSender<String>,
) -> Result<(), std::sync::mpsc::SyncSender<String>> {
    let Ok(mut client) = endpoint.connect() else {
        return Err(tx);
    };
    match client.request("notices", &[]) {
        Ok(reply) if reply.stream => {}
        _ => return Err(tx),
    }
    let reader = std::thread::Builder::new().name("notices-in".into());
    let forward = tx.clone();
    let started = reader.spawn(move || {
        use std::io::BufRead;
        for line in client.stream().lines().map_while(Result::ok) {
            if forward.send(line).is_err() {
                return;
            }
        }
    });
    started.map(drop).map_err(|_| tx)
}

/// Instance and program names, for completion.
fn remote_names(endpoint: &Endpoint) -> Vec<String> {
    let Ok(mut client) = endpoint.connect() else {
        return Vec::new();
    };
    let Ok(reply) = client.request("status", &["--json".to_string()]) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Some(serde_json::Value::Array(items)) = reply.data_value() {
        for item in &items {
            if let Some(name) = item["name"].as_str() {
                names.push(name.to_string());
                if let Some((program, _)) = name.split_once(':') {
                    names.push(program.to_string());
                }
            }
        }
    }
    names
}
