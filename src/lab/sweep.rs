//! `--sweep PARAM=V1,V2,...`: the comparison repeated over the values of one
//! setting, with several seeds each, so that a trend is not one roll of the
//! dice.

use super::settings::{self, Scenario};
use super::sim::{self, Protocol, RunResult};

/// The most values one sweep takes: a chart with more points than this is
/// unreadable on a slide, and each value costs `seeds` × 2 runs.
pub const MAX_SWEEP_VALUES: usize = 20;

/// The most seeds per value: the mean settles long before this, and a sweep
/// should stay a matter of seconds.
pub const MAX_SEEDS: u64 = 50;

/// A setting a sweep can vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Loss,
    Delay,
    Jitter,
    Duplicate,
    Reorder,
    Corrupt,
    Bandwidth,
    Messages,
    Size,
}

impl Param {
    /// Every parameter, by the name `--sweep` takes (the flag's name).
    pub const ALL: [(Param, &'static str); 9] = [
        (Param::Loss, "loss"),
        (Param::Delay, "delay"),
        (Param::Jitter, "jitter"),
        (Param::Duplicate, "duplicate"),
        (Param::Reorder, "reorder"),
        (Param::Corrupt, "corrupt"),
        (Param::Bandwidth, "bandwidth"),
        (Param::Messages, "messages"),
        (Param::Size, "size"),
    ];

    /// The flag's name.
    pub fn name(self) -> &'static str {
        Param::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("", |(_, n)| n)
    }

    /// The unit its values are shown in.
    pub fn unit(self) -> &'static str {
        match self {
            Param::Loss | Param::Duplicate | Param::Reorder | Param::Corrupt => "%",
            Param::Delay | Param::Jitter => "ms",
            Param::Bandwidth => "bit/s",
            Param::Messages => "messages",
            Param::Size => "bytes",
        }
    }
}

/// One value of the swept setting, as typed and as applied.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepValue {
    /// The setting it is a value of.
    pub param: Param,
    /// As the user typed it (`10`, `20ms`, `1mbit`).
    pub label: String,
    /// As a number in [`Param::unit`], for charts.
    pub number: f64,
    apply: Applied,
}

#[derive(Clone, Debug, PartialEq)]
enum Applied {
    Percent(f64),
    Duration(std::time::Duration),
    Bandwidth(Option<u64>),
    Count(u64),
    Size(usize),
}

/// `--sweep loss=0,1,5,10`: the parameter and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    pub param: Param,
    pub values: Vec<SweepValue>,
}

/// Parses `PARAM=V1,V2,...`, checking each value as its own flag would.
pub fn parse_sweep(s: &str) -> Result<Sweep, String> {
    let names: Vec<&str> = Param::ALL.iter().map(|(_, n)| *n).collect();
    let Some((name, list)) = s.split_once('=') else {
        return Err(format!(
            "'{s}' is not PARAM=V1,V2,... (example: loss=0,1,5,10,20,30; parameters: {})",
            names.join(", ")
        ));
    };
    let name = name.trim().trim_start_matches("--");
    let Some(&(param, _)) = Param::ALL.iter().find(|(_, n)| *n == name) else {
        return Err(format!(
            "'{name}' is not a parameter netdojo can sweep: choose one of {}",
            names.join(", ")
        ));
    };
    let mut values = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let bad = |e: String| format!("{name}={raw}: {e}");
        let (number, apply) = match param {
            Param::Loss | Param::Duplicate | Param::Reorder | Param::Corrupt => {
                let p = settings::parse_percent(raw).map_err(bad)?;
                (p, Applied::Percent(p))
            }
            Param::Delay | Param::Jitter => {
                let d = settings::parse_delay(raw).map_err(bad)?;
                (d.as_secs_f64() * 1e3, Applied::Duration(d))
            }
            Param::Bandwidth => {
                let b = settings::parse_bandwidth(raw).map_err(bad)?;
                (b.map_or(f64::INFINITY, |b| b as f64), Applied::Bandwidth(b))
            }
            Param::Messages => {
                let n = settings::parse_messages(raw).map_err(bad)?;
                (n as f64, Applied::Count(n))
            }
            Param::Size => {
                let n = settings::parse_message_size(raw).map_err(bad)?;
                (n as f64, Applied::Size(n))
            }
        };
        values.push(SweepValue {
            param,
            label: raw.to_string(),
            number,
            apply,
        });
    }
    if values.is_empty() {
        return Err(format!("{name}= has no values (example: {name}=0,5,10)"));
    }
    if values.len() > MAX_SWEEP_VALUES {
        return Err(format!(
            "{} values is more than the {MAX_SWEEP_VALUES} a sweep takes",
            values.len()
        ));
    }
    Ok(Sweep { param, values })
}

impl SweepValue {
    /// The scenario with this value applied.
    pub fn applied_to(&self, base: &Scenario) -> Scenario {
        let mut s = base.clone();
        let link = &mut s.link;
        match (self.param, &self.apply) {
            (Param::Loss, Applied::Percent(p)) => link.loss = *p,
            (Param::Duplicate, Applied::Percent(p)) => link.duplicate = *p,
            (Param::Reorder, Applied::Percent(p)) => link.reorder = *p,
            (Param::Corrupt, Applied::Percent(p)) => link.corrupt = *p,
            (Param::Delay, Applied::Duration(d)) => link.delay = *d,
            (Param::Jitter, Applied::Duration(d)) => link.jitter = *d,
            (Param::Bandwidth, Applied::Bandwidth(b)) => link.bandwidth = *b,
            (Param::Messages, Applied::Count(n)) => s.workload.messages = *n,
            (Param::Size, Applied::Size(n)) => s.workload.size = *n,
            // parse_sweep pairs every parameter with its own kind of value.
            _ => {}
        }
        s
    }
}

/// What one value of the sweep measured, over all its seeds.
#[derive(Clone, Debug)]
pub struct SweepPoint {
    pub value: SweepValue,
    pub tcp: Vec<RunResult>,
    pub udp: Vec<RunResult>,
}

/// Means and ranges of a point's runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// How many runs this sums up.
    pub runs: u64,
    pub completion_mean_s: f64,
    pub completion_min_s: f64,
    pub completion_max_s: f64,
    pub delivered_pct: f64,
    pub lost_mean: f64,
    pub out_of_order_mean: f64,
    pub retransmissions_mean: f64,
    pub goodput_mean_bps: f64,
    /// Runs that stopped at the lab's time cap.
    pub capped: u64,
}

/// Summarises runs of one protocol.
pub fn summarize(runs: &[RunResult]) -> Summary {
    let n = runs.len().max(1) as f64;
    let secs: Vec<f64> = runs.iter().map(|r| r.completion.as_secs_f64()).collect();
    let sent: u64 = runs.iter().map(|r| r.sent).sum();
    let delivered: u64 = runs.iter().map(|r| r.delivered).sum();
    Summary {
        runs: runs.len() as u64,
        completion_mean_s: secs.iter().sum::<f64>() / n,
        completion_min_s: secs.iter().copied().fold(f64::INFINITY, f64::min),
        completion_max_s: secs.iter().copied().fold(0.0, f64::max),
        delivered_pct: delivered as f64 * 100.0 / sent.max(1) as f64,
        lost_mean: runs.iter().map(|r| r.lost as f64).sum::<f64>() / n,
        out_of_order_mean: runs.iter().map(|r| r.out_of_order as f64).sum::<f64>() / n,
        retransmissions_mean: runs
            .iter()
            .map(|r| r.link.tcp_retransmissions as f64)
            .sum::<f64>()
            / n,
        goodput_mean_bps: runs.iter().filter_map(|r| r.goodput_bps()).sum::<f64>() / n,
        capped: runs.iter().filter(|r| r.capped).count() as u64,
    }
}

/// Runs the sweep: for each value, `seeds` seeds from `base.seed` on, both
/// protocols. `progress` is called after each run.
pub fn run(sweep: &Sweep, base: &Scenario, seeds: u64, progress: &dyn Fn()) -> Vec<SweepPoint> {
    sweep
        .values
        .iter()
        .map(|value| {
            let mut point = SweepPoint {
                value: value.clone(),
                tcp: Vec::new(),
                udp: Vec::new(),
            };
            for i in 0..seeds {
                let mut scenario = value.applied_to(base);
                scenario.seed = base.seed.wrapping_add(i);
                point.tcp.push(sim::run(&scenario, Protocol::Tcp, false));
                progress();
                point.udp.push(sim::run(&scenario, Protocol::Udp, false));
                progress();
            }
            point
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::settings::{Impairments, Workload};

    #[test]
    fn sweeps_parse_with_each_flags_rules() {
        let s = parse_sweep("loss=0,1,5").unwrap();
        assert_eq!(s.param, Param::Loss);
        assert_eq!(
            s.values.iter().map(|v| v.number).collect::<Vec<_>>(),
            [0.0, 1.0, 5.0]
        );
        let d = parse_sweep("delay=10ms,50ms").unwrap();
        assert_eq!(d.values[1].number, 50.0);
        assert!(parse_sweep("loss=0,101").unwrap_err().contains("loss=101"));
        assert!(
            parse_sweep("speed=1,2")
                .unwrap_err()
                .contains("not a parameter")
        );
        assert!(parse_sweep("loss").is_err());
        assert!(parse_sweep("loss=").is_err());
    }

    #[test]
    fn a_value_changes_only_its_setting() {
        let base = Scenario {
            link: Impairments::default(),
            workload: Workload::default(),
            seed: 1,
        };
        let s = parse_sweep("reorder=7").unwrap();
        let applied = s.values[0].applied_to(&base);
        assert_eq!(applied.link.reorder, 7.0);
        assert_eq!(applied.link.loss, base.link.loss);
        let m = parse_sweep("messages=10").unwrap().values[0].applied_to(&base);
        assert_eq!(m.workload.messages, 10);
    }
}
