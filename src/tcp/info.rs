//! What the kernel knows about a TCP connection: Linux's `TCP_INFO`.
//!
//! The kernel measures every connection as it runs: the smoothed round-trip
//! time, the congestion window, the segment size, how many segments it had to
//! send again. netdojo reads it just before closing, so a student sees numbers
//! from the real TCP implementation, not from netdojo.

use std::io;

use serde_json::Value;

use crate::layer::Layer;
use crate::report::Observation;

/// A few of the kernel's measurements of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    /// The connection's state name (`ESTABLISHED`, `CLOSE_WAIT`, ...).
    pub state: &'static str,
    /// Smoothed round-trip time, microseconds.
    pub rtt_us: u32,
    /// Round-trip time variation, microseconds.
    pub rttvar_us: u32,
    /// Congestion window, in segments.
    pub cwnd_segments: u32,
    /// Largest segment this side sends, bytes.
    pub snd_mss: u32,
    /// Largest segment seen from the peer, bytes.
    pub rcv_mss: u32,
    /// Segments sent again over the connection's life.
    pub total_retrans: u32,
    /// Segments sent and received.
    pub segs_out: u32,
    pub segs_in: u32,
    /// Bytes the peer acknowledged, and bytes received.
    pub bytes_acked: u64,
    pub bytes_received: u64,
}

impl TcpInfo {
    /// The facts as observation fields.
    pub fn fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("state", self.state.into()),
            ("rtt_us", self.rtt_us.into()),
            ("rttvar_us", self.rttvar_us.into()),
            ("cwnd_segments", self.cwnd_segments.into()),
            ("snd_mss", self.snd_mss.into()),
            ("rcv_mss", self.rcv_mss.into()),
            ("total_retrans", self.total_retrans.into()),
            ("segs_out", self.segs_out.into()),
            ("segs_in", self.segs_in.into()),
            ("bytes_acked", self.bytes_acked.into()),
            ("bytes_received", self.bytes_received.into()),
        ]
    }
}

/// An observation of `TCP_INFO` for the connection `who` names, or a plain
/// statement that the system does not offer it.
pub fn observation(result: io::Result<TcpInfo>, who: &str) -> Observation {
    match result {
        Ok(info) => {
            let text = format!(
                "the kernel's TCP_INFO for {who}: state {} ({}), round trip {} µs (±{}), congestion window {} segments of up to {} bytes, {} retransmitted, {} segments out / {} in",
                info.state,
                state_meaning(info.state),
                info.rtt_us,
                info.rttvar_us,
                info.cwnd_segments,
                info.snd_mss,
                info.total_retrans,
                info.segs_out,
                info.segs_in,
            );
            let mut obs = Observation::new(Layer::Transport, "tcp_info", text);
            obs.fields.push(("who", who.into()));
            obs.fields.extend(info.fields());
            obs
        }
        Err(e) => Observation::new(
            Layer::Transport,
            "tcp_info_unavailable",
            format!("TCP_INFO for {who} is not available here: {e}"),
        )
        .field("who", who),
    }
}

/// What a TCP state means, in a few words.
pub fn state_meaning(state: &str) -> &'static str {
    match state {
        "ESTABLISHED" => "open both ways",
        "SYN_SENT" => "our SYN is out, waiting for SYN-ACK",
        "SYN_RECV" => "SYN received, our SYN-ACK is out",
        "FIN_WAIT1" => "we sent FIN, not yet acknowledged",
        "FIN_WAIT2" => "our FIN was acknowledged; the peer may still send",
        "TIME_WAIT" => "closed; lingering to absorb stray segments",
        "CLOSE" => "closed; the kernel keeps only a small TIME_WAIT record",
        "CLOSE_WAIT" => "the peer sent FIN; this side may still send",
        "LAST_ACK" => "both sent FIN; waiting for the last ACK",
        "LISTEN" => "waiting for connections",
        "CLOSING" => "both sent FIN at once",
        _ => "unknown",
    }
}

/// Reads `TCP_INFO` from a connected socket.
#[cfg(target_os = "linux")]
pub fn tcp_info(socket: &impl std::os::fd::AsRawFd) -> io::Result<TcpInfo> {
    // SAFETY: tcp_info is plain old data, so all-zero is a valid value; the
    // kernel writes at most `len` bytes into it and reports how many.
    let mut raw: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `raw`, which outlives the call.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut raw as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpInfo {
        state: state_name(raw.tcpi_state),
        rtt_us: raw.tcpi_rtt,
        rttvar_us: raw.tcpi_rttvar,
        cwnd_segments: raw.tcpi_snd_cwnd,
        snd_mss: raw.tcpi_snd_mss,
        rcv_mss: raw.tcpi_rcv_mss,
        total_retrans: raw.tcpi_total_retrans,
        segs_out: raw.tcpi_segs_out,
        segs_in: raw.tcpi_segs_in,
        bytes_acked: raw.tcpi_bytes_acked,
        bytes_received: raw.tcpi_bytes_received,
    })
}

/// Elsewhere: say plainly that it is not offered.
#[cfg(not(target_os = "linux"))]
pub fn tcp_info<T>(_socket: &T) -> io::Result<TcpInfo> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "TCP_INFO is a Linux socket option; this system does not offer it",
    ))
}

/// Linux's TCP states, as in `include/net/tcp_states.h`.
#[cfg(target_os = "linux")]
fn state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "UNKNOWN",
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_connection_has_kernel_measurements() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let info = tcp_info(&client).unwrap();
        assert_eq!(info.state, "ESTABLISHED");
        assert!(info.snd_mss > 0);
        assert!(info.cwnd_segments > 0);
    }
}
