//! Checks for values that depend on the system: paths (resolved against the config
//! file's directory, so a config works from any current directory) and users.

use std::path::{Path, PathBuf};

use nix::unistd::{Uid, User};

use super::check::wrong;
use super::model::{OutputTarget, UserSpec};
use super::tree::Node;

/// What the loader needs to know about the process and its user. Taken as a value
/// (rather than read inside the checks) so tests can pretend to be another user.
#[derive(Debug, Clone)]
pub(crate) struct System {
    /// Effective uid of taskmaster: only root may run programs as another user.
    pub euid: Uid,
    /// Home directory, for a `~/` at the start of `history`.
    pub home: Option<PathBuf>,
}

impl System {
    /// The running process: `$HOME`, or the password database's idea of it.
    pub(crate) fn current() -> System {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                User::from_uid(nix::unistd::getuid())
                    .ok()
                    .flatten()
                    .map(|u| u.dir)
            });
        System {
            euid: nix::unistd::geteuid(),
            home,
        }
    }
}

/// `path` made absolute against `dir`, with `.` components dropped (`..` is kept:
/// removing it is only right without symlinks).
pub(crate) fn resolve(dir: &Path, path: impl AsRef<Path>) -> PathBuf {
    dir.join(path).components().collect()
}

/// A non-empty path, resolved against `dir`.
pub(crate) fn path(node: &Node, dir: &Path) -> Result<PathBuf, String> {
    match node {
        Node::Str(s) if !s.is_empty() && !s.contains('\0') => Ok(resolve(dir, s)),
        _ => Err(wrong(node, "a path")),
    }
}

/// `stdout`/`stderr`: a file path, or null / `discard` for no file.
pub(crate) fn output(node: &Node, dir: &Path) -> Result<OutputTarget, String> {
    const EXPECTED: &str = "a file path, or `discard` / null for no file";
    match node {
        Node::Null => Ok(OutputTarget::Discard),
        Node::Str(s) if s == "discard" => Ok(OutputTarget::Discard),
        Node::Str(_) => {
            let file = path(node, dir).map_err(|_| wrong(node, EXPECTED))?;
            if file.is_dir() {
                return Err(format!(
                    "found {}, which is a directory ({}), expected {EXPECTED}",
                    node.describe(),
                    file.display()
                ));
            }
            writable_file(node, &file)?;
            Ok(OutputTarget::File(file))
        }
        _ => Err(wrong(node, EXPECTED)),
    }
}

/// A file to be written by taskmaster (`logfile`, `stdout`, `stderr`) must be in a
/// directory that exists: taskmaster creates files, never directories, so a
/// misspelt path is an error here rather than a directory made silently (as root,
/// perhaps) or a spawn error later. If the file exists, it must be one taskmaster
/// would open (`safe_file`): a regular file or a character device, not a FIFO
/// (which would be refused at the spawn, or the reload, anyway).
pub(crate) fn writable_file(node: &Node, file: &Path) -> Result<(), String> {
    in_existing_directory(node, file)?;
    crate::safe_file::check_existing(file).map_err(|e| {
        format!(
            "found {} ({}), which is {e}; expected a regular file or a device such as /dev/null",
            node.describe(),
            file.display()
        )
    })
}

fn in_existing_directory(node: &Node, file: &Path) -> Result<(), String> {
    let Some(parent) = file.parent() else {
        return Ok(());
    };
    let why = match std::fs::metadata(parent) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => "is not a directory".to_string(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            "does not exist (taskmaster does not create directories)".to_string()
        }
        Err(error) => format!("cannot be examined ({error})"),
    };
    Err(format!(
        "found {}, but its directory {} {why}; expected a file in an existing directory",
        node.describe(),
        parent.display()
    ))
}

/// `workingdir`: an existing directory, resolved against `dir`.
pub(crate) fn workingdir(node: &Node, dir: &Path) -> Result<PathBuf, String> {
    let found = path(node, dir).map_err(|_| wrong(node, "an existing directory"))?;
    match std::fs::metadata(&found) {
        Ok(meta) if meta.is_dir() => Ok(found),
        Ok(_) => Err(format!(
            "found {} ({}), which is not a directory; expected an existing directory",
            node.describe(),
            found.display()
        )),
        Err(error) => {
            let why = match error.kind() {
                std::io::ErrorKind::NotFound => "which does not exist".to_string(),
                _ => format!("which cannot be examined ({error})"),
            };
            Err(format!(
                "found {} ({}), {why}; expected an existing directory",
                node.describe(),
                found.display()
            ))
        }
    }
}

/// `history`: a path where a leading `~/` means the home directory.
pub(crate) fn history(node: &Node, dir: &Path, home: Option<&Path>) -> Result<PathBuf, String> {
    if let Node::Str(s) = node {
        if let Some(rest) = s.strip_prefix("~/") {
            return match home {
                Some(home) => Ok(resolve(home, rest)),
                None => Err(format!(
                    "found {}, but the home directory is unknown ($HOME is not set)",
                    node.describe()
                )),
            };
        }
    }
    path(node, dir)
}

/// `user`: a user name or a numeric uid, which must exist. Unless taskmaster runs as
/// root (`euid` 0), it must be the user taskmaster runs as (README: Security).
pub(crate) fn user(node: &Node, euid: Uid) -> Result<UserSpec, String> {
    const EXPECTED: &str = "an existing user name or uid";
    let looked_up = match node {
        Node::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            match s.parse::<u32>() {
                Ok(uid) => User::from_uid(Uid::from_raw(uid)),
                Err(_) => Ok(None),
            }
        }
        Node::Str(s) if !s.is_empty() => User::from_name(s),
        Node::Int(i) => match u32::try_from(*i) {
            Ok(uid) => User::from_uid(Uid::from_raw(uid)),
            Err(_) => Ok(None),
        },
        _ => return Err(wrong(node, EXPECTED)),
    };
    let found = match looked_up {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Err(format!(
                "found {}: no such user, expected {EXPECTED}",
                node.describe()
            ))
        }
        Err(errno) => {
            return Err(format!(
                "found {}: cannot look up users ({errno}), expected {EXPECTED}",
                node.describe()
            ))
        }
    };
    if !euid.is_root() && found.uid != euid {
        return Err(format!(
            "found {} (uid {}): only root can run programs as another user \
             (taskmaster runs as uid {euid})",
            node.describe(),
            found.uid
        ));
    }
    Ok(UserSpec {
        name: found.name,
        uid: found.uid.as_raw(),
        gid: found.gid.as_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Node {
        Node::Str(text.to_string())
    }

    #[test]
    fn paths_resolve_against_the_directory() {
        let dir = Path::new("/etc/tm");
        assert_eq!(
            resolve(dir, "./logs/a.log"),
            PathBuf::from("/etc/tm/logs/a.log")
        );
        assert_eq!(resolve(dir, "/var/x"), PathBuf::from("/var/x"));
        assert_eq!(path(&s("../x"), dir), Ok(PathBuf::from("/etc/tm/../x")));
        assert!(path(&s(""), dir).is_err());
        assert!(path(&Node::Int(3), dir).is_err());
    }

    #[test]
    fn outputs() {
        let dir = Path::new("/tmp");
        assert_eq!(output(&Node::Null, dir), Ok(OutputTarget::Discard));
        assert_eq!(output(&s("discard"), dir), Ok(OutputTarget::Discard));
        assert_eq!(
            output(&s("out.log"), dir),
            Ok(OutputTarget::File(PathBuf::from("/tmp/out.log")))
        );
        let missing = output(&s("out.log"), Path::new("/nonexistent-dir")).unwrap_err();
        assert!(
            missing.contains("/nonexistent-dir does not exist"),
            "{missing}"
        );
        let file_as_dir = output(&s("/proc/self/status/out.log"), dir).unwrap_err();
        assert!(file_as_dir.contains("is not a directory"), "{file_as_dir}");
        assert!(output(&s("/tmp"), dir).unwrap_err().contains("directory"));
        assert!(output(&s(""), dir).is_err());
        assert!(output(&Node::Bool(false), dir).is_err());
    }

    #[test]
    fn working_directories() {
        let dir = Path::new("/");
        assert_eq!(workingdir(&s("tmp"), dir), Ok(PathBuf::from("/tmp")));
        assert!(workingdir(&s("/nonexistent-dir"), dir)
            .unwrap_err()
            .contains("existing directory"));
        assert!(workingdir(&s("/proc/self/status"), dir)
            .unwrap_err()
            .contains("not a directory"));
        assert!(workingdir(&Node::Null, dir).is_err());
    }

    #[test]
    fn history_expands_home() {
        let dir = Path::new("/etc/tm");
        let home = Some(Path::new("/home/me"));
        assert_eq!(
            history(&s("~/.h"), dir, home),
            Ok(PathBuf::from("/home/me/.h"))
        );
        assert_eq!(history(&s("h"), dir, home), Ok(PathBuf::from("/etc/tm/h")));
        assert!(history(&s("~/.h"), dir, None).is_err());
    }

    #[test]
    fn users() {
        let root = Uid::from_raw(0);
        let expected = UserSpec {
            name: "root".to_string(),
            uid: 0,
            gid: 0,
        };
        assert_eq!(user(&s("root"), root), Ok(expected.clone()));
        assert_eq!(user(&Node::Int(0), root), Ok(expected.clone()));
        assert_eq!(user(&s("0"), root), Ok(expected));
        assert!(user(&s("no-such-user-xyz"), root)
            .unwrap_err()
            .contains("no such user"));
        assert!(user(&Node::Int(3_999_999_999), root)
            .unwrap_err()
            .contains("no such user"));
        assert!(user(&Node::Int(-1), root).is_err());
        assert!(user(&s(""), root).is_err());
        // Not root: another user is refused, oneself is fine.
        let me = Uid::from_raw(4242);
        assert!(user(&s("root"), me).unwrap_err().contains("only root"));
        if let Ok(Some(nobody)) = User::from_name("nobody") {
            let spec = user(&s("nobody"), nobody.uid).unwrap();
            assert_eq!(spec.uid, nobody.uid.as_raw());
        }
    }
}
