//! Unit and property tests of config resolution and alter arithmetic.

use super::*;
use proptest::prelude::*;

fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

#[test]
fn topic_entry_sources_and_synonyms_follow_kafka_order() {
    let dynamic = map(&[("log.retention.ms", "5000")]);
    let static_ = map(&[("log.retention.ms", "9000"), ("log.segment.bytes", "2048")]);
    let layers = Layers {
        dynamic_broker: &dynamic,
        static_broker: &static_,
    };
    let entries = topic_entries(&map(&[("retention.ms", "100")]), layers);
    assert_eq!(entries.len(), defs::TOPIC_KEYS.len());
    let r = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_eq!(r.value, "100");
    assert_eq!(r.source, ConfigSource::DynamicTopic);
    let order: Vec<_> = r.synonyms.iter().map(|s| (s.name, s.source)).collect();
    assert_eq!(
        order,
        vec![
            ("retention.ms", ConfigSource::DynamicTopic),
            ("log.retention.ms", ConfigSource::DynamicBroker),
            ("log.retention.ms", ConfigSource::StaticBroker),
            ("log.retention.ms", ConfigSource::Default),
        ]
    );
    let s = entries.iter().find(|e| e.name == "segment.bytes").unwrap();
    assert_eq!(
        (s.value.as_str(), s.source),
        ("2048", ConfigSource::StaticBroker)
    );
    let c = entries.iter().find(|e| e.name == "cleanup.policy").unwrap();
    assert!(c.is_default());
    assert_eq!(c.value, "delete");
}

#[test]
fn broker_entries_mark_static_keys_read_only() {
    let empty = BTreeMap::new();
    let dynamic = map(&[("num.partitions", "3")]);
    let entries = broker_entries(Layers {
        dynamic_broker: &dynamic,
        static_broker: &empty,
    });
    let np = entries.iter().find(|e| e.name == "num.partitions").unwrap();
    assert_eq!(
        (np.value.as_str(), np.source, np.read_only),
        ("3", ConfigSource::DynamicBroker, false)
    );
    let rack = entries.iter().find(|e| e.name == "broker.rack").unwrap();
    assert!(rack.read_only);
    assert!(entries.iter().any(|e| e.name == "log.retention.ms"));
    let mut names: Vec<_> = entries.iter().map(|e| e.name).collect();
    names.dedup();
    assert_eq!(names.len(), entries.len(), "no duplicate keys");
}

#[test]
fn static_broker_keys_cannot_be_altered() {
    assert!(matches!(
        validate(Target::Broker, "broker.rack", "r1"),
        Err(AlterError::InvalidRequest(_))
    ));
    assert!(validate(Target::Broker, "log.retention.ms", "1000").is_ok());
    assert!(matches!(
        validate(Target::Topic, "log.retention.ms", "1000"),
        Err(AlterError::InvalidConfig(_))
    ));
}

#[test]
fn incremental_ops() {
    let base = map(&[("retention.ms", "100")]);
    let eff = |k: &str| {
        defs::topic_key(k)
            .map(|k| k.default.to_string())
            .unwrap_or_default()
    };
    let out = apply_incremental(
        Target::Topic,
        &base,
        &[
            ("retention.ms".into(), AlterOp::Delete),
            ("segment.bytes".into(), AlterOp::Set("4096".into())),
            ("cleanup.policy".into(), AlterOp::Append("compact".into())),
        ],
        &eff,
    )
    .unwrap();
    assert_eq!(
        out,
        map(&[
            ("cleanup.policy", "delete,compact"),
            ("segment.bytes", "4096")
        ])
    );
    let out = apply_incremental(
        Target::Topic,
        &out,
        &[("cleanup.policy".into(), AlterOp::Subtract("delete".into()))],
        &eff,
    )
    .unwrap();
    assert_eq!(out["cleanup.policy"], "compact");
    assert!(matches!(
        apply_incremental(
            Target::Topic,
            &base,
            &[("retention.ms".into(), AlterOp::Append("5".into()))],
            &eff
        ),
        Err(AlterError::InvalidConfig(_))
    ));
    assert!(
        apply_incremental(
            Target::Topic,
            &base,
            &[("nope".into(), AlterOp::Set("5".into()))],
            &eff
        )
        .is_err()
    );
}

#[test]
fn replace_all_drops_unlisted_overrides() {
    let out = replace_all(
        Target::Topic,
        &[
            ("retention.ms".into(), Some("7".into())),
            ("segment.ms".into(), None),
        ],
    )
    .unwrap();
    assert_eq!(out, map(&[("retention.ms", "7")]));
    assert!(replace_all(Target::Topic, &[("retention.ms".into(), Some("x".into()))]).is_err());
}

proptest! {
    #[test]
    fn append_then_subtract_restores_a_list(items in proptest::sample::subsequence(vec!["delete", "compact"], 0..=2)) {
        let eff = |_: &str| String::new();
        let start = map(&[("cleanup.policy", "delete")]);
        let joined = items.join(",");
        if let Ok(appended) = apply_incremental(Target::Topic, &start, &[("cleanup.policy".into(), AlterOp::Append(joined.clone()))], &eff) {
            let v = &appended["cleanup.policy"];
            for i in &items {
                prop_assert!(v.split(',').any(|x| x == *i));
            }
            prop_assert_eq!(v.split(',').filter(|x| *x == "delete").count(), 1);
        }
    }
}
