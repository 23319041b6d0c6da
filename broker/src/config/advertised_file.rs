//! Per-broker advertised addresses from a file (`--advertised-listeners-file`): what an operator
//! knows only after the broker's pod template is written — e.g. the node port Kubernetes
//! allocated to this broker's external Service — reaches the broker without a per-pod template.
//!
//! The file holds `NAME://host:port` entries (comma- or newline-separated, `#` comments). Each
//! replaces the port of the advertised listener with that name, and its host unless the host is
//! empty (`EXTERNAL://:31234` keeps the host from `--advertised-listeners`). An entry naming no
//! advertised listener is an error, and so is a missing file: a broker must not start
//! advertising an address it does not know.
use super::{ConfigError, Listener};

/// Applies the file's entries to `advertised` (pure; `text` is the file's content).
///
/// # Errors
/// A malformed entry or one naming no advertised listener.
pub fn apply(advertised: &mut [Listener], text: &str) -> Result<(), ConfigError> {
    let entries = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty());
    for entry in entries {
        let (name, rest) = entry
            .split_once("://")
            .ok_or_else(|| ConfigError::Listener(entry.into()))?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| ConfigError::Listener(entry.into()))?;
        let port: u16 = port
            .parse()
            .map_err(|_| ConfigError::Listener(entry.into()))?;
        let target = advertised
            .iter_mut()
            .find(|l| l.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| ConfigError::InvalidValue {
                key: "advertised.listeners.file".into(),
                value: entry.into(),
                reason: format!("no advertised listener named {name}"),
            })?;
        target.port = port;
        let host = host.trim_matches(['[', ']']);
        if !host.is_empty() {
            target.host = host.to_string();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listeners() -> Vec<Listener> {
        Listener::parse_list("INTERNAL://10.0.0.5:9092,EXTERNAL://127.0.0.1:9094").expect("list")
    }

    #[test]
    fn an_entry_replaces_the_port_and_a_non_empty_host() {
        let mut l = listeners();
        apply(&mut l, "# node ports\nEXTERNAL://:31234\n").expect("apply");
        assert_eq!((l[1].host.as_str(), l[1].port), ("127.0.0.1", 31234));
        assert_eq!((l[0].host.as_str(), l[0].port), ("10.0.0.5", 9092));
        apply(&mut l, "external://broker-1.example.com:31999").expect("apply");
        assert_eq!(
            (l[1].host.as_str(), l[1].port),
            ("broker-1.example.com", 31999)
        );
    }

    #[test]
    fn unknown_listeners_and_bad_entries_are_refused() {
        for bad in [
            "OTHER://:1",
            "EXTERNAL://:x",
            "EXTERNAL:31234",
            "EXTERNAL://:70000",
        ] {
            let mut l = listeners();
            assert!(apply(&mut l, bad).is_err(), "{bad}");
            assert_eq!(l, listeners(), "{bad}: nothing changed");
        }
    }
}
