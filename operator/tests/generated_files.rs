//! Generated files are fresh: `crds/` and `charts/eddy/crds/` equal what `crdgen` writes now.
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn committed_crds_match_the_rust_types() {
    let manifests = eddy_operator::crd::manifests().expect("render crds");
    assert_eq!(manifests.len(), 4);
    for dir in ["crds", "charts/eddy/crds"] {
        let dir_path = repo_root().join(dir);
        for m in &manifests {
            let path = dir_path.join(&m.file_name);
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == m.yaml,
                "{} is stale: run `cargo run -p eddy-operator --bin crdgen`",
                path.display()
            );
        }
        let mut names: Vec<String> = std::fs::read_dir(&dir_path)
            .expect("list crd dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        let mut expected: Vec<String> = manifests.iter().map(|m| m.file_name.clone()).collect();
        expected.sort();
        assert_eq!(names, expected, "{dir} holds files crdgen does not write");
    }
}
