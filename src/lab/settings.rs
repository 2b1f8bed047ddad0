//! What a lab run is made of: the link's impairments, the workload and the
//! seed, each checked before anything runs.
//!
//! Parsing lives here rather than in `cli.rs` so that `--sweep loss=0,5,10`
//! checks its values with exactly the same rules (and messages) as `--loss`.

use std::time::Duration;

/// The most messages one run sends. At the largest message size that is
/// about 150 MB through the simulation, a few seconds of wall time: more would
/// teach nothing that 100,000 messages do not, and would only make a typo
/// (`--messages 10000000`) hang a lecture.
pub const MAX_MESSAGES: u64 = 100_000;

/// Bytes of netdojo's numbered header at the front of every message (sequence
/// number and send time): the smallest useful message.
pub const MIN_MESSAGE_SIZE: usize = crate::udp::wire::HEADER_LEN;

/// The largest message: 1,500 (Ethernet's MTU) − 20 (IPv4 header) − 8 (UDP
/// header). Any larger and one UDP message would need IP fragmentation, where
/// losing one fragment loses the whole datagram: a different lesson, and one
/// the simulated hosts do not implement.
pub const MAX_MESSAGE_SIZE: usize = 1472;

/// The longest one-way delay or jitter accepted. A geostationary satellite hop
/// is about 270 ms; ten seconds is far beyond any real link and keeps every
/// virtual time well inside the simulation's cap.
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// The slowest link accepted, in bits per second: a 1,000-byte message still
/// crosses it in under a second.
pub const MIN_BANDWIDTH: u64 = 10_000;

/// What the link does to every frame that crosses it (ARP excepted, see
/// `link`). Percentages are per frame, from 0 to 100.
#[derive(Clone, Debug, PartialEq)]
pub struct Impairments {
    /// Chance that a frame is lost on the way.
    pub loss: f64,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra delay, uniform between 0 and this, per frame; frames still leave
    /// the link in the order they entered it.
    pub jitter: Duration,
    /// Chance that a frame arrives twice.
    pub duplicate: f64,
    /// Chance that a frame is held back so that later frames overtake it.
    pub reorder: f64,
    /// Chance that one bit of a frame's IP packet is flipped on the way.
    pub corrupt: f64,
    /// The link's rate in bits per second; `None` is unlimited.
    pub bandwidth: Option<u64>,
}

impl Default for Impairments {
    /// The lecture's link: 10% loss, 20 ms each way, 10 Mbit/s.
    fn default() -> Self {
        Impairments {
            loss: 10.0,
            delay: Duration::from_millis(20),
            jitter: Duration::ZERO,
            duplicate: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            bandwidth: Some(10_000_000),
        }
    }
}

impl Impairments {
    /// A perfect link: no loss, no delay, no limit.
    pub fn none() -> Self {
        Impairments {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            duplicate: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            bandwidth: None,
        }
    }

    /// The same link without the impairments that lose or damage frames
    /// (loss, duplication, reordering, corruption): delay, jitter and bandwidth
    /// stay. TCP's time over it is the baseline its time under loss is
    /// compared with.
    pub fn without_loss(&self) -> Self {
        Impairments {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            ..self.clone()
        }
    }

    /// Whether anything can lose, duplicate, reorder or damage a frame.
    pub fn damages_frames(&self) -> bool {
        self.loss > 0.0 || self.duplicate > 0.0 || self.reorder > 0.0 || self.corrupt > 0.0
    }
}

/// The same work for both protocols: `messages` messages of `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    pub messages: u64,
    pub size: usize,
}

impl Default for Workload {
    /// 200 messages of 1,000 bytes: a few hundred frames, enough for
    /// percentages to mean something and few enough to read in a ladder.
    fn default() -> Self {
        Workload {
            messages: 200,
            size: 1000,
        }
    }
}

impl Workload {
    /// Bytes the application hands to the transport.
    pub fn bytes(&self) -> u64 {
        self.messages * self.size as u64
    }
}

/// One run: the link, the workload, and the seed that decides every random
/// choice (which frames are lost, the hosts' initial sequence numbers).
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub link: Impairments,
    pub workload: Workload,
    pub seed: u64,
}

/// `--loss 10`, `--loss 10%`, `--loss 2.5`: a percentage from 0 to 100.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let n = s.trim().strip_suffix('%').unwrap_or(s.trim());
    let value: f64 = n
        .parse()
        .map_err(|_| format!("'{s}' is not a percentage (examples: 10, 2.5, 0)"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("{s}% is not a percentage: use 0 to 100"));
    }
    Ok(value)
}

/// `--delay 20ms`, `--jitter 5ms`, `0`: not negative, at most [`MAX_DELAY`].
pub fn parse_delay(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.starts_with('-') {
        return Err(format!(
            "'{s}' is negative: a delay is 0 or more (examples: 20ms, 0)"
        ));
    }
    let d = if s == "0" {
        Duration::ZERO
    } else {
        humantime::parse_duration(s).map_err(|e| format!("'{s}': {e} (examples: 20ms, 1s, 0)"))?
    };
    if d > MAX_DELAY {
        return Err(format!(
            "{s} is longer than the {} netdojo accepts (a satellite hop is about 270ms)",
            humantime::format_duration(MAX_DELAY)
        ));
    }
    Ok(d)
}

/// `--bandwidth 10mbit`, `512kbit`, `1gbit`, `2000000` (bits/s), or
/// `unlimited`: `None` is unlimited.
pub fn parse_bandwidth(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "unlimited" || t == "none" || t == "0" {
        return Ok(None);
    }
    let t = t
        .strip_suffix("/s")
        .or_else(|| t.strip_suffix("ps"))
        .unwrap_or(&t);
    let t = t
        .strip_suffix("it")
        .or_else(|| t.strip_suffix("its"))
        .unwrap_or(t);
    let t = t.strip_suffix('b').unwrap_or(t);
    let (number, scale) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1e3),
        Some('m') => (&t[..t.len() - 1], 1e6),
        Some('g') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    let value: f64 = number.trim().parse().map_err(|_| {
        format!("'{s}' is not a rate (examples: 10mbit, 512kbit, 1gbit, unlimited)")
    })?;
    let bits = (value * scale).round();
    if !bits.is_finite() || bits < MIN_BANDWIDTH as f64 {
        return Err(format!(
            "'{s}' is too slow: the slowest link netdojo simulates is {} bit/s (or say unlimited)",
            crate::report::thousands(MIN_BANDWIDTH)
        ));
    }
    Ok(Some(bits as u64))
}

/// `--size`: from [`MIN_MESSAGE_SIZE`] to [`MAX_MESSAGE_SIZE`] bytes.
pub fn parse_message_size(s: &str) -> Result<usize, String> {
    let size: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of bytes"))?;
    if size < MIN_MESSAGE_SIZE {
        Err(format!(
            "{size} bytes is too small: every message starts with netdojo's {MIN_MESSAGE_SIZE}-byte numbered header"
        ))
    } else if size > MAX_MESSAGE_SIZE {
        Err(format!(
            "{size} bytes is too large: {} is the most one UDP datagram carries in one Ethernet frame (1,500 − 20 IPv4 − 8 UDP)",
            crate::report::thousands(MAX_MESSAGE_SIZE as u64)
        ))
    } else {
        Ok(size)
    }
}

/// `--seed`: any whole number from 0 to 2^64 − 1 (a seed is a name for a
/// roll of the dice, not a quantity, so every value is as good as another).
pub fn parse_seed(s: &str) -> Result<u64, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "'{s}' is not a seed: use a whole number from 0 to {} (for example 7)",
            crate::report::thousands(u64::MAX)
        )
    })
}

/// `--messages`: from 1 to [`MAX_MESSAGES`].
pub fn parse_messages(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of messages"))?;
    if n == 0 {
        Err("0 messages would compare nothing: send at least 1".into())
    } else if n > MAX_MESSAGES {
        Err(format!(
            "{} messages is more than the {} netdojo sends in one run",
            crate::report::thousands(n),
            crate::report::thousands(MAX_MESSAGES)
        ))
    } else {
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("10"), Ok(10.0));
        assert_eq!(parse_percent("2.5%"), Ok(2.5));
        assert_eq!(parse_percent("0"), Ok(0.0));
        assert_eq!(parse_percent("100"), Ok(100.0));
        assert!(parse_percent("101").is_err());
        assert!(parse_percent("-1").is_err());
        assert!(parse_percent("lots").is_err());
    }

    #[test]
    fn delays() {
        assert_eq!(parse_delay("20ms"), Ok(Duration::from_millis(20)));
        assert_eq!(parse_delay("0"), Ok(Duration::ZERO));
        assert!(parse_delay("-5ms").unwrap_err().contains("negative"));
        assert!(parse_delay("11s").is_err());
    }

    #[test]
    fn bandwidths() {
        assert_eq!(parse_bandwidth("10mbit"), Ok(Some(10_000_000)));
        assert_eq!(parse_bandwidth("10Mbit/s"), Ok(Some(10_000_000)));
        assert_eq!(parse_bandwidth("512kbit"), Ok(Some(512_000)));
        assert_eq!(parse_bandwidth("1gbps"), Ok(Some(1_000_000_000)));
        assert_eq!(parse_bandwidth("2000000"), Ok(Some(2_000_000)));
        assert_eq!(parse_bandwidth("unlimited"), Ok(None));
        assert!(parse_bandwidth("1bit").is_err());
        assert!(parse_bandwidth("fast").is_err());
    }

    #[test]
    fn seeds() {
        assert_eq!(parse_seed("0"), Ok(0));
        assert_eq!(parse_seed("18446744073709551615"), Ok(u64::MAX));
        for bad in ["-1", "18446744073709551616", "1.5", "seven"] {
            let e = parse_seed(bad).unwrap_err();
            assert!(e.contains("from 0 to 18,446,744,073,709,551,615"), "{e}");
        }
    }

    #[test]
    fn workload_limits() {
        assert!(parse_messages("0").is_err());
        assert_eq!(parse_messages("200"), Ok(200));
        assert!(parse_messages("100001").is_err());
        assert!(parse_message_size("19").is_err());
        assert_eq!(parse_message_size("1472"), Ok(1472));
        assert!(parse_message_size("1473").is_err());
    }
}
