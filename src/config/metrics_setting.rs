//! `taskmaster.metrics` (README: Metrics): where the Prometheus endpoint listens.
//!
//! Written as a bare port (`9100`: loopback), an address with its port
//! (`127.0.0.1:9100`, `[::1]:9100`), or a mapping `{listen: ADDRESS:PORT, public:
//! true}`. The page names every program and tells its state, so an address other
//! hosts can reach is taken only with `public: true`, written on purpose.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::check::wrong;
use super::fields;
use super::tree::Node;

/// Serve `/metrics` on `listen` (port 0: a free port, named in the event log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSetting {
    pub listen: SocketAddr,
    /// `public: true`: an address that is not loopback was chosen on purpose.
    pub public: bool,
}

const EXPECTED: &str = "a port (9100), an address with its port (127.0.0.1:9100, [::1]:9100), \
                        or a mapping {listen: ADDRESS:PORT, public: true}";

/// `metrics`: off when null or `false`.
pub(crate) fn metrics(node: &Node) -> Result<Option<MetricsSetting>, String> {
    match node {
        Node::Null | Node::Bool(false) => Ok(None),
        Node::Map(entries) => {
            if let Some((key, _)) = entries.iter().find(|(k, _)| k != "listen" && k != "public") {
                return Err(format!(
                    "unknown metrics setting `{key}`; valid ones: listen, public"
                ));
            }
            let Some(listen) = node.get("listen") else {
                return Err("missing `listen`: the address and port to serve /metrics on".into());
            };
            let public = match node.get("public") {
                Some(flag) => fields::boolean(flag).map_err(|e| format!("public: {e}"))?,
                None => false,
            };
            checked(address(listen)?, public).map(Some)
        }
        other => checked(address(other)?, false).map(Some),
    }
}

/// A bare port (loopback) or `ADDRESS:PORT` (an IP address: no name is looked up).
fn address(node: &Node) -> Result<SocketAddr, String> {
    let loopback = |port: u16| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    match node {
        Node::Int(port) => u16::try_from(*port)
            .map(loopback)
            .map_err(|_| wrong(node, "a port from 0 to 65535")),
        Node::Str(text) => match (text.parse::<u16>(), text.parse::<SocketAddr>()) {
            (Ok(port), _) => Ok(loopback(port)),
            (_, Ok(addr)) => Ok(addr),
            _ => match text.strip_prefix("localhost:").map(str::parse::<u16>) {
                Some(Ok(port)) => Ok(loopback(port)),
                _ => Err(wrong(node, EXPECTED)),
            },
        },
        _ => Err(wrong(node, EXPECTED)),
    }
}

/// Refuses an address other hosts may reach unless `public` says it is meant.
fn checked(listen: SocketAddr, public: bool) -> Result<MetricsSetting, String> {
    if !listen.ip().is_loopback() && !public {
        return Err(format!(
            "{listen} is not a loopback address: whoever can reach it reads every program's \
             name, state and resource use; write `metrics: {{listen: \"{listen}\", public: true}}` \
             to serve it there on purpose"
        ));
    }
    Ok(MetricsSetting { listen, public })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<MetricsSetting>, String> {
        let doc = format!("m: {text}\n");
        let tree = crate::config::tree::build(&doc, &mut Vec::new()).expect("yaml");
        metrics(tree.get("m").expect("m"))
    }

    fn at(addr: &str, public: bool) -> Option<MetricsSetting> {
        Some(MetricsSetting {
            listen: addr.parse().unwrap(),
            public,
        })
    }

    #[test]
    fn a_port_an_address_or_a_mapping() {
        assert_eq!(parse("9100"), Ok(at("127.0.0.1:9100", false)));
        assert_eq!(parse("\"9100\""), Ok(at("127.0.0.1:9100", false)));
        assert_eq!(parse("127.0.0.2:80"), Ok(at("127.0.0.2:80", false)));
        assert_eq!(parse("\"[::1]:9100\""), Ok(at("[::1]:9100", false)));
        assert_eq!(parse("localhost:9100"), Ok(at("127.0.0.1:9100", false)));
        assert_eq!(parse("0"), Ok(at("127.0.0.1:0", false)));
        assert_eq!(parse("null"), Ok(None));
        assert_eq!(parse("false"), Ok(None));
        assert_eq!(
            parse("{listen: \"0.0.0.0:9100\", public: true}"),
            Ok(at("0.0.0.0:9100", true))
        );
        assert_eq!(parse("{listen: 9100}"), Ok(at("127.0.0.1:9100", false)));
    }

    #[test]
    fn another_host_only_on_purpose() {
        let refused = parse("0.0.0.0:9100").unwrap_err();
        assert!(refused.contains("not a loopback address"), "{refused}");
        assert!(refused.contains("public: true"), "{refused}");
        assert!(parse("{listen: \"10.1.2.3:9100\", public: false}").is_err());
        assert!(parse("{listen: \"10.1.2.3:9100\"}").is_err());
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        for text in [
            "70000",
            "-1",
            "true",
            "web.example:80",
            "1.2.3.4",
            "[1, 2]",
            "9100.5",
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.starts_with("found"), "{text}: {error}");
        }
        assert!(parse("{public: true}")
            .unwrap_err()
            .contains("missing `listen`"));
        assert!(parse("{listen: 9100, pubic: true}")
            .unwrap_err()
            .contains("unknown metrics setting `pubic`"));
        assert!(parse("{listen: 9100, public: yes}")
            .unwrap_err()
            .starts_with("public: found"));
    }
}
