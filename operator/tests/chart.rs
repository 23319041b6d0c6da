//! The Helm chart through the real Helm SDK (PyPI `helm-python-sdk`, driven by
//! `tests/helm/chart.py`): it lints clean, `deploy/eddy.yaml` is its current rendering, and the
//! examples in `deploy/examples/` are valid Eddy resources.
#[path = "../../localkube/tests/support/stack.rs"]
mod stack;

use std::path::Path;
use std::process::Command;

use eddy_operator::crd::{KafkaCluster, KafkaTopic, KafkaUser};
use serde::Deserialize as _;
use stack::{python, repo as repo_root};

fn chart_py(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm/chart.py"))
        .args(args)
        .output()
        .expect("running python with helm_python (run scripts/install-test-deps.sh)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn chart_lints_clean_in_strict_mode() {
    let chart = repo_root().join("charts/eddy");
    let (ok, out, err) = chart_py(&["lint", chart.to_str().expect("utf8")]);
    assert!(ok, "helm lint failed:\n{out}\n{err}");
}

#[test]
fn deploy_manifest_is_the_current_chart_rendering() {
    let chart = repo_root().join("charts/eddy");
    let (ok, rendered, err) = chart_py(&["render", chart.to_str().expect("utf8")]);
    assert!(ok, "helm render failed: {err}");
    let header = "# Rendered from charts/eddy with default values (release eddy, namespace eddy-system).\n# Regenerate: EDDY_UPDATE_GENERATED=1 cargo nextest run -p eddy-operator --test chart\n";
    let expected = format!("{header}{rendered}");
    let path = repo_root().join("deploy/eddy.yaml");
    if std::env::var("EDDY_UPDATE_GENERATED").is_ok() {
        std::fs::write(&path, &expected).expect("write deploy/eddy.yaml");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "deploy/eddy.yaml is stale: EDDY_UPDATE_GENERATED=1 cargo nextest run -p eddy-operator --test chart"
    );
    for kind in [
        "CustomResourceDefinition",
        "ClusterRole",
        "Role",
        "Deployment",
        "ServiceAccount",
    ] {
        assert!(
            expected.contains(&format!("kind: {kind}\n")),
            "rendering lacks {kind}"
        );
    }
}

#[test]
fn optional_api_renders_only_when_enabled() {
    let chart = repo_root().join("charts/eddy");
    let chart = chart.to_str().expect("utf8");
    let (_, off, _) = chart_py(&["render", chart]);
    let (ok, on, err) = chart_py(&["render", chart, r#"{"api": {"enabled": true}}"#]);
    assert!(ok, "{err}");
    assert!(!off.contains("name: eddy-api"));
    assert!(on.contains("name: eddy-api"));
}

#[test]
fn examples_are_valid_eddy_resources() {
    let dir = repo_root().join("deploy/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read example");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc).expect("yaml");
            let kind = value["kind"].as_str().unwrap_or_default().to_string();
            let json = serde_json::to_value(&value).expect("json");
            let result = match kind.as_str() {
                "KafkaCluster" => serde_json::from_value::<KafkaCluster>(json).map(drop),
                "KafkaTopic" => serde_json::from_value::<KafkaTopic>(json).map(drop),
                "KafkaUser" => serde_json::from_value::<KafkaUser>(json).map(drop),
                other => panic!("{}: unexpected kind {other}", path.display()),
            };
            result.unwrap_or_else(|e| panic!("{}: {kind}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(
        seen >= 5,
        "expected the dev, production, topic and user examples, saw {seen}"
    );
}

/// The rendered objects of `kind`, parsed.
fn objects_of(rendered: &str, kind: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(rendered)
        .filter_map(|doc| serde_yaml::Value::deserialize(doc).ok())
        .filter(|v| v["kind"].as_str() == Some(kind))
        .collect()
}

#[test]
fn monitoring_dashboards_alerts_and_pod_monitors_render_when_asked() {
    let chart = repo_root().join("charts/eddy");
    let chart = chart.to_str().expect("utf8");
    // Defaults: nothing (and "auto" PodMonitors need the Prometheus operator's API, which a
    // plain render does not have).
    let (ok, off, err) = chart_py(&["render", chart]);
    assert!(ok, "{err}");
    for kind in ["PodMonitor", "PrometheusRule"] {
        assert!(
            objects_of(&off, kind).is_empty(),
            "{kind} rendered by default"
        );
    }
    assert!(!off.contains("eddy-brokers.json"));

    let values = r#"{"monitoring": {"dashboards": {"enabled": true},
        "prometheusRules": {"enabled": true, "labels": {"release": "kube-prometheus"}, "consumerLagRecords": 5000},
        "podMonitors": {"enabled": true}}}"#;
    let (ok, on, err) = chart_py(&["render", chart, values]);
    assert!(ok, "{err}");

    let monitors = objects_of(&on, "PodMonitor");
    assert_eq!(monitors.len(), 2, "brokers and operator");
    let brokers = &monitors[0];
    assert_eq!(
        brokers["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"], "eddy-broker",
        "the label the operator puts on broker pods"
    );
    assert_eq!(brokers["spec"]["podMetricsEndpoints"][0]["port"], "admin");
    assert_eq!(brokers["spec"]["namespaceSelector"]["any"], true);

    let rules = objects_of(&on, "PrometheusRule");
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["metadata"]["labels"]["release"], "kube-prometheus");
    let alerts: Vec<&serde_yaml::Value> = rules[0]["spec"]["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules"))
        .collect();
    for a in &alerts {
        let name = a["alert"].as_str().expect("alert name");
        assert!(a["expr"].as_str().is_some_and(|e| !e.is_empty()), "{name}");
        assert!(a["for"].as_str().is_some(), "{name}");
        assert!(
            matches!(
                a["labels"]["severity"].as_str(),
                Some("warning" | "critical")
            ),
            "{name}"
        );
        let summary = a["annotations"]["summary"].as_str().expect("summary");
        assert!(
            !summary.contains("{{ \""),
            "{name}: unrendered template in {summary}"
        );
    }
    let names: Vec<&str> = alerts.iter().filter_map(|a| a["alert"].as_str()).collect();
    for expected in [
        "EddyOfflinePartitions",
        "EddyUnderMinIsrPartitions",
        "EddyUnderReplicatedPartitions",
        "EddyNoActiveController",
        "EddyDiskAlmostFull",
        "EddyConsumerLagHigh",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    let lag = alerts
        .iter()
        .find(|a| a["alert"] == "EddyConsumerLagHigh")
        .expect("lag alert");
    assert!(
        lag["expr"].as_str().expect("expr").ends_with("> 5000"),
        "the threshold value is used"
    );

    let maps = objects_of(&on, "ConfigMap");
    let dashboard = maps
        .iter()
        .find_map(|m| m["data"]["eddy-brokers.json"].as_str())
        .expect("dashboard ConfigMap");
    let dashboard: serde_json::Value = serde_json::from_str(dashboard).expect("dashboard JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    for p in panels {
        let targets = p["targets"].as_array().expect("targets");
        assert!(
            targets
                .iter()
                .all(|t| t["expr"].as_str().is_some_and(|e| e.contains("eddy_"))),
            "panel {} queries something else",
            p["title"]
        );
    }
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for expected in [
        "Produce throughput by topic",
        "Consume throughput by topic",
        "Request latency p99 by API",
        "Disk used per broker",
        "Consumer lag by group and topic",
    ] {
        assert!(titles.contains(&expected), "{expected} missing: {titles:?}");
    }
}
