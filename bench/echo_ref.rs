//! The plainest TCP echo server there is, as a yardstick for `bench/run.sh`:
//! a thread per client, blocking `read()` then `write_all()`, nothing else.
//! No runtime, no narration, no limits, so it is not something to serve
//! with, but what it reaches is what this machine's loopback lets any
//! read/write echo server reach: the part of a gap to iperf3 that no change
//! to netdojo's server could close.
//!
//! `--splice` echoes with `splice(2)` through a pipe instead (Linux only):
//! the bytes never enter user space, which shows what zero-copy would save.
//!
//! Like netdojo, it prints `{"event":"listening","addr":...}` first.
//!
//! ```text
//! cargo run --release --example echo_ref -- [--buffer BYTES] [--splice]
//! ```

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

/// Bytes per `read()`: the same as netdojo's `ECHO_BUFFER`.
const DEFAULT_BUFFER: usize = 64 * 1024;

fn main() {
    let mut buffer = DEFAULT_BUFFER;
    let mut splice = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--buffer" => {
                buffer = args
                    .next()
                    .and_then(|b| b.parse().ok())
                    .expect("--buffer BYTES")
            }
            "--splice" => splice = true,
            _ => {
                eprintln!("usage: echo_ref [--buffer BYTES] [--splice]");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    println!(
        "{{\"event\":\"listening\",\"addr\":\"{}\"}}",
        listener.local_addr().expect("local address")
    );
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        std::thread::spawn(move || {
            if splice {
                splice_echo(&stream);
            } else {
                let mut buf = vec![0u8; buffer];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
            let _ = stream.shutdown(Shutdown::Write);
        });
    }
}

/// Socket to pipe, pipe back to the socket: the kernel moves references to
/// its buffers instead of copying bytes out to user space and back.
#[cfg(target_os = "linux")]
fn splice_echo(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    const PIPE_BYTES: usize = 1 << 20;
    let fd = stream.as_raw_fd();
    let mut pipe = [0i32; 2];
    // SAFETY: plain system calls on descriptors this function owns (the
    // pipe) or borrows for its duration (the socket); no memory is shared.
    unsafe {
        if libc::pipe(pipe.as_mut_ptr()) != 0 {
            return;
        }
        libc::fcntl(pipe[1], libc::F_SETPIPE_SZ, PIPE_BYTES as libc::c_int);
        'echo: loop {
            let n = libc::splice(
                fd,
                std::ptr::null_mut(),
                pipe[1],
                std::ptr::null_mut(),
                PIPE_BYTES,
                libc::SPLICE_F_MOVE,
            );
            if n <= 0 {
                break;
            }
            let mut left = n as usize;
            while left > 0 {
                let m = libc::splice(
                    pipe[0],
                    std::ptr::null_mut(),
                    fd,
                    std::ptr::null_mut(),
                    left,
                    libc::SPLICE_F_MOVE,
                );
                if m <= 0 {
                    break 'echo;
                }
                left -= m as usize;
            }
        }
        libc::close(pipe[0]);
        libc::close(pipe[1]);
    }
}

#[cfg(not(target_os = "linux"))]
fn splice_echo(_stream: &TcpStream) {
    eprintln!("echo_ref: --splice needs Linux");
    std::process::exit(2);
}
