use crate::cli::UdpSendArgs;
use crate::report::Reporter;

pub async fn run(_args: &UdpSendArgs, _reporter: &Reporter) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
