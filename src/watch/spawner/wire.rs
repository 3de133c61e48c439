//! The spawn helper's two messages, one `SOCK_SEQPACKET` datagram each.
//!
//! A request is `argc`, `envc` (little-endian `u32`s) then the program path, the
//! working directory, the arguments and the environment, each NUL-terminated; the
//! descriptors for the child's 0, 1, 2 (and the exec helper's 3) ride along as
//! `SCM_RIGHTS`, in that order. A reply is three `i32`s (kind, pid, errno), with the
//! child's pidfd as `SCM_RIGHTS` whenever a child was made. Both sides check
//! everything they decode: a request or reply that does not parse is refused, never
//! trusted.

use std::ffi::{CStr, CString};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// The largest request: larger ones (a huge environment) are spawned in the daemon.
/// It stays under the socket's default send buffer, so a request is never refused
/// by the kernel for its size.
pub const MAX_REQUEST: usize = 128 * 1024;
/// Descriptors a request carries: stdin, stdout, stderr and the exec helper's status.
pub const MAX_FDS: usize = 4;
/// What one message on a helper socket brought: its length, the kernel's flags
/// (`MSG_TRUNC`, `MSG_CTRUNC`) and the descriptors that came with it, owned.
pub struct Received {
    pub bytes: usize,
    pub flags: MsgFlags,
    pub fds: Vec<OwnedFd>,
}

/// One `recvmsg` into `buf` (retried on EINTR), with room for a request's
/// descriptors and one more, each made close-on-exec; both the helper (requests)
/// and the daemon (replies) read their messages so.
pub fn receive(socket: &OwnedFd, buf: &mut [u8]) -> Result<Received, Errno> {
    loop {
        let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS + 1]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => msg,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        };
        let mut fds = Vec::new();
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    // SAFETY: the kernel just installed these for us.
                    fds.extend(
                        raw.into_iter()
                            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                    );
                }
            }
        }
        return Ok(Received {
            bytes: msg.bytes,
            flags: msg.flags,
            fds,
        });
    }
}

/// Bytes of a reply.
pub const REPLY_LEN: usize = 12;

/// A request ready to send; `None` when it exceeds [`MAX_REQUEST`].
pub fn encode_request(
    exe: &CStr,
    cwd: &CStr,
    argv: &[CString],
    env: &[CString],
) -> Option<Vec<u8>> {
    let strings = argv.iter().chain(env).map(|s| s.as_bytes_with_nul().len());
    let len = 8 + exe.to_bytes_with_nul().len() + cwd.to_bytes_with_nul().len();
    let len = strings.fold(len, usize::saturating_add);
    if len > MAX_REQUEST || argv.is_empty() {
        return None;
    }
    let mut buf = Vec::with_capacity(len);
    buf.extend_from_slice(&u32::try_from(argv.len()).ok()?.to_le_bytes());
    buf.extend_from_slice(&u32::try_from(env.len()).ok()?.to_le_bytes());
    buf.extend_from_slice(exe.to_bytes_with_nul());
    buf.extend_from_slice(cwd.to_bytes_with_nul());
    for s in argv.iter().chain(env) {
        buf.extend_from_slice(s.as_bytes_with_nul());
    }
    Some(buf)
}

/// A decoded request: pointers into the received buffer, NULL-terminated arrays as
/// `execve` wants them. Valid while that buffer is.
pub struct Request {
    pub exe: *const libc::c_char,
    pub cwd: *const libc::c_char,
    pub argv: Vec<*const libc::c_char>,
    pub envp: Vec<*const libc::c_char>,
}

/// Parses a request; `None` unless the counts match the strings exactly.
pub fn decode_request(buf: &[u8]) -> Option<Request> {
    let count = |at: usize| -> Option<usize> {
        let bytes: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(bytes)).ok()
    };
    let (argc, envc) = (count(0)?, count(4)?);
    let body = buf.get(8..)?;
    // Every string ends with a NUL, so the body must too: a final piece without one
    // is a truncated string.
    if argc == 0 || body.last() != Some(&0) {
        return None;
    }
    let mut strings = Vec::new();
    let mut start = 0;
    for (i, &b) in body.iter().enumerate() {
        if b == 0 {
            strings.push(body[start..].as_ptr().cast::<libc::c_char>());
            start = i + 1;
        }
    }
    if strings.len() != argc.checked_add(envc)?.checked_add(2)? {
        return None;
    }
    let mut argv: Vec<_> = strings[2..2 + argc].to_vec();
    argv.push(std::ptr::null());
    let mut envp: Vec<_> = strings[2 + argc..].to_vec();
    envp.push(std::ptr::null());
    Some(Request {
        exe: strings[0],
        cwd: strings[1],
        argv,
        envp,
    })
}

/// What the spawn helper answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The child exec'd; its pidfd comes along.
    Spawned { pid: i32 },
    /// A child was made but could not exec (`errno` from chdir, dup or execve); it
    /// has exited, and its pidfd comes along so the daemon can reap it.
    ExecFailed { pid: i32, errno: i32 },
    /// No child was made (clone failed, or the request was refused): the daemon
    /// spawns this one itself.
    NotSpawned { errno: i32 },
}

const SPAWNED: i32 = 0;
const EXEC_FAILED: i32 = 1;
const NOT_SPAWNED: i32 = 2;

impl Reply {
    pub fn encode(self) -> [u8; REPLY_LEN] {
        let (kind, pid, errno) = match self {
            Reply::Spawned { pid } => (SPAWNED, pid, 0),
            Reply::ExecFailed { pid, errno } => (EXEC_FAILED, pid, errno),
            Reply::NotSpawned { errno } => (NOT_SPAWNED, 0, errno),
        };
        let mut out = [0; REPLY_LEN];
        out[0..4].copy_from_slice(&kind.to_le_bytes());
        out[4..8].copy_from_slice(&pid.to_le_bytes());
        out[8..12].copy_from_slice(&errno.to_le_bytes());
        out
    }

    /// Checks a reply against the descriptors that came with it: a child made means
    /// exactly one (its pidfd) and a positive pid; none made means none. Anything
    /// else is `None` (the descriptors are closed when dropped).
    /// The kind, pid and errno of a reply of exactly [`REPLY_LEN`] bytes.
    fn fields(buf: &[u8]) -> Option<(i32, i32, i32)> {
        if buf.len() != REPLY_LEN {
            return None;
        }
        let word = |i: usize| -> Option<[u8; 4]> { buf.get(i * 4..i * 4 + 4)?.try_into().ok() };
        Some((
            i32::from_le_bytes(word(0)?),
            i32::from_le_bytes(word(1)?),
            i32::from_le_bytes(word(2)?),
        ))
    }

    /// A reply whose pidfd the kernel could not give us (`MSG_CTRUNC`: our
    /// descriptor table was full): what it says of a child that exists, so that
    /// the child can be ended; `None` when it says no child was made.
    pub fn decode_without_pidfd(buf: &[u8]) -> Option<Reply> {
        let (kind, pid, errno) = Reply::fields(buf)?;
        match kind {
            SPAWNED if pid > 0 => Some(Reply::Spawned { pid }),
            EXEC_FAILED if pid > 0 => Some(Reply::ExecFailed { pid, errno }),
            _ => None,
        }
    }

    pub fn decode(buf: &[u8], mut fds: Vec<OwnedFd>) -> Option<(Reply, Option<OwnedFd>)> {
        if fds.len() > 1 {
            return None;
        }
        let (kind, pid, errno) = Reply::fields(buf)?;
        let pidfd = fds.pop();
        let made = pid > 0 && pidfd.is_some();
        match kind {
            SPAWNED if made && errno == 0 => Some((Reply::Spawned { pid }, pidfd)),
            EXEC_FAILED if made && errno > 0 => Some((Reply::ExecFailed { pid, errno }, pidfd)),
            NOT_SPAWNED if pid == 0 && pidfd.is_none() && errno > 0 => {
                Some((Reply::NotSpawned { errno }, None))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    fn text(p: *const libc::c_char) -> String {
        // SAFETY: a pointer decode_request made into a live, NUL-terminated buffer.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
    }

    #[test]
    fn a_request_decodes_to_what_was_encoded() {
        let argv = [c("sleep"), c("10")];
        let env = [c("A=1")];
        let buf = encode_request(&c("/bin/sleep"), &c("/tmp"), &argv, &env).unwrap();
        let req = decode_request(&buf).unwrap();
        assert_eq!(text(req.exe), "/bin/sleep");
        assert_eq!(text(req.cwd), "/tmp");
        assert_eq!(req.argv.len(), 3);
        assert_eq!(
            (text(req.argv[0]), text(req.argv[1])),
            ("sleep".into(), "10".into())
        );
        assert!(req.argv[2].is_null());
        assert_eq!((req.envp.len(), text(req.envp[0])), (2, "A=1".to_string()));
        assert!(req.envp[1].is_null());
    }

    #[test]
    fn a_request_over_the_bound_is_not_encoded() {
        let big = [c(&"x".repeat(MAX_REQUEST))];
        assert!(encode_request(&c("/bin/true"), &c("/"), &big, &[]).is_none());
        assert!(encode_request(&c("/bin/true"), &c("/"), &[], &[]).is_none());
    }

    #[test]
    fn a_malformed_request_is_refused() {
        let buf = encode_request(&c("/bin/true"), &c("/"), &[c("true")], &[c("A=1")]).unwrap();
        for cut in 0..buf.len() {
            assert!(decode_request(&buf[..cut]).is_none(), "cut at {cut}");
        }
        let mut more = buf.clone();
        more[4] = 2; // one more env string than sent
        assert!(decode_request(&more).is_none());
        let mut huge = buf.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_request(&huge).is_none());
    }

    fn an_fd() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    #[test]
    fn replies_decode_only_with_the_descriptors_they_promise() {
        let spawned = Reply::Spawned { pid: 42 };
        let (r, fd) = Reply::decode(&spawned.encode(), vec![an_fd()]).unwrap();
        assert_eq!((r, fd.is_some()), (spawned, true));
        assert!(Reply::decode(&spawned.encode(), vec![]).is_none());
        assert!(Reply::decode(&spawned.encode(), vec![an_fd(), an_fd()]).is_none());
        let failed = Reply::ExecFailed { pid: 42, errno: 2 };
        assert_eq!(
            Reply::decode(&failed.encode(), vec![an_fd()]).unwrap().0,
            failed
        );
        let not = Reply::NotSpawned { errno: 11 };
        assert_eq!(Reply::decode(&not.encode(), vec![]).unwrap().0, not);
        assert!(Reply::decode(&not.encode(), vec![an_fd()]).is_none());
    }

    #[test]
    fn a_malformed_reply_is_refused() {
        let good = Reply::Spawned { pid: 42 }.encode();
        assert!(Reply::decode(&good[..8], vec![an_fd()]).is_none());
        let mut kind = good;
        kind[0] = 9;
        assert!(Reply::decode(&kind, vec![an_fd()]).is_none());
        let mut pid = good;
        pid[4..8].copy_from_slice(&(-1i32).to_le_bytes());
        assert!(Reply::decode(&pid, vec![an_fd()]).is_none());
        let zero_errno = Reply::ExecFailed { pid: 4, errno: 0 }.encode();
        assert!(Reply::decode(&zero_errno, vec![an_fd()]).is_none());
    }

    #[test]
    fn a_reply_whose_pidfd_did_not_fit_still_names_its_child() {
        let spawned = Reply::Spawned { pid: 42 }.encode();
        assert_eq!(
            Reply::decode_without_pidfd(&spawned),
            Some(Reply::Spawned { pid: 42 })
        );
        let failed = Reply::ExecFailed { pid: 7, errno: 2 }.encode();
        assert_eq!(
            Reply::decode_without_pidfd(&failed),
            Some(Reply::ExecFailed { pid: 7, errno: 2 })
        );
        let none = Reply::NotSpawned { errno: 11 }.encode();
        assert_eq!(Reply::decode_without_pidfd(&none), None);
        assert_eq!(Reply::decode_without_pidfd(&spawned[..8]), None);
    }
}
