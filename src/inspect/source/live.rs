//! `--live IFACE`: frames as a network interface sends and receives them.
//!
//! On Linux, an `AF_PACKET` raw socket bound to the interface hands us every
//! frame with its link-layer header, straight from the kernel: no libpcap,
//! nothing to install, but the kernel asks for root or `CAP_NET_RAW`.
//! Elsewhere, live capture says plainly that it is not available.
//!
//! The socket waits at most [`POLL_INTERVAL`] per receive, so a stop request
//! ([`super::request_stop`]) ends the capture cleanly soon after, with what
//! was captured shown and written. Opened inside the async runtime (as
//! `netdojo inspect` does), a live source asks for that stop itself on Ctrl-C
//! or SIGTERM: a capture is the one source a user ends by hand.

use std::time::Duration;

use super::{FrameSource, SourceError};

/// How long one receive waits before checking for a stop request: short
/// enough that Ctrl-C feels immediate, long enough to cost nothing when idle.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Opens a live capture on the named interface.
pub fn open(iface: &str) -> Result<Box<dyn FrameSource>, SourceError> {
    #[cfg(target_os = "linux")]
    {
        let source = linux::LiveSource::open(iface)?;
        stop_on_signal();
        Ok(Box::new(source))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = iface;
        Err(SourceError::LiveUnsupported)
    }
}

/// On Ctrl-C or SIGTERM, [`super::request_stop`]: the capture then ends like
/// a file, and the view and `--write` finish properly. Needs the tokio
/// runtime (present in the binary, where sources run on a blocking thread);
/// without one, Ctrl-C keeps its default effect.
#[cfg(target_os = "linux")]
fn stop_on_signal() {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async {
            crate::app::shutdown_signal().await;
            super::request_stop();
        });
    }
}

/// The interfaces this machine has, by name, for an error message.
pub fn interface_names() -> String {
    match std::fs::read_dir("/sys/class/net") {
        Ok(entries) => {
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            if names.is_empty() {
                "none listed in /sys/class/net".into()
            } else {
                names.join(", ")
            }
        }
        Err(e) => format!("(cannot list /sys/class/net: {e})"),
    }
}

/// The error for a failed `socket(AF_PACKET)`: missing privilege is by far
/// the most common cause, and gets its own one-line advice.
pub fn socket_error(iface: &str, cause: std::io::Error) -> SourceError {
    match cause.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => SourceError::LivePermission {
            iface: iface.to_string(),
        },
        _ => SourceError::Live {
            iface: iface.to_string(),
            op: "socket(AF_PACKET)",
            cause,
        },
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::CString;
    use std::io;
    use std::mem;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::SystemTime;

    use super::{POLL_INTERVAL, interface_names, socket_error};
    use crate::inspect::model::{Frame, LinkType};
    use crate::inspect::source::{FrameSource, MAX_RECORD, SourceError, stop_requested};

    /// Bytes kept per frame. Loopback's MTU is 64 KiB and offloads can hand
    /// us a 64 KiB "super-frame"; [`MAX_RECORD`] covers any of them.
    const RECV_BUFFER: usize = MAX_RECORD;

    /// The kernel's queue for this socket: room for bursts while a slow view
    /// (the tree, on a terminal) catches up. Best effort: the kernel caps it.
    const SOCKET_BUFFER: libc::c_int = 4 << 20;

    /// From <linux/if_packet.h>: a frame this host sent.
    const PACKET_OUTGOING: u8 = 4;

    /// Hardware types (ARPHRD_*, <linux/if_arp.h>) we can read.
    const ARPHRD_ETHER: u16 = 1;
    const ARPHRD_LOOPBACK: u16 = 772;
    const ARPHRD_PPP: u16 = 512;
    const ARPHRD_RAWIP: u16 = 519;
    const ARPHRD_TUNNEL: u16 = 768;
    const ARPHRD_TUNNEL6: u16 = 769;
    const ARPHRD_SIT: u16 = 776;
    const ARPHRD_NONE: u16 = 0xfffe;

    pub struct LiveSource {
        fd: OwnedFd,
        iface: String,
        index: libc::c_int,
        link: LinkType,
        loopback: bool,
        buf: Box<[u8]>,
        number: u64,
    }

    impl LiveSource {
        pub fn open(iface: &str) -> Result<LiveSource, SourceError> {
            let unknown = || SourceError::UnknownInterface {
                iface: iface.to_string(),
                available: interface_names(),
            };
            let name = CString::new(iface).map_err(|_| unknown())?;
            // SAFETY: `name` is a valid NUL-terminated string for the call.
            let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
            if index == 0 {
                return Err(unknown());
            }
            let index = index as libc::c_int;
            let hardware = std::fs::read_to_string(format!("/sys/class/net/{iface}/type"))
                .ok()
                .and_then(|t| t.trim().parse::<u16>().ok())
                .unwrap_or(ARPHRD_ETHER);
            let link = match hardware {
                ARPHRD_ETHER | ARPHRD_LOOPBACK => LinkType::Ethernet,
                ARPHRD_NONE | ARPHRD_RAWIP | ARPHRD_PPP | ARPHRD_TUNNEL | ARPHRD_TUNNEL6
                | ARPHRD_SIT => LinkType::RawIp,
                other => {
                    return Err(SourceError::Live {
                        iface: iface.to_string(),
                        op: "reading its link type",
                        cause: io::Error::other(format!(
                            "hardware type {other} (from /sys/class/net/{iface}/type) is not \
                             one netdojo reads; Ethernet, loopback and raw-IP interfaces are"
                        )),
                    });
                }
            };

            // Protocol 0 at creation: the socket receives nothing until it is
            // bound, so no frame from another interface slips in before bind.
            // SAFETY: plain socket(2) call; the result is checked.
            let raw =
                unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
            if raw < 0 {
                return Err(socket_error(iface, io::Error::last_os_error()));
            }
            // SAFETY: `raw` is a socket we just opened and own.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let fail = |op: &'static str| SourceError::Live {
                iface: iface.to_string(),
                op,
                cause: io::Error::last_os_error(),
            };

            // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
            let mut address: libc::sockaddr_ll = unsafe { mem::zeroed() };
            address.sll_family = libc::AF_PACKET as libc::c_ushort;
            // ETH_P_ALL in network byte order: every protocol.
            address.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
            address.sll_ifindex = index;
            // SAFETY: `address` is a valid sockaddr_ll and its size is passed.
            let bound = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&raw const address).cast::<libc::sockaddr>(),
                    mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if bound < 0 {
                return Err(fail("bind"));
            }

            let timeout = libc::timeval {
                tv_sec: POLL_INTERVAL.as_secs() as libc::time_t,
                tv_usec: POLL_INTERVAL.subsec_micros() as libc::suseconds_t,
            };
            set_option(&fd, libc::SO_RCVTIMEO, &timeout)
                .map_err(|_| fail("setsockopt(SO_RCVTIMEO)"))?;
            // Best effort: a smaller buffer only means drops under a burst.
            let _ = set_option(&fd, libc::SO_RCVBUF, &SOCKET_BUFFER);

            Ok(LiveSource {
                fd,
                iface: iface.to_string(),
                index,
                link,
                loopback: hardware == ARPHRD_LOOPBACK,
                buf: vec![0; RECV_BUFFER].into_boxed_slice(),
                number: 0,
            })
        }

        fn receive(&mut self) -> Result<Option<Frame>, SourceError> {
            loop {
                if stop_requested() {
                    return Ok(None);
                }
                // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
                let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
                let mut from_len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                // MSG_TRUNC: return the frame's real length even when it is
                // longer than the buffer, so a cut frame says so.
                // SAFETY: the buffer and address pointers are valid for the
                // lengths passed, and live for the call.
                let n = unsafe {
                    libc::recvfrom(
                        self.fd.as_raw_fd(),
                        self.buf.as_mut_ptr().cast(),
                        self.buf.len(),
                        libc::MSG_TRUNC,
                        (&raw mut from).cast::<libc::sockaddr>(),
                        &mut from_len,
                    )
                };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        // The poll interval passed, or a signal (Ctrl-C)
                        // arrived: check for a stop request and wait again.
                        io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted => continue,
                        _ => {
                            return Err(SourceError::Live {
                                iface: self.iface.clone(),
                                op: "recvfrom",
                                cause: e,
                            });
                        }
                    }
                }
                if from.sll_ifindex != self.index {
                    continue;
                }
                // On loopback every frame is seen twice, going out and coming
                // in; keep one, as tcpdump does.
                if self.loopback && from.sll_pkttype == PACKET_OUTGOING {
                    continue;
                }
                let wire_len = n as usize;
                let data = self
                    .buf
                    .get(..wire_len.min(self.buf.len()))
                    .unwrap_or_default()
                    .to_vec();
                self.number += 1;
                return Ok(Some(Frame {
                    number: self.number,
                    timestamp: SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .ok(),
                    link: self.link,
                    original_len: wire_len.max(data.len()),
                    data,
                    comments: Vec::new(),
                }));
            }
        }
    }

    fn set_option<T>(fd: &OwnedFd, option: libc::c_int, value: &T) -> io::Result<()> {
        // SAFETY: `value` points to a live T whose size is passed.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (value as *const T).cast(),
                mem::size_of::<T>() as libc::socklen_t,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    impl FrameSource for LiveSource {
        fn next_frame(&mut self) -> Option<Result<Frame, SourceError>> {
            self.receive().transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_privilege_is_one_line_of_advice() {
        let e = socket_error("lo", std::io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(
            e.to_string(),
            "live capture needs root or CAP_NET_RAW (EPERM from socket(AF_PACKET)); \
             try: sudo netdojo inspect --live lo"
        );
        let e = socket_error("lo", std::io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
        assert!(
            e.to_string()
                .starts_with("live capture on lo: socket(AF_PACKET) failed"),
            "{e}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_unknown_interface_lists_the_real_ones() {
        let e = open("no-such-if0").err().expect("an error");
        let text = e.to_string();
        assert!(
            text.starts_with("no network interface named \"no-such-if0\"; this machine has: "),
            "{text}"
        );
        assert!(text.contains("lo"), "{text}");
    }
}
