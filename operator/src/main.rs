//! `operator`: runs the Eddy controllers (not built yet: exits with an explanation).
fn main() -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet: see operator/README.md")
}
