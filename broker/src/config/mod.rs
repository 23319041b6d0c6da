//! Broker configuration: command-line flags and environment variables (clap), an optional
//! Kafka-style properties file, and the typed settings derived from them.

pub mod advertised_file;
pub mod defs;
pub mod kafka_broker_keys;
pub mod key;
pub mod properties;
pub mod throttled_replicas;
pub mod topic_keys;
pub mod view;

use crate::security::SecurityProtocol;
use clap::Parser;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} line {line}: expected key=value")]
    Syntax { path: PathBuf, line: usize },
    #[error("config file {path}: {source}")]
    Properties {
        path: PathBuf,
        source: properties::PropertiesError,
    },
    #[error("unknown broker config key {0:?}")]
    UnknownKey(String),
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("invalid listener {0:?}: expected NAME://host:port")]
    Listener(String),
    #[error("cannot take a node id from {0:?}: expected a name ending in -<ordinal> (pod-2)")]
    NodeIdFromName(String),
}

/// Command-line flags; each is also an `EDDY_*` environment variable.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "broker",
    version,
    about = "Eddy: a Kafka-wire-compatible broker"
)]
pub struct Cli {
    /// This broker's node id.
    #[arg(long, env = "EDDY_NODE_ID", default_value_t = 0)]
    pub node_id: i32,
    /// Take the node id from the ordinal at the end of this name instead (`eddy-broker-2` → 2):
    /// a StatefulSet pod passes its pod name. Overrides `--node-id`.
    #[arg(long, env = "EDDY_NODE_ID_FROM_NAME", value_name = "NAME")]
    pub node_id_from_name: Option<String>,
    /// Where partitions, offsets and metadata are stored.
    #[arg(long, env = "EDDY_DATA_DIR", default_value = "./eddy-data")]
    pub data_dir: PathBuf,
    /// Comma-separated listeners, NAME://host:port.
    #[arg(
        long,
        env = "EDDY_LISTENERS",
        default_value = "PLAINTEXT://127.0.0.1:9092"
    )]
    pub listeners: String,
    /// Comma-separated advertised listeners (defaults to the listeners).
    #[arg(long, env = "EDDY_ADVERTISED_LISTENERS")]
    pub advertised_listeners: Option<String>,
    /// A file of `NAME://host:port` entries overriding advertised listeners by name (an empty
    /// host keeps the host): per-broker addresses known only at deployment, such as node ports.
    /// A missing file is an error (see `advertised_file`).
    #[arg(long, env = "EDDY_ADVERTISED_LISTENERS_FILE")]
    pub advertised_listeners_file: Option<PathBuf>,
    /// Admin HTTP address (metrics, health, probes).
    #[arg(long, env = "EDDY_ADMIN_ADDR", default_value = "127.0.0.1:9600")]
    pub admin_addr: SocketAddr,
    /// A Kafka-style properties file (Java `Properties` format) with broker settings.
    #[arg(long, env = "EDDY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Cluster mode: the metadata quorum voters, KRaft-style `id@host:port,...` (controller
    /// addresses). Without it the broker runs as a single-node cluster.
    #[arg(long, env = "EDDY_CONTROLLER_QUORUM_VOTERS")]
    pub controller_quorum_voters: Option<String>,
    /// Where this broker's controller listens (a voter defaults to its address in the voter
    /// list). A broker not named among the voters needs it to join the metadata quorum as a Raft
    /// learner; without it, it polls the image from a voter.
    #[arg(long, env = "EDDY_CONTROLLER_LISTENER")]
    pub controller_listener: Option<SocketAddr>,
    /// The host:port other brokers reach this broker's controller listener at (a DNS name is
    /// resolved on every connection). Defaults to the address in the voter list, else the
    /// listener's address, else the first advertised listener's host with the listener's port.
    #[arg(long, env = "EDDY_CONTROLLER_ADVERTISED_ADDRESS")]
    pub controller_advertised_address: Option<String>,
    /// Cluster mode: a broker whose heartbeats stop for this long is fenced and loses its
    /// leaderships.
    #[arg(long, env = "EDDY_BROKER_SESSION_TIMEOUT_MS", default_value_t = 3000)]
    pub broker_session_timeout_ms: u64,
    /// A SCRAM user created at start if it has no credential for that mechanism yet
    /// (repeatable), in `kafka-storage format --add-scram` syntax:
    /// `SCRAM-SHA-512=[name=admin,password=secret]` (optionally `iterations=8192`).
    #[arg(
        long = "add-scram",
        env = "EDDY_ADD_SCRAM",
        value_name = "MECHANISM=[name=..,password=..]"
    )]
    pub add_scram: Vec<String>,
    /// Extra settings as key=value, overriding the file (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// One listener: name, host and port, and the security protocol its name maps to in
/// `listener.security.protocol.map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub protocol: SecurityProtocol,
}

impl Listener {
    pub fn parse_list(s: &str) -> Result<Vec<Listener>, ConfigError> {
        s.split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (name, rest) = l
                    .split_once("://")
                    .ok_or_else(|| ConfigError::Listener(l.into()))?;
                let (host, port) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| ConfigError::Listener(l.into()))?;
                let port = port.parse().map_err(|_| ConfigError::Listener(l.into()))?;
                Ok(Listener {
                    name: name.to_string(),
                    host: host.trim_matches(['[', ']']).to_string(),
                    port,
                    protocol: SecurityProtocol::Plaintext,
                })
            })
            .collect()
    }

    /// Sets each listener's protocol from `listener.security.protocol.map`; a listener whose
    /// name the map does not have is an error, as in Kafka.
    pub fn resolve_protocols(listeners: &mut [Listener], map: &str) -> Result<(), ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidValue {
            key: "listener.security.protocol.map".into(),
            value: map.into(),
            reason,
        };
        let map = crate::security::parse_protocol_map(map).map_err(invalid)?;
        for l in listeners {
            let upper = l.name.to_ascii_uppercase();
            l.protocol = map
                .iter()
                .find(|(n, _)| *n == upper)
                .map(|(_, p)| *p)
                .ok_or_else(|| invalid(format!("no security protocol for listener {}", l.name)))?;
        }
        Ok(())
    }
}

/// The ordinal at the end of a StatefulSet pod name: `eddy-broker-2` → 2.
pub fn ordinal_of(name: &str) -> Option<i32> {
    let (_, n) = name.rsplit_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

#[cfg(test)]
mod node_id_tests {
    use super::*;

    #[test]
    fn node_id_comes_from_the_pod_name_ordinal() {
        assert_eq!(ordinal_of("dev-broker-0"), Some(0));
        assert_eq!(ordinal_of("e2e-broker-12"), Some(12));
        for bad in [
            "broker",
            "broker-",
            "broker-x1",
            "broker-+1",
            "broker-99999999999",
        ] {
            assert_eq!(ordinal_of(bad), None, "{bad}");
        }
        let cli = Cli::parse_from([
            "broker",
            "--node-id",
            "5",
            "--node-id-from-name",
            "c-broker-2",
        ]);
        assert_eq!(BrokerConfig::from_cli(&cli).expect("config").node_id, 2);
        let cli = Cli::parse_from(["broker", "--node-id-from-name", "c-broker"]);
        assert!(matches!(
            BrokerConfig::from_cli(&cli),
            Err(ConfigError::NodeIdFromName(_))
        ));
    }

    #[test]
    fn a_controller_advertised_address_is_host_and_port() {
        let with = |a: &str| {
            let cli = Cli::parse_from([
                "broker",
                "--controller-quorum-voters",
                "0@eddy-0.eddy:9095",
                "--controller-advertised-address",
                a,
            ]);
            BrokerConfig::from_cli(&cli)
        };
        let cfg = with("eddy-3.eddy.ns.svc:9095").expect("config");
        assert_eq!(
            cfg.cluster.and_then(|c| c.advertised).as_deref(),
            Some("eddy-3.eddy.ns.svc:9095")
        );
        for bad in ["eddy-3", ":9095", "eddy-3:port"] {
            assert!(
                matches!(with(bad), Err(ConfigError::InvalidValue { .. })),
                "{bad}"
            );
        }
    }
}

#[cfg(test)]
mod config_file_tests {
    use super::*;

    #[test]
    fn a_config_file_is_read_in_the_java_properties_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.properties");
        let text = "# settings\nnum.partitions : 3 \nlog.retention.ms \\\n    604800000\n";
        std::fs::write(&path, text).expect("write");
        let cli = Cli::parse_from(["broker", "--config", path.to_str().expect("utf-8 path")]);
        let cfg = BrokerConfig::from_cli(&cli).expect("config");
        assert_eq!(cfg.get("num.partitions"), "3");
        assert_eq!(cfg.get("log.retention.ms"), "604800000");

        // Kafka's server.properties keys: the coarse retention synonyms count, keys that
        // change nothing are accepted, flag-owned keys are refused with the flag to use.
        std::fs::write(
            &path,
            "log.retention.hours=24\nlog.roll.hours=2\nnum.io.threads=8\nsasl.kerberos.service.name=kafka\n",
        )
        .expect("write");
        let cfg = BrokerConfig::from_cli(&cli).expect("config");
        assert_eq!(cfg.get("log.retention.ms"), "86400000");
        assert_eq!(cfg.get("log.roll.ms"), "7200000");
        std::fs::write(&path, "log.retention.minutes=5\nlog.retention.hours=24\n").expect("write");
        let cfg = BrokerConfig::from_cli(&cli).expect("config");
        assert_eq!(cfg.get("log.retention.ms"), "300000");
        std::fs::write(&path, "listeners=PLAINTEXT://:9092\n").expect("write");
        assert!(matches!(
            BrokerConfig::from_cli(&cli),
            Err(ConfigError::InvalidValue { .. })
        ));

        std::fs::write(&path, "num.partitions=\\u12").expect("write");
        assert!(matches!(
            BrokerConfig::from_cli(&cli),
            Err(ConfigError::Properties { .. })
        ));
    }
}

/// `auto.leader.rebalance.enable` and its two settings; `None` when it is off.
fn leader_balance(
    settings: &BTreeMap<String, String>,
) -> Result<Option<crate::cluster::leader_balance::LeaderBalance>, ConfigError> {
    let get = |k: &str| {
        settings
            .get(k)
            .cloned()
            .unwrap_or_else(|| defs::broker_default(k).to_string())
    };
    if get("auto.leader.rebalance.enable") != "true" {
        return Ok(None);
    }
    let invalid = |key: &str, value: String, reason: &str| ConfigError::InvalidValue {
        key: key.into(),
        value,
        reason: reason.into(),
    };
    let pct_key = "leader.imbalance.per.broker.percentage";
    let pct = get(pct_key);
    let imbalance_pct = pct
        .parse::<u32>()
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| invalid(pct_key, pct.clone(), "must be between 0 and 100"))?;
    let every_key = "leader.imbalance.check.interval.seconds";
    let every = get(every_key);
    let secs = every
        .parse::<u64>()
        .ok()
        .filter(|s| *s >= 1)
        .ok_or_else(|| invalid(every_key, every.clone(), "must be at least 1"))?;
    Ok(Some(crate::cluster::leader_balance::LeaderBalance {
        imbalance_pct,
        interval: std::time::Duration::from_secs(secs),
    }))
}

/// Kafka's coarser synonyms: `log.retention.minutes` / `log.retention.hours` stand for
/// `log.retention.ms`, and `log.roll.hours` for `log.roll.ms`, when the finer key is not set
/// (the finest one given wins, as in Kafka). The derived value is stored as a static setting.
fn derive_hour_settings(settings: &mut BTreeMap<String, String>) {
    let derived = |settings: &BTreeMap<String, String>, coarse: &[(&str, i64)]| {
        coarse.iter().find_map(|(k, unit)| {
            settings
                .get(*k)
                .and_then(|v| v.parse::<i64>().ok())
                .map(|n| n.saturating_mul(*unit).to_string())
        })
    };
    if !settings.contains_key("log.retention.ms")
        && let Some(ms) = derived(
            settings,
            &[
                ("log.retention.minutes", 60_000),
                ("log.retention.hours", 3_600_000),
            ],
        )
    {
        settings.insert("log.retention.ms".into(), ms);
    }
    if !settings.contains_key("log.roll.ms")
        && let Some(ms) = derived(settings, &[("log.roll.hours", 3_600_000)])
    {
        settings.insert("log.roll.ms".into(), ms);
    }
}

/// The broker's resolved configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    pub data_dir: PathBuf,
    pub listeners: Vec<Listener>,
    pub advertised: Vec<Listener>,
    pub admin_addr: SocketAddr,
    /// Static broker settings (file + overrides), validated against `defs`.
    pub settings: BTreeMap<String, String>,
    /// Cluster mode (a metadata quorum); `None` is the single-node mode.
    pub cluster: Option<crate::cluster::ClusterConfig>,
    /// SCRAM users to create at start (`--add-scram`).
    pub add_scram: Vec<crate::security::sasl::credentials::BootstrapScram>,
}

impl BrokerConfig {
    pub fn from_cli(cli: &Cli) -> Result<Self, ConfigError> {
        let mut settings = BTreeMap::new();
        if let Some(path) = &cli.config {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let pairs = properties::parse(&text).map_err(|source| ConfigError::Properties {
                path: path.clone(),
                source,
            })?;
            // Kafka's ConfigDef trims a value before parsing it; so do we.
            settings.extend(pairs.into_iter().map(|(k, v)| (k, v.trim().to_string())));
        }
        for kv in &cli.overrides {
            let (k, v) = kv.split_once('=').ok_or(ConfigError::Syntax {
                path: "--set".into(),
                line: 0,
            })?;
            settings.insert(k.trim().to_string(), v.trim().to_string());
        }
        for (k, v) in &settings {
            defs::validate_broker_key(k, v)?;
        }
        derive_hour_settings(&mut settings);
        let protocol_map = settings
            .get("listener.security.protocol.map")
            .map_or(crate::security::DEFAULT_PROTOCOL_MAP, String::as_str);
        let mut listeners = Listener::parse_list(&cli.listeners)?;
        Listener::resolve_protocols(&mut listeners, protocol_map)?;
        let mut advertised = match &cli.advertised_listeners {
            Some(a) => {
                let mut adv = Listener::parse_list(a)?;
                Listener::resolve_protocols(&mut adv, protocol_map)?;
                adv
            }
            None => listeners.clone(),
        };
        if let Some(path) = &cli.advertised_listeners_file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            advertised_file::apply(&mut advertised, &text)?;
        }
        let node_id = match &cli.node_id_from_name {
            Some(name) => {
                ordinal_of(name).ok_or_else(|| ConfigError::NodeIdFromName(name.clone()))?
            }
            None => cli.node_id,
        };
        let cluster = match &cli.controller_quorum_voters {
            None => None,
            Some(v) => Some(crate::cluster::ClusterConfig {
                voters: crate::cluster::ClusterConfig::parse_voters(v).map_err(|reason| {
                    ConfigError::InvalidValue {
                        key: "controller.quorum.voters".into(),
                        value: v.clone(),
                        reason,
                    }
                })?,
                listener: cli.controller_listener,
                advertised: match &cli.controller_advertised_address {
                    Some(a) if crate::cluster::ClusterConfig::valid_host_port(a) => Some(a.clone()),
                    Some(a) => {
                        return Err(ConfigError::InvalidValue {
                            key: "controller.advertised.address".into(),
                            value: a.clone(),
                            reason: "expected host:port".into(),
                        });
                    }
                    None => None,
                },
                session_timeout: std::time::Duration::from_millis(
                    cli.broker_session_timeout_ms.max(500),
                ),
                leader_balance: leader_balance(&settings)?,
            }),
        };
        if cluster.is_some() && node_id < 0 {
            return Err(ConfigError::InvalidValue {
                key: "node.id".into(),
                value: node_id.to_string(),
                reason: "cluster mode needs a non-negative node id".into(),
            });
        }
        for l in listeners.iter().filter(|l| l.protocol.is_sasl()) {
            crate::security::sasl::SaslSettings::from_settings(&l.name, &|k| {
                settings.get(k).cloned()
            })
            .map_err(|reason| ConfigError::InvalidValue {
                key: format!("listener.name.{}.sasl", l.name.to_ascii_lowercase()),
                value: l.name.clone(),
                reason,
            })?;
        }
        let add_scram = cli
            .add_scram
            .iter()
            .map(|s| {
                crate::security::sasl::credentials::parse_add_scram(s).map_err(|reason| {
                    ConfigError::InvalidValue {
                        key: "add-scram".into(),
                        value: "[hidden]".into(),
                        reason,
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BrokerConfig {
            add_scram,
            cluster,
            node_id,
            data_dir: cli.data_dir.clone(),
            listeners,
            advertised,
            admin_addr: cli.admin_addr,
            settings,
        })
    }

    /// A config for tests: everything on loopback with ephemeral ports.
    pub fn for_test(data_dir: PathBuf) -> Self {
        BrokerConfig {
            node_id: 0,
            data_dir,
            listeners: vec![Listener {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 0,
                protocol: SecurityProtocol::Plaintext,
            }],
            advertised: vec![],
            admin_addr: "127.0.0.1:0".parse().expect("static address"),
            settings: BTreeMap::new(),
            cluster: None,
            add_scram: Vec::new(),
        }
    }

    /// The static value of a broker key, or its default.
    pub fn get(&self, key: &str) -> String {
        self.settings
            .get(key)
            .cloned()
            .unwrap_or_else(|| defs::broker_default(key).to_string())
    }

    pub fn get_i64(&self, key: &str) -> i64 {
        self.get(key)
            .parse()
            .unwrap_or_else(|_| defs::broker_default(key).parse().unwrap_or(0))
    }

    pub fn get_bool(&self, key: &str) -> bool {
        self.get(key) == "true"
    }
}
