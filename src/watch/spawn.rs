//! Starting a child without forking the daemon (docs/ARCHITECTURE.md, Spawning).
//!
//! `fork()` of a process with a thousand threads copies every mapping and takes tens
//! of milliseconds; glibc's `posix_spawn` uses `clone(CLONE_VM|CLONE_VFORK)` and costs
//! the same whatever the daemon's size. So every child is started the way
//! `posix_spawn` does it — by the spawn helper ([`crate::watch::spawner`]), which
//! also spares the child a copy of the daemon's descriptor table, or else by
//! `posix_spawn` itself:
//! new session, empty signal mask, default dispositions, pipes on 0–2, working
//! directory — all things posix_spawn can do. What it cannot do (umask, dropping
//! privileges, a controlling terminal) is done by [`crate::watch::helper`]: taskmaster
//! re-executed in a tiny single-threaded mode that applies them and then execs the
//! target, reporting an exec failure back through a pipe on its fd 3.
//!
//! Only fds 0–2 survive: every descriptor the daemon holds is close-on-exec (see
//! [`crate::sys::fds::mark_inherited_fds_cloexec`]), and posix_spawn's `dup2` clears the
//! flag on the three it installs.

use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::libc;

use crate::config::{ExecForm, LaunchSpec};
use crate::sys;

/// Why a child could not be started. The texts follow supervisor's where it has one.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SpawnError {
    #[error("can't find command '{0}'")]
    NotFound(String),
    #[error("command at '{0}' is not executable")]
    NotExecutable(String),
    #[error("couldn't exec {path}: {reason}")]
    Exec { path: String, reason: String },
    #[error("couldn't set up the child: {0}")]
    Setup(String),
}

/// The daemon-side ends of a new child's standard streams.
pub enum ChildIo {
    Pipes {
        /// The child's stdin, which the daemon holds no end of (see [`StdinPipe`]).
        stdin: StdinPipe,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    Pty {
        /// The one handle on the master: read by the pump, written by attach
        /// (input, window size).
        master: Arc<OwnedFd>,
    },
}

/// Which pipe a child got as stdin, so that attach can open it again through
/// `/proc/PID/fd/0` and tell whether it still is that pipe.
///
/// The child's fd 0 is the pipe opened read-write: a reader, and a writer of its
/// own, so it never reads end of input, and the daemon keeps no descriptor for it
/// (one fewer per instance). Attach writes through `/proc/PID/fd/0` only while that
/// still names this pipe ([`StdinPipe::identity`]), never into whatever file the
/// child put in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdinPipe {
    pub dev: u64,
    pub ino: u64,
}

impl StdinPipe {
    /// The identity of the file `fd` refers to.
    pub fn identity(fd: std::os::fd::BorrowedFd<'_>) -> Result<Self, Errno> {
        let st = nix::sys::stat::fstat(fd)?;
        Ok(StdinPipe {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }
}

/// A new pipe for a child's stdin, opened read-write (see [`StdinPipe`]).
fn stdin_pipe() -> Result<(OwnedFd, StdinPipe), Errno> {
    let (read, _write) = sys::fds::pipe()?;
    // Opening a pipe through /proc gives a new open file of that pipe with the mode
    // asked for, as for a FIFO; both ends made by pipe2 close right after.
    let both = nix::fcntl::open(
        format!("/proc/self/fd/{}", read.as_raw_fd()).as_str(),
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let id = StdinPipe::identity(both.as_fd())?;
    Ok((both, id))
}

/// A started child. Its pid stays valid until the watcher reaps it.
pub struct Child {
    pub pid: i32,
    /// Polled for the exit and used to signal without racing pid reuse.
    pub pidfd: OwnedFd,
    pub io: ChildIo,
}

/// The path the exec helper is started from: this very executable, even if the file
/// was replaced on disk since the daemon started.
const SELF_EXE: &str = "/proc/self/exe";
/// The hidden first argument that puts `taskmaster` in exec-helper mode.
pub const HELPER_FLAG: &str = "--exec-helper";
/// The helper reports a failure on this descriptor.
pub const HELPER_STATUS_FD: RawFd = 3;

/// Starts `spec` as a new session with pipes on 0–2.
pub fn spawn(spec: &LaunchSpec, marker: crate::orphans::Marker<'_>) -> Result<Child, SpawnError> {
    // Before the first descriptor is made: see `spawn_slots`.
    let _slot = super::spawn_slots::take();
    let program = resolve_program(&spec.argv[0], spec)?;
    let needs_helper = spec.umask.is_some() || spec.user.is_some() || spec.pty;

    let setup = |what: &str, e: Errno| SpawnError::Setup(format!("{what}: {}", e.desc()));
    // `child_ends` are the descriptors installed on the child's 0, 1, 2; they are
    // dropped right after the spawn so that EOF/EIO can reach the pump.
    let (io, child_ends) = if spec.pty {
        let (master, slave) = crate::pty::open_pty().map_err(|e| setup("pty", e))?;
        (
            ChildIo::Pty {
                master: Arc::new(master),
            },
            [
                slave
                    .try_clone()
                    .map_err(|e| SpawnError::Setup(format!("pty: {e}")))?,
                slave
                    .try_clone()
                    .map_err(|e| SpawnError::Setup(format!("pty: {e}")))?,
                slave,
            ],
        )
    } else {
        let (stdin, stdin_id) = stdin_pipe().map_err(|e| setup("stdin pipe", e))?;
        let (stdout_r, stdout_w) = sys::fds::pipe().map_err(|e| setup("stdout pipe", e))?;
        let (stderr_r, stderr_w) = sys::fds::pipe().map_err(|e| setup("stderr pipe", e))?;
        let io = ChildIo::Pipes {
            stdin: stdin_id,
            stdout: stdout_r,
            stderr: stderr_r,
        };
        (io, [stdin, stdout_w, stderr_w])
    };

    let mut fds: Vec<(RawFd, RawFd)> = child_ends
        .iter()
        .zip(0..)
        .map(|(fd, n)| (fd.as_raw_fd(), n))
        .collect();
    let mut status_pipe = None;
    let exec_error = |e: Errno| SpawnError::Exec {
        path: program.display().to_string(),
        reason: e.desc().to_string(),
    };
    let exe = cstring(program.as_os_str()).map_err(exec_error)?;
    // Named in its environment: what it leaves behind is known as this instance's.
    let form = crate::orphans::adopted::marked_form(&spec.exec, marker).map_err(exec_error)?;
    // From before the child exists until its pid is ours: the orphan reaper waits.
    let spawning = crate::orphans::spawning();
    let (pid, pidfd) = if needs_helper {
        let (r, w) = sys::fds::pipe().map_err(|e| setup("status pipe", e))?;
        fds.push((w.as_raw_fd(), HELPER_STATUS_FD));
        status_pipe = Some((r, w));
        let argv: Vec<CString> = helper_argv(spec, &program)
            .iter()
            .map(|a| cstring(a))
            .collect::<Result<_, _>>()
            .map_err(exec_error)?;
        let helper = CString::new(SELF_EXE).map_err(|_| exec_error(Errno::EINVAL))?;
        start_process(&helper, &argv, &form, &fds)
    } else {
        start_process(&exe, &spec.exec.argv, &form, &fds)
    }
    .map_err(exec_error)?;
    drop(child_ends);

    if let Some((r, w)) = status_pipe {
        drop(w);
        if let Some(err) = read_helper_status(r) {
            // The helper exits 127 right after reporting; reap it here, nobody else will.
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            return Err(SpawnError::Exec {
                path: program.display().to_string(),
                reason: err,
            });
        }
    }

    let pidfd = match pidfd {
        Some(pidfd) => pidfd,
        None => match sys::pidfd::pidfd_open(pid) {
            Ok(pidfd) => pidfd,
            Err(e) => {
                kill_unwatched(pid);
                return Err(setup("pidfd_open", e));
            }
        },
    };
    spawning.owns(pid);
    Ok(Child { pid, pidfd, io })
}

/// Ends a child that was started but can never be watched (no pidfd: the
/// daemon's descriptor table is full), so no process runs that no instance
/// knows. It is the daemon's own child and not reaped yet, so `pid` is still
/// its: SIGKILL to its process group (it is a session leader) and to it, then
/// reaped here.
pub(super) fn kill_unwatched(pid: i32) {
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

/// Finds the file to execute like `execvp` would, so a missing or non-executable
/// command is reported before anything is spawned. A name with a `/` is taken
/// relative to the working directory (the child is there when it execs).
pub fn resolve_program(name: &str, spec: &LaunchSpec) -> Result<PathBuf, SpawnError> {
    let check = |path: PathBuf| -> Result<PathBuf, SpawnError> {
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(path),
            Ok(_) => Err(SpawnError::NotExecutable(path.display().to_string())),
            Err(_) => Err(SpawnError::NotFound(name.to_string())),
        }
    };
    if name.contains('/') {
        return check(spec.workingdir.join(name));
    }
    let path_var = spec
        .exec
        .path
        .clone()
        .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    let mut not_executable = None;
    for dir in std::env::split_paths(&path_var) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        match check(spec.workingdir.join(dir).join(name)) {
            Ok(found) => return Ok(found),
            Err(e @ SpawnError::NotExecutable(_)) => not_executable = not_executable.or(Some(e)),
            Err(_) => {}
        }
    }
    Err(not_executable.unwrap_or_else(|| SpawnError::NotFound(name.to_string())))
}

/// `taskmaster --exec-helper UMASK USER CTTY PROGRAM ARGV...`; `-` means "leave as
/// is"; CTTY is `ctty` to make fd 0 the controlling terminal.
fn helper_argv(spec: &LaunchSpec, program: &Path) -> Vec<OsString> {
    let mut argv = vec![OsString::from("taskmaster"), OsString::from(HELPER_FLAG)];
    argv.push(match spec.umask {
        Some(mask) => OsString::from(format!("{mask:o}")),
        None => OsString::from("-"),
    });
    argv.push(match &spec.user {
        Some(user) => OsString::from(format!("{}:{}:{}", user.uid, user.gid, user.name)),
        None => OsString::from("-"),
    });
    argv.push(OsString::from(if spec.pty { "ctty" } else { "-" }));
    argv.push(program.as_os_str().to_owned());
    argv.extend(spec.argv.iter().map(OsString::from));
    argv
}

/// EOF with nothing read: the target was exec'd. Otherwise the helper wrote why not.
fn read_helper_status(pipe: OwnedFd) -> Option<String> {
    let mut text = String::new();
    let mut file = std::fs::File::from(pipe);
    match file.read_to_string(&mut text) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(text),
    }
}

fn cstring(s: &OsStr) -> Result<CString, Errno> {
    CString::new(s.as_bytes()).map_err(|_| Errno::EINVAL)
}

/// Starts the process through the daemon's spawn helper when it has one (its pidfd
/// comes back too), else with `posix_spawn` here.
fn start_process(
    exe: &CString,
    argv: &[CString],
    form: &ExecForm,
    fds: &[(RawFd, RawFd)],
) -> Result<(i32, Option<OwnedFd>), Errno> {
    match super::spawner::spawn(exe, argv, &form.env, &form.cwd, fds) {
        Some(result) => result.map(|(pid, pidfd)| (pid, Some(pidfd))),
        None => posix_spawn(exe, argv, form, fds).map(|pid| (pid, None)),
    }
}

/// The raw `posix_spawn` call: new session, empty mask, default dispositions, the
/// given fds installed with `dup2`, and `chdir` to `cwd` before exec.
///
/// Hand-written rather than nix's `spawn` module (docs/ARCHITECTURE.md,
/// "Hand-written system calls"): nix's file actions have no `addchdir_np` and its
/// flags no `POSIX_SPAWN_SETSID`, and its attribute and file-action objects give no
/// access to the `posix_spawn_*_t` they wrap, so the calls it lacks cannot be added
/// beside it. Doing the `chdir` in the exec helper instead would re-exec every child.
pub(super) fn posix_spawn(
    exe: &CString,
    argv: &[CString],
    form: &ExecForm,
    fds: &[(RawFd, RawFd)],
) -> Result<i32, Errno> {
    let (env, cwd) = (&form.env, &form.cwd);
    let mut argv_ptrs: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr() as *mut _).collect();
    argv_ptrs.push(std::ptr::null_mut());
    let mut env_ptrs: Vec<*mut libc::c_char> = env.iter().map(|a| a.as_ptr() as *mut _).collect();
    env_ptrs.push(std::ptr::null_mut());

    let mut actions = FileActions::new()?;
    for &(from, to) in fds {
        // SAFETY: `actions.0` was initialised by posix_spawn_file_actions_init.
        Errno::result(unsafe { libc::posix_spawn_file_actions_adddup2(&mut actions.0, from, to) })?;
    }
    // SAFETY: as above; `cwd` outlives the posix_spawn call below.
    Errno::result(unsafe {
        libc::posix_spawn_file_actions_addchdir_np(&mut actions.0, cwd.as_ptr())
    })?;
    let attr = SpawnAttr::new()?;

    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid for the call: NUL-terminated strings kept alive
    // above, NULL-terminated pointer arrays, initialised actions and attributes.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            exe.as_ptr(),
            &actions.0,
            &attr.0,
            argv_ptrs.as_ptr(),
            env_ptrs.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(Errno::from_raw(rc));
    }
    Ok(pid)
}

/// RAII for `posix_spawn_file_actions_t`.
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> Result<Self, Errno> {
        // SAFETY: an all-zero value is a valid placeholder until init fills it in.
        let mut raw: libc::posix_spawn_file_actions_t = unsafe { std::mem::zeroed() };
        // SAFETY: `raw` is a valid, writable posix_spawn_file_actions_t.
        Errno::result(unsafe { libc::posix_spawn_file_actions_init(&mut raw) })?;
        Ok(FileActions(raw))
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed exactly once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// RAII for `posix_spawnattr_t`, set up for a clean child: its own session, an
/// empty signal mask and every signal at its default disposition.
struct SpawnAttr(libc::posix_spawnattr_t);

impl SpawnAttr {
    fn new() -> Result<Self, Errno> {
        // SAFETY: zeroed placeholder, then initialised by posix_spawnattr_init.
        let mut raw: libc::posix_spawnattr_t = unsafe { std::mem::zeroed() };
        // SAFETY: `raw` is valid and writable.
        Errno::result(unsafe { libc::posix_spawnattr_init(&mut raw) })?;
        let mut attr = SpawnAttr(raw);
        let flags = libc::POSIX_SPAWN_SETSID as libc::c_int
            | libc::POSIX_SPAWN_SETSIGMASK
            | libc::POSIX_SPAWN_SETSIGDEF;
        // Not sigfillset: it leaves out glibc's reserved signals, which posix_spawn
        // would then leave ignored in the child.
        let all = super::child_signals::every_signal();
        let empty = nix::sys::signal::SigSet::empty();
        // SAFETY: `attr.0` was initialised by posix_spawnattr_init; both signal sets
        // are initialised values (nix's empty set, `every_signal`'s bits).
        unsafe {
            Errno::result(libc::posix_spawnattr_setsigmask(
                &mut attr.0,
                empty.as_ref(),
            ))?;
            Errno::result(libc::posix_spawnattr_setsigdefault(&mut attr.0, &all))?;
            Errno::result(libc::posix_spawnattr_setflags(
                &mut attr.0,
                flags as libc::c_short,
            ))?;
        }
        Ok(attr)
    }
}

impl Drop for SpawnAttr {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed exactly once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}
