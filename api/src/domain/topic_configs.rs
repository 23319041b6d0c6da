//! The Kafka topic configurations a user may set through the API, and their checks (pure).
//! Only keys whose every value is safe on a managed cluster are offered; `retention.ms` is the
//! topic's `retention_hours` (bounded by the plan) and the rest are the operator's business.

use std::collections::BTreeMap;

/// A refused configuration: the key (the problem's field is `configs.<key>`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub detail: String,
}

/// Which values a key takes.
enum Rule {
    OneOf(&'static [&'static str]),
    /// An integer within the bounds (inclusive).
    Int(i64, i64),
    /// A number within the bounds (inclusive).
    Ratio(f64, f64),
}

const DAY_MS: i64 = 86_400_000;

/// The keys the API accepts, with their rules and what they are for (the docs list them).
pub const KEYS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "delete.retention.ms",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "retention.bytes",
    "segment.bytes",
];

fn rule(key: &str, replicas: i64) -> Option<Rule> {
    Some(match key {
        "cleanup.policy" => Rule::OneOf(&["delete", "compact", "compact,delete", "delete,compact"]),
        "compression.type" => {
            Rule::OneOf(&["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"])
        }
        "message.timestamp.type" => Rule::OneOf(&["CreateTime", "LogAppendTime"]),
        "delete.retention.ms" | "min.compaction.lag.ms" => Rule::Int(0, 90 * DAY_MS),
        "max.compaction.lag.ms" => Rule::Int(1, i64::MAX),
        // Kafka's default is 1 MiB; up to 8 MiB per batch on a managed cluster.
        "max.message.bytes" => Rule::Int(1024, 8 << 20),
        "min.cleanable.dirty.ratio" => Rule::Ratio(0.0, 1.0),
        "min.insync.replicas" => Rule::Int(1, replicas.max(1)),
        "retention.bytes" => Rule::Int(-1, i64::MAX),
        "segment.bytes" => Rule::Int(1 << 20, 1 << 30),
        _ => return None,
    })
}

/// Checks `configs` for a topic with `replicas` replicas.
pub fn check(configs: &BTreeMap<String, String>, replicas: i64) -> Result<(), ConfigError> {
    for (key, value) in configs {
        let err = |detail: String| ConfigError {
            key: key.clone(),
            detail,
        };
        if key == "retention.ms" {
            return Err(err("set `retention_hours` instead".into()));
        }
        let Some(r) = rule(key, replicas) else {
            return Err(err(format!(
                "not a topic configuration the API sets; one of: {}",
                KEYS.join(", ")
            )));
        };
        match r {
            Rule::OneOf(values) if !values.contains(&value.as_str()) => {
                return Err(err(format!("one of: {}", values.join(", "))));
            }
            Rule::Int(lo, hi) => match value.trim().parse::<i64>() {
                Ok(n) if (lo..=hi).contains(&n) => {}
                _ => return Err(err(format!("an integer from {lo} to {hi}"))),
            },
            Rule::Ratio(lo, hi) => match value.trim().parse::<f64>() {
                Ok(n) if n.is_finite() && (lo..=hi).contains(&n) => {}
                _ => return Err(err(format!("a number from {lo} to {hi}"))),
            },
            Rule::OneOf(_) => {}
        }
    }
    Ok(())
}

/// `current` with `changes` applied: a value sets its key, `None` removes it.
pub fn merge(
    current: &BTreeMap<String, String>,
    changes: &BTreeMap<String, Option<String>>,
) -> BTreeMap<String, String> {
    let mut out = current.clone();
    for (k, v) in changes {
        match v {
            Some(v) => {
                out.insert(k.clone(), v.clone());
            }
            None => {
                out.remove(k);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(k: &str, v: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(k.to_string(), v.to_string())])
    }

    #[test]
    fn offered_keys_take_their_values_and_nothing_else() {
        assert!(check(&one("cleanup.policy", "compact,delete"), 3).is_ok());
        assert!(check(&one("min.insync.replicas", "2"), 3).is_ok());
        assert!(check(&one("min.cleanable.dirty.ratio", "0.1"), 1).is_ok());
        let bad = [
            ("cleanup.policy", "forever"),
            ("min.insync.replicas", "4"),
            ("max.message.bytes", "100000000"),
            ("segment.bytes", "12"),
            ("min.cleanable.dirty.ratio", "NaN"),
            ("delete.retention.ms", "-5"),
        ];
        for (k, v) in bad {
            let e = check(&one(k, v), 3).unwrap_err();
            assert_eq!(e.key, k);
        }
        let e = check(&one("retention.ms", "1000"), 1).unwrap_err();
        assert!(e.detail.contains("retention_hours"));
        let e = check(&one("unclean.leader.election.enable", "true"), 1).unwrap_err();
        assert!(e.detail.contains("cleanup.policy"), "{}", e.detail);
    }

    #[test]
    fn merging_sets_and_removes() {
        let cur = one("cleanup.policy", "compact");
        let changes = BTreeMap::from([
            ("cleanup.policy".to_string(), None),
            ("max.message.bytes".to_string(), Some("2097152".to_string())),
        ]);
        assert_eq!(merge(&cur, &changes), one("max.message.bytes", "2097152"));
    }
}
