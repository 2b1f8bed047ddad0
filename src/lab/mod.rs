//! The lossy-link lab behind `netdojo compare`: the same workload over TCP and
//! over UDP, through the same impaired link, side by side.
//!
//! - [`settings`]: the link's impairments, the workload and the seed, each
//!   checked (a bad value is a usage error naming its flag).
//! - [`link`]: the simulated wire: a transmitter per direction at the link's
//!   bandwidth, then loss, delay, jitter, duplication, reordering and
//!   corruption, decided by a seeded random number generator.
//! - [`sim`]: two real TCP/IP stacks (smoltcp) joined by that link, driven by
//!   a virtual clock, sending numbered messages (the same ones `netdojo udp`
//!   sends) and counting what arrives.
//! - [`compare`](mod@compare): both protocols and a lossless baseline, as one comparison.
//! - [`real`]: `--real`, the same workload over the kernel's own TCP and
//!   UDP on loopback, into a receiver slower than its sender.
//! - [`sweep`]: `--sweep PARAM=V1,V2,...`, the comparison over several values
//!   of one setting and several seeds each.
//! - [`relay`]: `netdojo udp relay`, the same link between two real UDP
//!   programs, on the wall clock.
//! - [`pcap`]: every frame that entered the link, as a pcapng file, with
//!   what the link did to it in each frame's comment.
//!
//! The lab only measures. What it found is shown by `report::lab`.

pub mod compare;
pub mod link;
pub mod pcap;
pub mod real;
pub mod relay;
pub mod settings;
pub mod sim;
pub mod sweep;

pub use compare::{Comparison, compare};
pub use settings::{Impairments, Scenario, Workload};
pub use sim::{Protocol, RunResult};

use crate::cli::CompareArgs;
use crate::report::Reporter;

/// `netdojo compare`: runs both protocols, then shows the comparison (and,
/// if asked, the ladder of every frame and the capture).
pub fn run(args: &CompareArgs, reporter: &Reporter, json: bool) -> anyhow::Result<()> {
    if args.real {
        let workload = Workload {
            messages: args.messages,
            size: args.size,
        };
        reporter.emit(crate::report::lab::real_setup_observation(&workload));
        let (tcp, udp) = real::run(workload, reporter)?;
        crate::report::lab::show_real(&tcp, &udp, reporter, json);
        return Ok(());
    }
    let scenario = Scenario {
        link: Impairments {
            loss: args.loss,
            delay: args.delay,
            jitter: args.jitter,
            duplicate: args.duplicate,
            reorder: args.reorder,
            corrupt: args.corrupt,
            bandwidth: args.bandwidth.0,
        },
        workload: Workload {
            messages: args.messages,
            size: args.size,
        },
        seed: args.seed,
    };
    if let Some(sweep) = &args.sweep {
        reporter.emit(crate::report::lab::sweep_link_observation(
            &scenario,
            sweep.param,
            &sweep.values,
            args.seeds,
        ));
        let total = sweep.values.len() as u64 * args.seeds * 2;
        let bar = crate::report::lab::progress_bar(total, json);
        let points = sweep::run(sweep, &scenario, args.seeds, &|| bar.inc(1));
        bar.finish_and_clear();
        crate::report::lab::show_sweep(sweep.param, &points, args.seeds, reporter, json);
        if let Some(path) = &args.svg {
            crate::report::lab::write_svg(path, sweep.param, &points)?;
            crate::report::lab::show_svg_written(path, reporter);
        }
        return Ok(());
    }
    let keep_frames = args.trace || args.pcap.is_some();
    reporter.emit(crate::report::lab::link_observation(&scenario));
    let cmp = compare(&scenario, keep_frames);
    if args.trace {
        crate::report::lab::show_trace(&cmp.tcp, reporter);
        crate::report::lab::show_trace(&cmp.udp, reporter);
        reporter.section("Side by side", "");
    }
    crate::report::lab::show(&cmp, reporter, json);
    if let Some(path) = &args.pcap {
        pcap::write(path, &[&cmp.tcp, &cmp.udp])?;
        crate::report::lab::show_pcap_written(path, &cmp, reporter);
    }
    Ok(())
}
