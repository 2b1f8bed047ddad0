use crate::report::Reporter;

pub async fn run(_reporter: &Reporter) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
