//! Unit tests of the providers' request shapes.

use super::*;

fn notice(action: Action) -> Notice {
    Notice {
        action,
        dedup_key: "eddy-abc".into(),
        summary: "consumer lag of group g is 500".into(),
        severity: Severity::Warning,
        source: "orders".into(),
        details: json!({"kind": "consumer_lag", "value": 500.0}),
    }
}

fn body(o: &Outbound) -> Value {
    serde_json::from_slice(&o.body).unwrap()
}

fn secret(s: &str) -> ChannelSecret {
    ChannelSecret {
        secret: Some(s.into()),
        url: None,
    }
}

#[test]
fn pagerduty_triggers_and_resolves_by_dedup_key() {
    let e = Endpoints::default();
    let c = ChannelConfig::default();
    let t = render(
        ChannelKind::Pagerduty,
        &c,
        &secret("rk"),
        &e,
        &notice(Action::Trigger),
        0,
    )
    .unwrap();
    assert_eq!(t.url, "https://events.pagerduty.com/v2/enqueue");
    let b = body(&t);
    assert_eq!(b["routing_key"], "rk");
    assert_eq!(b["event_action"], "trigger");
    assert_eq!(b["dedup_key"], "eddy-abc");
    assert_eq!(b["payload"]["severity"], "warning");
    assert_eq!(b["payload"]["source"], "orders");
    let r = render(
        ChannelKind::Pagerduty,
        &c,
        &secret("rk"),
        &e,
        &notice(Action::Resolve),
        0,
    )
    .unwrap();
    let b = body(&r);
    assert_eq!(b["event_action"], "resolve");
    assert!(b.get("payload").is_none());
}

#[test]
fn opsgenie_uses_the_region_and_closes_by_alias() {
    let e = Endpoints::default();
    let eu = ChannelConfig {
        region: Some("eu".into()),
        routing_key: None,
    };
    let t = render(
        ChannelKind::Opsgenie,
        &eu,
        &secret("gk"),
        &e,
        &notice(Action::Trigger),
        0,
    )
    .unwrap();
    assert_eq!(t.url, "https://api.eu.opsgenie.com/v2/alerts");
    assert!(
        t.headers
            .contains(&("authorization".into(), "GenieKey gk".into()))
    );
    assert_eq!(body(&t)["alias"], "eddy-abc");
    assert_eq!(body(&t)["details"]["value"], "500.0");
    let r = render(
        ChannelKind::Opsgenie,
        &ChannelConfig::default(),
        &secret("gk"),
        &e,
        &notice(Action::Resolve),
        0,
    )
    .unwrap();
    assert_eq!(
        r.url,
        "https://api.opsgenie.com/v2/alerts/eddy-abc/close?identifierType=alias"
    );
}

#[test]
fn victorops_needs_its_routing_key() {
    let e = Endpoints::default();
    let c = ChannelConfig {
        region: None,
        routing_key: Some("db team".into()),
    };
    let t = render(
        ChannelKind::Victorops,
        &c,
        &secret("k"),
        &e,
        &notice(Action::Resolve),
        0,
    )
    .unwrap();
    assert_eq!(
        t.url,
        "https://alert.victorops.com/integrations/generic/20131114/alert/k/db+team"
    );
    assert_eq!(body(&t)["message_type"], "RECOVERY");
    assert!(
        render(
            ChannelKind::Victorops,
            &ChannelConfig::default(),
            &secret("k"),
            &e,
            &notice(Action::Resolve),
            0
        )
        .is_err()
    );
}

#[test]
fn webhook_signatures_cover_timestamp_and_body() {
    let a = sign("s", 10, b"{}");
    assert!(a.starts_with("v1="));
    assert_eq!(a.len(), 3 + 64);
    assert_ne!(a, sign("s", 11, b"{}"));
    assert_ne!(a, sign("t", 10, b"{}"));
    assert_ne!(a, sign("s", 10, b"{ }"));
}
