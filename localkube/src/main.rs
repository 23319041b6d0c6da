//! Entry point (not built yet: exits with an explanation instead of pretending to work).
fn main() -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet: see README.md, section \"What is not built yet\"")
}
