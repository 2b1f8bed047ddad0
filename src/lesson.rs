use crate::report::Reporter;

pub fn run(_which: &str, _reporter: &Reporter) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
