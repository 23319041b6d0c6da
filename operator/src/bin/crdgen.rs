//! `crdgen`: writes the CustomResourceDefinitions generated from `operator/src/crd/` into
//! `crds/` and the Helm chart's `charts/eddy/crds/` (or prints them with `--stdout`).
use std::path::PathBuf;

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let manifests = eddy_operator::crd::manifests()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--stdout") {
        let mut out = String::new();
        for m in &manifests {
            out.push_str("---\n");
            out.push_str(&m.yaml);
        }
        std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())?;
        return Ok(());
    }
    let root = args.first().map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
        PathBuf::from,
    );
    for dir in [root.join("crds"), root.join("charts/eddy/crds")] {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for m in &manifests {
            let path = dir.join(&m.file_name);
            std::fs::write(&path, &m.yaml)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}
