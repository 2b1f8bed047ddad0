use crate::endpoint::Endpoint;
use crate::report::Reporter;

pub async fn run(_addr: &Endpoint, _send: Vec<String>, _reporter: &Reporter) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
