//! The hosts a command goes to: `-H URL` (as often as wanted), `--hosts FILE` (one
//! URL a line, blank lines and `#` comment lines skipped) and `TASKMASTER_HOST`.

use std::path::Path;

use super::url::{parse, SshTarget};

/// The most hosts one command goes to.
pub const MAX_HOSTS: usize = 4096;
/// The largest hosts file read.
const MAX_FILE: u64 = 1024 * 1024;

/// The environment variable with a URL used when no `-H`, `--hosts`, `-s` or `-c`
/// is given.
pub const HOST_VAR: &str = "TASKMASTER_HOST";

/// The targets of the `-H` values then of the file's lines, in that order, each
/// once (a URL given twice is asked once). An error names the bad value.
pub fn targets(urls: &[String], file: Option<&Path>) -> Result<Vec<SshTarget>, String> {
    let mut targets = Vec::new();
    for url in urls {
        targets.push(parse(url).map_err(|e| format!("-H {url}: {e}"))?);
    }
    if let Some(path) = file {
        let text = read_bounded(path).map_err(|e| format!("--hosts {}: {e}", path.display()))?;
        targets.extend(parse_hosts(&text, &path.display().to_string())?);
    }
    let mut unique: Vec<SshTarget> = Vec::with_capacity(targets.len());
    for target in targets {
        if !unique.contains(&target) {
            unique.push(target);
        }
    }
    if unique.len() > MAX_HOSTS {
        return Err(format!(
            "{} hosts: at most {MAX_HOSTS} at once",
            unique.len()
        ));
    }
    Ok(unique)
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    let file = std::fs::File::open(path)?;
    file.take(MAX_FILE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE {
        return Err(std::io::Error::other("larger than 1 MiB"));
    }
    Ok(text)
}

/// The URLs of a hosts file's text; `name` is for the messages (`FILE:LINE: …`).
pub fn parse_hosts(text: &str, name: &str) -> Result<Vec<SshTarget>, String> {
    let mut targets = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        targets.push(parse(line).map_err(|e| format!("{name}:{}: {line}: {e}", i + 1))?);
    }
    if targets.is_empty() {
        return Err(format!("{name}: no host in the file"));
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_file_skips_blank_and_comment_lines() {
        let text =
            "# web tier\nssh://web1\n\n   ssh://ops@web2:2222/run/tm.sock  \n  # off: ssh://web3\n";
        let hosts = parse_hosts(text, "hosts").unwrap();
        let shown: Vec<String> = hosts.iter().map(|t| t.to_string()).collect();
        assert_eq!(shown, ["ssh://web1", "ssh://ops@web2:2222/run/tm.sock"]);
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let err = parse_hosts("ssh://web1\nweb2\n", "hosts").unwrap_err();
        assert_eq!(
            err,
            "hosts:2: web2: not a URL (expected ssh://[user@]host[:port][/socket])"
        );
        assert_eq!(
            parse_hosts("# nothing\n\n", "hosts").unwrap_err(),
            "hosts: no host in the file"
        );
    }

    #[test]
    fn a_host_given_twice_is_asked_once() {
        let urls = ["ssh://a".to_string(), "ssh://b".into(), "ssh://a".into()];
        let hosts = targets(&urls, None).unwrap();
        assert_eq!(hosts.len(), 2);
        let err = targets(&["ssh://a:x".to_string()], None).unwrap_err();
        assert_eq!(err, "-H ssh://a:x: bad port 'x' (a number from 1 to 65535)");
    }
}
