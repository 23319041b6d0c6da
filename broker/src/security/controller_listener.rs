//! Kafka's `controller.listener.names` mapped onto the Raft transport: the first name's
//! protocol (from `listener.security.protocol.map`) decides whether the transport runs over TLS,
//! and with which listener's `ssl.*` settings. The transport has no SASL, so SASL protocols are
//! refused at start.

use crate::security::{DEFAULT_PROTOCOL_MAP, SecurityProtocol, parse_protocol_map};
use std::collections::BTreeMap;

/// Why the controller listener settings cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ControllerListenerError {
    #[error(
        "controller.listener.names names {name}, which listener.security.protocol.map does not map to a protocol"
    )]
    Unmapped { name: String },
    #[error(
        "controller.listener.names names {name} with protocol {protocol}: the controller (Raft) transport supports PLAINTEXT and SSL only (no SASL)"
    )]
    Unsupported { name: String, protocol: String },
    #[error(
        "controller.ssl.enabled=true but controller.listener.names names {name}, a PLAINTEXT listener: make them agree"
    )]
    Conflict { name: String },
    #[error("listener.security.protocol.map: {0}")]
    ProtocolMap(String),
}

/// The listener whose `ssl.*` settings secure the Raft transport, or `None` for plaintext.
/// Without `controller.listener.names`, `controller.ssl.enabled=true` means `CONTROLLER`.
pub fn controller_tls_listener(
    settings: &BTreeMap<String, String>,
    ssl_enabled: bool,
) -> Result<Option<String>, ControllerListenerError> {
    let first = settings
        .get("controller.listener.names")
        .and_then(|v| v.split(',').map(str::trim).find(|n| !n.is_empty()))
        .map(str::to_ascii_uppercase);
    let Some(name) = first else {
        return Ok(ssl_enabled.then(|| "CONTROLLER".to_string()));
    };
    let map = settings
        .get("listener.security.protocol.map")
        .map_or(DEFAULT_PROTOCOL_MAP, String::as_str);
    let map = parse_protocol_map(map).map_err(ControllerListenerError::ProtocolMap)?;
    let protocol = map
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
        .ok_or_else(|| ControllerListenerError::Unmapped { name: name.clone() })?;
    match protocol {
        SecurityProtocol::Ssl => Ok(Some(name)),
        SecurityProtocol::Plaintext if ssl_enabled => {
            Err(ControllerListenerError::Conflict { name })
        }
        SecurityProtocol::Plaintext => Ok(None),
        other => Err(ControllerListenerError::Unsupported {
            name,
            protocol: format!("{other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn without_names_the_flag_decides() {
        let s = settings(&[]);
        assert_eq!(controller_tls_listener(&s, false).unwrap(), None);
        assert_eq!(
            controller_tls_listener(&s, true).unwrap().as_deref(),
            Some("CONTROLLER")
        );
    }

    #[test]
    fn ssl_listener_means_tls_with_its_settings() {
        let s = settings(&[
            ("controller.listener.names", "ctl"),
            (
                "listener.security.protocol.map",
                "CTL:SSL,PLAINTEXT:PLAINTEXT",
            ),
        ]);
        assert_eq!(
            controller_tls_listener(&s, false).unwrap().as_deref(),
            Some("CTL")
        );
        let s = settings(&[("controller.listener.names", "SSL")]);
        assert_eq!(
            controller_tls_listener(&s, true).unwrap().as_deref(),
            Some("SSL")
        );
    }

    #[test]
    fn plaintext_sasl_and_unmapped() {
        let s = settings(&[("controller.listener.names", "PLAINTEXT")]);
        assert_eq!(controller_tls_listener(&s, false).unwrap(), None);
        assert!(matches!(
            controller_tls_listener(&s, true),
            Err(ControllerListenerError::Conflict { .. })
        ));
        let s = settings(&[("controller.listener.names", "SASL_SSL")]);
        assert!(matches!(
            controller_tls_listener(&s, false),
            Err(ControllerListenerError::Unsupported { .. })
        ));
        let s = settings(&[("controller.listener.names", "NOPE")]);
        assert!(matches!(
            controller_tls_listener(&s, false),
            Err(ControllerListenerError::Unmapped { .. })
        ));
    }
}
