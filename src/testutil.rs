//! Helpers shared by the unit tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("tm-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `sleep` in a process group of its own whose name (the kernel's `comm`, from
/// the executable's file name) is not UTF-8, once its exec is done; killed and
/// reaped on drop. What every reader of `/proc/PID/stat` must still see.
pub struct OddlyNamedSleep {
    pub child: std::process::Child,
    _dir: TempDir,
}

impl OddlyNamedSleep {
    pub fn start() -> OddlyNamedSleep {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::process::CommandExt;
        let dir = TempDir::new("oddname");
        let link = dir.path().join(std::ffi::OsStr::from_bytes(b"sle\xffep"));
        std::os::unix::fs::symlink("/bin/sleep", &link).expect("symlink");
        let child = std::process::Command::new(&link)
            .arg("30")
            .process_group(0)
            .spawn()
            .expect("spawn sleep");
        let comm = format!("/proc/{}/comm", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // Until its exec is done its name is still the test's.
        while std::fs::read(&comm).is_ok_and(|n| !n.starts_with(b"sle\xff"))
            && std::time::Instant::now() < deadline
        {
            std::thread::yield_now();
        }
        OddlyNamedSleep { child, _dir: dir }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for OddlyNamedSleep {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
