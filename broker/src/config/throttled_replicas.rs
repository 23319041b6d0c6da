//! The `*.replication.throttled.replicas` topic configs (`*` or `partition:broker,...`): parsed
//! here so that config validation and the replication throttle (replication/throttle.rs) share
//! one parser.

/// A parsed `*.replication.throttled.replicas` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottledReplicas {
    All,
    /// (partition, broker) pairs.
    Some(Vec<(i32, i32)>),
}

impl ThrottledReplicas {
    /// Parses `*`, an empty string (nothing throttled) or `partition:broker,...`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(ThrottledReplicas::All);
        }
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let pair = item.split_once(':').and_then(|(p, b)| {
                Some((p.trim().parse::<i32>().ok()?, b.trim().parse::<i32>().ok()?))
            });
            match pair {
                Some((p, b)) if p >= 0 && b >= 0 => out.push((p, b)),
                _ => {
                    return Err(format!(
                        "{item:?} is not partition:broker; expected '*' or a list like 0:1,1:2"
                    ));
                }
            }
        }
        Ok(ThrottledReplicas::Some(out))
    }

    /// Whether the replica of `partition` on `broker` is listed.
    pub fn covers(&self, partition: i32, broker: i32) -> bool {
        match self {
            ThrottledReplicas::All => true,
            ThrottledReplicas::Some(v) => v.contains(&(partition, broker)),
        }
    }
}

/// Whether `configs` (a topic's overrides) list the replica of `partition` on `broker` under
/// `key`.
pub fn listed(
    configs: &std::collections::BTreeMap<String, String>,
    key: &str,
    partition: i32,
    broker: i32,
) -> bool {
    configs
        .get(key)
        .and_then(|v| ThrottledReplicas::parse(v).ok())
        .is_some_and(|r| r.covers(partition, broker))
}
