//! One `http` or `tcp` check in flight on the `health-net` thread: a
//! non-blocking socket moved a step on each time `poll` says it is ready, never
//! waiting itself. The same steps, bounds and words as the blocking form in
//! `net.rs`: connect (each address in turn), write the request, read the status
//! line (within [`RESPONSE_HEAD_MAX`]), then the rest of the answer (at most
//! [`RESPONSE_MAX`], until the deadline) before closing.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nix::poll::PollFlags;

use super::net::{self, RESPONSE_HEAD_MAX, RESPONSE_MAX};
use super::nonblocking;
use crate::config::{HealthCheck, Probe};

/// What a check says: `Err` is why it failed.
pub(super) type Verdict = Result<(), String>;

/// The addresses of `host` when they need no look-up: an IP address, or
/// `localhost` (127.0.0.1, then ::1). `None` for a name, which is looked up
/// elsewhere (a look-up may block, and this thread serves every check).
pub(super) fn literal_addresses(host: &str, port: u16) -> Option<Vec<SocketAddr>> {
    if host.eq_ignore_ascii_case("localhost") {
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port);
        return Some(vec![v4, v6]);
    }
    let ip: IpAddr = host.parse().ok()?;
    Some(vec![SocketAddr::new(ip, port)])
}

/// Whether the `health-net` thread can run this check: `http` or `tcp` to an
/// address that needs no look-up.
pub(super) fn runs_on_net_thread(check: &HealthCheck) -> bool {
    match &check.probe {
        Probe::Cmd { .. } => false,
        Probe::Http(target) => literal_addresses(&target.host, target.port).is_some(),
        Probe::Tcp { host, port } => literal_addresses(host, *port).is_some(),
    }
}

enum Step {
    Connecting,
    Writing {
        written: usize,
    },
    /// Before the status line is complete.
    Head,
    /// The status line decided the verdict; the rest is read before closing.
    Rest(Verdict),
}

/// A check under way.
pub(super) struct Flight {
    probe: Probe,
    addresses: Vec<SocketAddr>,
    /// The next address to try when this connect fails.
    next_address: usize,
    /// Why the first connect failed: for `localhost`, 127.0.0.1's refusal
    /// says more than ::1 missing on a host without IPv6.
    first_error: Option<String>,
    stream: Option<TcpStream>,
    step: Step,
    request: Vec<u8>,
    received: Vec<u8>,
    pub(super) deadline: Instant,
    timeout: Duration,
}

/// How a step ended.
pub(super) enum Progress {
    Waiting,
    Done(Verdict),
}

impl Flight {
    /// Starts `check` (its connect under way), or its verdict when it is decided
    /// at once (refused on the spot, or no address to run it with here).
    pub(super) fn start(check: &HealthCheck, now: Instant) -> Result<Flight, Verdict> {
        let (host, port, request) = match &check.probe {
            Probe::Cmd { .. } => return Err(Err("not a network check".to_string())),
            Probe::Http(t) => (&t.host, t.port, net::request(t).into_bytes()),
            Probe::Tcp { host, port } => (host, *port, Vec::new()),
        };
        let Some(addresses) = literal_addresses(host, port) else {
            return Err(Err(format!("{host} needs a look-up")));
        };
        let mut flight = Flight {
            probe: check.probe.clone(),
            addresses,
            next_address: 0,
            first_error: None,
            stream: None,
            step: Step::Connecting,
            request,
            received: Vec::new(),
            deadline: now + check.timeout,
            timeout: check.timeout,
        };
        match flight.connect_next() {
            Progress::Waiting => Ok(flight),
            Progress::Done(verdict) => Err(verdict),
        }
    }

    /// The socket to poll, and for what.
    pub(super) fn interest(&self) -> Option<(&TcpStream, PollFlags)> {
        let events = match self.step {
            Step::Connecting | Step::Writing { .. } => PollFlags::POLLOUT,
            Step::Head | Step::Rest(_) => PollFlags::POLLIN,
        };
        self.stream.as_ref().map(|s| (s, events))
    }

    /// `poll` said the socket is ready (`revents`): as far as it goes now.
    pub(super) fn advance(&mut self, revents: PollFlags) -> Progress {
        if let Step::Connecting = self.step {
            let Some(stream) = &self.stream else {
                return self.connect_next();
            };
            if revents.intersects(PollFlags::POLLERR | PollFlags::POLLHUP) {
                let why = net::describe(&nonblocking::connect_error(stream), self.timeout);
                self.first_error.get_or_insert(why);
                return self.connect_next();
            }
            if matches!(self.probe, Probe::Tcp { .. }) {
                return Progress::Done(Ok(()));
            }
            self.step = Step::Writing { written: 0 };
        }
        match self.step {
            Step::Writing { .. } => self.write(),
            _ => self.read(),
        }
    }

    /// The deadline passed (the socket was looked at one last time): the verdict.
    pub(super) fn expire(self) -> Verdict {
        match self.step {
            Step::Rest(verdict) => verdict,
            _ => self.fail(net::no_answer(self.timeout)),
        }
    }

    /// Tries the next address; `Done` with the first error when none is left.
    fn connect_next(&mut self) -> Progress {
        self.stream = None;
        while let Some(address) = self.addresses.get(self.next_address) {
            self.next_address += 1;
            if Instant::now() >= self.deadline {
                self.first_error.get_or_insert(net::no_answer(self.timeout));
                break;
            }
            match nonblocking::start_connect(address) {
                Ok((stream, connected)) => {
                    self.stream = Some(stream);
                    if !connected {
                        return Progress::Waiting;
                    }
                    return self.advance(PollFlags::POLLOUT);
                }
                Err(e) => {
                    self.first_error
                        .get_or_insert(net::describe(&e, self.timeout));
                }
            }
        }
        let why = self
            .first_error
            .clone()
            .unwrap_or_else(|| "no address".to_string());
        Progress::Done(self.fail(why))
    }

    fn write(&mut self) -> Progress {
        let Step::Writing { mut written } = self.step else {
            return Progress::Waiting;
        };
        let Some(stream) = &mut self.stream else {
            return Progress::Done(self.fail("no connection".to_string()));
        };
        while written < self.request.len() {
            match stream.write(&self.request[written..]) {
                Ok(0) => return Progress::Done(self.fail("connection closed".to_string())),
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.step = Step::Writing { written };
                    return Progress::Waiting;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Progress::Done(self.fail(net::describe(&e, self.timeout))),
            }
        }
        // Nothing can have come yet: wait for the answer before reading.
        self.step = Step::Head;
        Progress::Waiting
    }

    fn read(&mut self) -> Progress {
        let mut buf = [0u8; 4096];
        loop {
            if let Step::Rest(verdict) = &self.step {
                if net::response_complete(&self.received) || self.received.len() >= RESPONSE_MAX {
                    return Progress::Done(verdict.clone());
                }
            }
            let Some(stream) = &mut self.stream else {
                return Progress::Done(self.fail("no connection".to_string()));
            };
            let n = match stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Waiting,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => match &self.step {
                    Step::Rest(verdict) => return Progress::Done(verdict.clone()),
                    _ => return Progress::Done(self.fail(net::describe(&e, self.timeout))),
                },
            };
            if n == 0 {
                return Progress::Done(match &self.step {
                    Step::Rest(verdict) => verdict.clone(),
                    _ if self.received.is_empty() => {
                        self.fail("the connection was closed without a response".to_string())
                    }
                    _ => self.decide(),
                });
            }
            self.received.extend_from_slice(&buf[..n]);
            if let Step::Head = self.step {
                if self.received.contains(&b'\n') {
                    let verdict = self.decide();
                    self.step = Step::Rest(verdict);
                } else if self.received.len() >= RESPONSE_HEAD_MAX {
                    return Progress::Done(self.fail(format!(
                        "no status line in the first {RESPONSE_HEAD_MAX} bytes"
                    )));
                }
            }
        }
    }

    /// The verdict of the status line received.
    fn decide(&self) -> Verdict {
        match net::parse_status_line(&self.received) {
            None => {
                let shown = crate::output::printable::last_line(&self.received, 80);
                self.fail(format!("not an HTTP response ({shown:?})"))
            }
            Some((200..=399, _)) => Ok(()),
            Some((code, reason)) => {
                self.fail(format!("HTTP {code} {reason}").trim_end().to_string())
            }
        }
    }

    /// A failure in the words of its probe.
    fn fail(&self, why: String) -> Verdict {
        Err(match &self.probe {
            Probe::Http(target) => format!("GET {}: {why}", target.url),
            Probe::Tcp { host, port } => format!("connect to {host}:{port}: {why}"),
            Probe::Cmd { .. } => why,
        })
    }
}
