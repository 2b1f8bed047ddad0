//! `netdojo compare`: TCP and UDP through the same link, and TCP through the
//! same link without loss, so that what loss cost TCP can be measured.

use super::settings::Scenario;
use super::sim::{self, Protocol, RunResult};

/// Everything one comparison measured.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub scenario: Scenario,
    pub tcp: RunResult,
    pub udp: RunResult,
    /// TCP over the same link with nothing lost, duplicated, reordered or
    /// corrupted (delay, jitter and bandwidth kept); `None` when the link
    /// damages nothing anyway, so the run itself is the baseline.
    pub tcp_baseline: Option<RunResult>,
}

impl Comparison {
    /// TCP's completion time over the link without loss.
    pub fn tcp_baseline_completion(&self) -> std::time::Duration {
        self.tcp_baseline
            .as_ref()
            .map_or(self.tcp.completion, |b| b.completion)
    }
}

/// Runs the scenario over both protocols (and the baseline). `keep_frames`
/// keeps every frame of the two main runs, for `--trace` and `--pcap`.
pub fn compare(scenario: &Scenario, keep_frames: bool) -> Comparison {
    let tcp = sim::run(scenario, Protocol::Tcp, keep_frames);
    let udp = sim::run(scenario, Protocol::Udp, keep_frames);
    let tcp_baseline = scenario.link.damages_frames().then(|| {
        let lossless = Scenario {
            link: scenario.link.without_loss(),
            ..scenario.clone()
        };
        sim::run(&lossless, Protocol::Tcp, false)
    });
    Comparison {
        scenario: scenario.clone(),
        tcp,
        udp,
        tcp_baseline,
    }
}
