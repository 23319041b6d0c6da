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
