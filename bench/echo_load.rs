//! The load client of `bench/run.sh`: drives any TCP echo server (netdojo's,
//! socat's) the same way, so that the two can be compared in one run.
//!
//! Modes:
//!
//! - `stream`: N connections share `--total` bytes. Each connection writes its
//!   share while it reads the echo back (so neither side ever waits on a full
//!   buffer), then half-closes and reads to end of stream. It checks that as
//!   many bytes came back as went out, and that their CRC-32 matches.
//! - `rr`: one connection with `TCP_NODELAY`, 1-byte request, 1-byte response,
//!   one after the other; reports the round-trip percentiles.
//!
//! Each run prints one JSON line on stdout. `--watch-pid PID` also samples the
//! memory of that process and its descendants (socat forks one per client).
//!
//! ```text
//! cargo run --release --example echo_load -- stream --addr 127.0.0.1:7000 --connections 50 --total 268435456
//! cargo run --release --example echo_load -- rr --addr 127.0.0.1:7000 --count 20000
//! ```

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes of the repeating pseudo-random pattern the writers send. Random
/// bytes, so a server that reorders or corrupts them changes the CRC; one
/// mebibyte, small enough to stay in the CPU's caches.
const PATTERN_LEN: usize = 1 << 20;

/// Bytes per `read()` on the client side. As much as one loopback read
/// returns, and small enough to stay in the CPU's cache while its CRC is
/// taken: 256 KiB measured slower here.
const READ_BUFFER: usize = 64 * 1024;

#[derive(Parser)]
#[command(about = "Load client for netdojo's side-by-side benchmarks")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Bulk echo over N connections at once.
    Stream(StreamArgs),
    /// Sequential 1-byte round trips on one connection.
    Rr {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 20_000)]
        count: usize,
        /// Round trips before measuring (connection and caches warm up).
        #[arg(long, default_value_t = 1_000)]
        warmup: usize,
    },
}

/// `stream`: how many connections, how many bytes, and how to watch.
#[derive(clap::Args)]
struct StreamArgs {
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, default_value_t = 1)]
    connections: u64,
    /// Bytes each way, in total over all connections.
    #[arg(long, default_value_t = 256 << 20)]
    total: u64,
    /// Bytes per `write()`.
    #[arg(long, default_value_t = 64 * 1024)]
    chunk: usize,
    /// Bytes per `read()`.
    #[arg(long, default_value_t = READ_BUFFER)]
    read_buffer: usize,
    /// Run each connection's writer and reader in one task, instead of
    /// two tasks that the runtime may put on two cores (measured a
    /// little faster and steadier here).
    #[arg(long)]
    one_task: bool,
    /// Sample the memory of this process and its descendants.
    #[arg(long)]
    watch_pid: Option<u32>,
    /// How often to sample, in milliseconds.
    #[arg(long, default_value_t = 20)]
    sample_ms: u64,
    /// Fail when no byte has moved for this many seconds.
    #[arg(long, default_value_t = 3.0)]
    stall_s: f64,
    /// Fail when the run has not ended after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    timeout_s: f64,
}

fn main() {
    let args = Args::parse();
    let result = match args.mode {
        Mode::Stream(args) => stream(&args),
        Mode::Rr {
            addr,
            count,
            warmup,
        } => round_trips(addr, count, warmup),
    };
    match result {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("echo_load: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Bytes moved so far over all connections, to say where a stuck run stopped.
#[derive(Default)]
struct Progress {
    sent: std::sync::atomic::AtomicU64,
    received: std::sync::atomic::AtomicU64,
    finished: std::sync::atomic::AtomicU64,
}

/// What one connection sent and got back.
struct Transfer {
    sent: u64,
    sent_crc: u32,
    received: u64,
    received_crc: u32,
}

fn stream(args: &StreamArgs) -> anyhow::Result<serde_json::Value> {
    let StreamArgs {
        addr,
        connections,
        total,
        chunk,
        read_buffer,
        ..
    } = *args;
    let shape = Shape {
        chunk,
        read_buffer,
        split: !args.one_task,
    };
    let stall = Duration::from_secs_f64(args.stall_s);
    let timeout = Duration::from_secs_f64(args.timeout_s);
    anyhow::ensure!(
        connections > 0 && chunk > 0 && chunk <= PATTERN_LEN && read_buffer > 0,
        "bad --connections, --chunk or --read-buffer"
    );
    let pattern = Arc::new(make_pattern(PATTERN_LEN + chunk));
    // What each connection will send, and its CRC, worked out before the
    // clock starts: the client spends its time in the run on moving bytes
    // and checking the ones that come back.
    let plans: Vec<Plan> = (0..connections)
        .map(|i| {
            // The first `total % connections` connections carry one byte more.
            let share = total / connections + u64::from(i < total % connections);
            // Connections start at different places in the pattern, so that a
            // server mixing up two clients' bytes is caught too.
            let start = (i as usize * 7919 * 131) % PATTERN_LEN;
            let mut crc = crc32fast::Hasher::new();
            for_each_chunk(&pattern, start, share, chunk, |bytes| crc.update(bytes));
            Plan {
                share,
                start,
                crc: crc.finalize(),
            }
        })
        .collect();
    let sampler = args
        .watch_pid
        .map(|pid| MemorySampler::start(pid, Duration::from_millis(args.sample_ms)));

    let runtime = tokio::runtime::Runtime::new()?;
    let started = Instant::now();
    let progress = Arc::new(Progress::default());
    let transfers = runtime.block_on(async {
        let mut tasks = Vec::new();
        for plan in plans {
            let pattern = pattern.clone();
            let progress = progress.clone();
            tasks.push(tokio::spawn(async move {
                one_stream(addr, plan, shape, pattern, progress).await
            }));
        }
        let all = async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.map_err(anyhow::Error::from).and_then(|r| r));
            }
            out
        };
        // A server that stops moving bytes (socat's PIPE can deadlock, see
        // bench/README.md) fails the run instead of hanging it.
        let watchdog = async {
            let mut last = (0, 0);
            let mut last_change = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let now = (
                    progress.sent.load(Ordering::Relaxed),
                    progress.received.load(Ordering::Relaxed),
                );
                if now != last {
                    last = now;
                    last_change = Instant::now();
                } else if last_change.elapsed() >= stall {
                    return format!("no byte moved for {} s", stall.as_secs_f64());
                }
                if started.elapsed() >= timeout {
                    return format!("no end after {} s", timeout.as_secs_f64());
                }
            }
        };
        tokio::select! {
            out = all => Ok(out),
            why = watchdog => Err(why),
        }
    });
    let transfers = match transfers {
        Ok(t) => t,
        Err(why) => {
            runtime.shutdown_background();
            anyhow::bail!(
                "stalled: {why}; {} of {total} bytes written, {} echoed back, {} of {connections} connection(s) finished",
                progress.sent.load(Ordering::Relaxed),
                progress.received.load(Ordering::Relaxed),
                progress.finished.load(Ordering::Relaxed),
            );
        }
    };
    let elapsed = started.elapsed();
    let memory = sampler.map(MemorySampler::stop);

    let mut sent = 0;
    let mut received = 0;
    let mut crc_mismatches = 0;
    let mut errors = Vec::new();
    for (i, t) in transfers.into_iter().enumerate() {
        match t {
            Ok(t) => {
                sent += t.sent;
                received += t.received;
                if t.sent != t.received || t.sent_crc != t.received_crc {
                    crc_mismatches += 1;
                    eprintln!(
                        "echo_load: connection {i}: sent {} bytes (crc {:08x}), got back {} (crc {:08x})",
                        t.sent, t.sent_crc, t.received, t.received_crc
                    );
                }
            }
            Err(e) => errors.push(format!("connection {i}: {e:#}")),
        }
    }
    anyhow::ensure!(
        errors.is_empty(),
        "{} connection(s) failed; first: {}",
        errors.len(),
        errors[0]
    );
    anyhow::ensure!(
        crc_mismatches == 0,
        "{crc_mismatches} connection(s) got back other bytes than they sent"
    );
    anyhow::ensure!(
        sent == total && received == total,
        "sent {sent} and got back {received} bytes, meant {total}"
    );

    let secs = elapsed.as_secs_f64();
    let mut line = json!({
        "mode": "stream",
        "connections": connections,
        "bytes_each_way": total,
        "elapsed_s": round(secs, 4),
        "mb_per_s": round(total as f64 / secs / 1e6, 1),
        "gbit_per_s": round(total as f64 * 8.0 / secs / 1e9, 3),
        "verified": true,
    });
    if let Some(m) = memory {
        line["peak_rss_kib"] = json!(m.peak_hwm_kib);
        line["peak_pss_kib"] = json!(m.peak_pss_kib);
        line["peak_processes"] = json!(m.peak_processes);
        line["samples"] = json!(m.samples);
    }
    Ok(line)
}

/// How the client moves bytes (the same for every server it is pointed at).
#[derive(Clone, Copy)]
struct Shape {
    chunk: usize,
    read_buffer: usize,
    split: bool,
}

/// One connection's share of the bytes.
#[derive(Clone, Copy)]
struct Plan {
    share: u64,
    /// Where in the pattern its bytes start.
    start: usize,
    /// CRC-32 of the bytes it sends.
    crc: u32,
}

/// Calls `f` with each `write()`'s worth of a connection's bytes.
fn for_each_chunk(
    pattern: &[u8],
    start: usize,
    share: u64,
    chunk: usize,
    mut f: impl FnMut(&[u8]),
) {
    let mut offset = start;
    let mut left = share;
    while left > 0 {
        let n = chunk.min(left as usize);
        f(&pattern[offset..offset + n]);
        offset = (offset + n) % PATTERN_LEN;
        left -= n as u64;
    }
}

async fn one_stream(
    addr: SocketAddr,
    plan: Plan,
    shape: Shape,
    pattern: Arc<Vec<u8>>,
    progress: Arc<Progress>,
) -> anyhow::Result<Transfer> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut rd, mut wr) = stream.into_split();

    let writer = {
        let progress = progress.clone();
        async move {
            let mut offset = plan.start;
            let mut left = plan.share;
            while left > 0 {
                let n = shape.chunk.min(left as usize);
                wr.write_all(&pattern[offset..offset + n]).await?;
                progress.sent.fetch_add(n as u64, Ordering::Relaxed);
                offset = (offset + n) % PATTERN_LEN;
                left -= n as u64;
            }
            // Half-close: the server sees end of stream, echoes what is left, and closes.
            wr.shutdown().await?;
            anyhow::Ok(())
        }
    };
    let reader = async move {
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0u8; shape.read_buffer];
        let mut got = 0u64;
        loop {
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
            got += n as u64;
            progress.received.fetch_add(n as u64, Ordering::Relaxed);
        }
        progress.finished.fetch_add(1, Ordering::Relaxed);
        anyhow::Ok((got, crc.finalize()))
    };
    let (received, received_crc) = if shape.split {
        let writer = tokio::spawn(writer);
        let read = reader.await;
        writer.await??;
        read?
    } else {
        tokio::try_join!(writer, reader)?.1
    };
    Ok(Transfer {
        sent: plan.share,
        sent_crc: plan.crc,
        received,
        received_crc,
    })
}

/// xorshift64: cheap, fixed pseudo-random bytes.
fn make_pattern(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Blocking sockets on purpose: the client adds as little as possible to each
/// round trip, so the figure is the server's (and the kernel's).
fn round_trips(addr: SocketAddr, count: usize, warmup: usize) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(count > 0, "--count must be at least 1");
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut rtts_ns = Vec::with_capacity(count);
    let mut back = [0u8; 1];
    let started = Instant::now();
    for i in 0..warmup + count {
        let byte = [(i % 251) as u8];
        let t = Instant::now();
        s.write_all(&byte)?;
        s.read_exact(&mut back)?;
        let rtt = t.elapsed();
        anyhow::ensure!(
            back == byte,
            "round trip {i}: sent {:?}, got back {:?}",
            byte,
            back
        );
        if i >= warmup {
            rtts_ns.push(rtt.as_nanos() as u64);
        }
    }
    let elapsed = started.elapsed();
    s.shutdown(Shutdown::Write)?;
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)?;
    anyhow::ensure!(
        rest.is_empty(),
        "{} unexpected bytes after the last round trip",
        rest.len()
    );

    rtts_ns.sort_unstable();
    let pct = |p: f64| {
        let i = ((p / 100.0) * (rtts_ns.len() - 1) as f64).round() as usize;
        round(rtts_ns[i] as f64 / 1e3, 2)
    };
    let mean = rtts_ns.iter().sum::<u64>() as f64 / rtts_ns.len() as f64 / 1e3;
    Ok(json!({
        "mode": "rr",
        "count": count,
        "warmup": warmup,
        "elapsed_s": round(elapsed.as_secs_f64(), 4),
        "min_us": pct(0.0),
        "p50_us": pct(50.0),
        "p90_us": pct(90.0),
        "p99_us": pct(99.0),
        "max_us": pct(100.0),
        "mean_us": round(mean, 2),
        "verified": true,
    }))
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Samples, every few milliseconds, the memory of a process and of all its
/// descendants, and keeps the largest sum. A forking server (socat) has one
/// process per client, so its footprint is the sum over the tree.
struct MemorySampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<MemoryPeak>,
}

#[derive(Default)]
struct MemoryPeak {
    /// Largest sum over the live processes of their own peak RSS (VmHWM).
    peak_hwm_kib: u64,
    /// Largest sum of proportional set sizes: shared pages (libc, the
    /// binary) are split among the processes sharing them, so a forking
    /// server is not charged 50 times for one libc.
    peak_pss_kib: u64,
    peak_processes: usize,
    samples: u64,
}

impl MemorySampler {
    fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = MemoryPeak::default();
            loop {
                let done = flag.load(Ordering::Relaxed);
                let tree = process_tree(pid);
                let (mut hwm, mut pss) = (0, 0);
                for p in &tree {
                    hwm += status_kib(*p, "VmHWM:").unwrap_or(0);
                    pss += rollup_kib(*p, "Pss:").unwrap_or(0);
                }
                peak.peak_hwm_kib = peak.peak_hwm_kib.max(hwm);
                peak.peak_pss_kib = peak.peak_pss_kib.max(pss);
                peak.peak_processes = peak.peak_processes.max(tree.len());
                peak.samples += 1;
                if done {
                    return peak;
                }
                std::thread::sleep(every);
            }
        });
        MemorySampler { stop, thread }
    }

    fn stop(self) -> MemoryPeak {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// `pid` and its descendants, from `/proc/PID/task/TID/children`.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for task in tasks.flatten() {
                if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                    out.extend(
                        children
                            .split_whitespace()
                            .filter_map(|c| c.parse::<u32>().ok()),
                    );
                }
            }
        }
        i += 1;
    }
    out
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    kib_field(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        key,
    )
}

fn rollup_kib(pid: u32, key: &str) -> Option<u64> {
    kib_field(
        &std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?,
        key,
    )
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
