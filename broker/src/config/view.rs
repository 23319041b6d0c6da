//! Pure config resolution for DescribeConfigs, CreateTopics v5+ and the alter APIs: every key of
//! the defs table with its effective value, source and synonyms (Kafka's order), plus the
//! validation and list arithmetic of AlterConfigs / IncrementalAlterConfigs. No I/O.

use super::ConfigError;
use super::defs::{self, ConfigType};
use std::collections::BTreeMap;

/// Where a config value comes from (Kafka's `ConfigSource` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    StaticBroker = 4,
    Default = 5,
}

impl ConfigSource {
    pub fn code(self) -> i8 {
        self as i8
    }
}

/// One synonym of a config: a layer that could supply its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: &'static str,
    pub value: String,
    pub source: ConfigSource,
}

/// One described config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: &'static str,
    pub value: String,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    pub ty: ConfigType,
    pub doc: &'static str,
    /// Highest-priority first: topic override, dynamic broker, static broker, default.
    pub synonyms: Vec<Synonym>,
}

impl ConfigEntry {
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::Default
    }
}

/// The layers a config value is resolved from.
#[derive(Debug, Clone, Copy)]
pub struct Layers<'a> {
    pub dynamic_broker: &'a BTreeMap<String, String>,
    pub static_broker: &'a BTreeMap<String, String>,
}

impl Layers<'_> {
    /// Synonyms of a broker-level key, in priority order (dynamic, static, default).
    fn broker_synonyms(&self, name: &'static str, default: &'static str) -> Vec<Synonym> {
        let mut out = Vec::new();
        if let Some(v) = self.dynamic_broker.get(name) {
            out.push(Synonym {
                name,
                value: v.clone(),
                source: ConfigSource::DynamicBroker,
            });
        }
        if let Some(v) = self.static_broker.get(name) {
            out.push(Synonym {
                name,
                value: v.clone(),
                source: ConfigSource::StaticBroker,
            });
        }
        out.push(Synonym {
            name,
            value: default.to_string(),
            source: ConfigSource::Default,
        });
        out
    }
}

fn entry(
    name: &'static str,
    synonyms: Vec<Synonym>,
    read_only: bool,
    ty: ConfigType,
    doc: &'static str,
) -> ConfigEntry {
    let (value, source) = synonyms
        .first()
        .map_or((String::new(), ConfigSource::Default), |s| {
            (s.value.clone(), s.source)
        });
    ConfigEntry {
        name,
        value,
        source,
        read_only,
        sensitive: ty == ConfigType::Password,
        ty,
        doc,
        synonyms,
    }
}

/// Every topic config of a topic with `overrides`.
pub fn topic_entries(overrides: &BTreeMap<String, String>, layers: Layers<'_>) -> Vec<ConfigEntry> {
    defs::TOPIC_KEYS
        .iter()
        .map(|k| {
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(k.name) {
                synonyms.push(Synonym {
                    name: k.name,
                    value: v.clone(),
                    source: ConfigSource::DynamicTopic,
                });
            }
            if k.broker_synonym.is_empty() {
                // A topic-only key (no broker-level synonym): its default.
                synonyms.push(Synonym {
                    name: k.name,
                    value: k.default.to_string(),
                    source: ConfigSource::Default,
                });
            } else {
                synonyms.extend(layers.broker_synonyms(k.broker_synonym, k.default));
            }
            entry(k.name, synonyms, false, k.ty, k.doc)
        })
        .collect()
}

/// Every broker config: broker-only keys and the broker synonyms of topic keys.
pub fn broker_entries(layers: Layers<'_>) -> Vec<ConfigEntry> {
    let own = defs::broker_keys().map(|k| {
        entry(
            k.name,
            layers.broker_synonyms(k.name, k.default),
            !k.dynamic,
            k.ty,
            k.doc,
        )
    });
    let synonyms = defs::TOPIC_KEYS
        .iter()
        .filter(|k| !k.broker_synonym.is_empty())
        .map(|k| {
            entry(
                k.broker_synonym,
                layers.broker_synonyms(k.broker_synonym, k.default),
                false,
                k.ty,
                k.doc,
            )
        });
    let mut all: Vec<ConfigEntry> = own.chain(synonyms).collect();
    all.sort_by(|a, b| a.name.cmp(b.name));
    all.dedup_by(|a, b| a.name == b.name);
    all
}

/// Why an alter request was refused; mapped to a Kafka error by the handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlterError {
    /// Unknown key or bad value (INVALID_CONFIG).
    #[error("{0}")]
    InvalidConfig(String),
    /// A key that exists but cannot be changed this way (INVALID_REQUEST).
    #[error("{0}")]
    InvalidRequest(String),
}

/// Which resource an alter targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Topic,
    Broker,
}

/// Validates one key/value for `target`.
pub fn validate(target: Target, key: &str, value: &str) -> Result<(), AlterError> {
    match target {
        Target::Topic => defs::validate_topic_key(key, value).map_err(|e| match e {
            ConfigError::UnknownKey(_) => {
                AlterError::InvalidConfig(format!("Unknown topic config name: {key}"))
            }
            // Kafka's ConfigException message: "Invalid value V for configuration K: reason".
            e => AlterError::InvalidConfig(e.to_string()),
        }),
        Target::Broker => {
            if let Some(k) = defs::broker_key(key)
                && !k.dynamic
            {
                return Err(AlterError::InvalidRequest(format!(
                    "{key} is a static broker config: set it in the config file and restart"
                )));
            }
            defs::validate_broker_key(key, value)
                .map_err(|e| AlterError::InvalidConfig(e.to_string()))
        }
    }
}

/// The type of a key for `target`, if the key exists.
fn key_type(target: Target, key: &str) -> Option<ConfigType> {
    match target {
        Target::Topic => defs::topic_key(key).map(|k| k.ty),
        Target::Broker => defs::broker_key(key)
            .map(|k| k.ty)
            .or_else(|| defs::topic_key_by_synonym(key).map(|k| k.ty)),
    }
}

/// An IncrementalAlterConfigs operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterOp {
    Set(String),
    Delete,
    Append(String),
    Subtract(String),
}

impl AlterOp {
    /// Decodes the wire operation code (0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT).
    pub fn from_wire(op: i8, value: Option<&str>) -> Result<Self, AlterError> {
        let v = || value.unwrap_or_default().to_string();
        match op {
            0 => Ok(AlterOp::Set(v())),
            1 => Ok(AlterOp::Delete),
            2 => Ok(AlterOp::Append(v())),
            3 => Ok(AlterOp::Subtract(v())),
            other => Err(AlterError::InvalidRequest(format!(
                "unknown config operation {other}"
            ))),
        }
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// Applies incremental operations to `overrides`. `effective` gives the current effective value
/// of a key (what APPEND/SUBTRACT start from when there is no override). Returns the new
/// override set, every changed value validated.
pub fn apply_incremental(
    target: Target,
    overrides: &BTreeMap<String, String>,
    ops: &[(String, AlterOp)],
    effective: &dyn Fn(&str) -> String,
) -> Result<BTreeMap<String, String>, AlterError> {
    let mut out = overrides.clone();
    for (key, op) in ops {
        let Some(ty) = key_type(target, key) else {
            return Err(AlterError::InvalidConfig(format!(
                "unknown config key {key}"
            )));
        };
        let current = || {
            out.get(key)
                .cloned()
                .unwrap_or_else(|| effective(key.as_str()))
        };
        let value = match op {
            AlterOp::Delete => {
                if target == Target::Broker {
                    validate(target, key, defs::broker_default(key))?;
                }
                out.remove(key);
                continue;
            }
            AlterOp::Set(v) => v.clone(),
            AlterOp::Append(_) | AlterOp::Subtract(_) if ty != ConfigType::List => {
                return Err(AlterError::InvalidConfig(format!(
                    "{key} is not a list: APPEND and SUBTRACT apply to list configs only"
                )));
            }
            AlterOp::Append(v) => {
                let mut items = split_list(&current());
                for x in split_list(v) {
                    if !items.contains(&x) {
                        items.push(x);
                    }
                }
                items.join(",")
            }
            AlterOp::Subtract(v) => {
                let remove = split_list(v);
                split_list(&current())
                    .into_iter()
                    .filter(|x| !remove.contains(x))
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        validate(target, key, &value)?;
        out.insert(key.clone(), value);
    }
    Ok(out)
}

/// AlterConfigs (legacy): the new override set is exactly `configs` (null values are ignored,
/// as Kafka does), each validated.
pub fn replace_all(
    target: Target,
    configs: &[(String, Option<String>)],
) -> Result<BTreeMap<String, String>, AlterError> {
    let mut out = BTreeMap::new();
    for (k, v) in configs {
        let Some(v) = v else { continue };
        if key_type(target, k).is_none() {
            return Err(AlterError::InvalidConfig(format!("unknown config key {k}")));
        }
        validate(target, k, v)?;
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
