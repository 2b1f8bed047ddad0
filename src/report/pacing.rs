//! `--pace` and `--step`: slowing a demo down so an instructor can narrate it.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long to wait after each narrated step.
#[derive(Clone, Debug)]
pub struct Pacing {
    pace: Duration,
    step: bool,
    /// Set when stdin ends: there is nobody left to press Enter.
    stdin_closed: Arc<AtomicBool>,
}

impl Pacing {
    /// No pauses at all.
    pub fn none() -> Self {
        Pacing::new(Duration::ZERO, false)
    }

    /// Pause `pace` after each step, or wait for Enter if `step` is set.
    pub fn new(pace: Duration, step: bool) -> Self {
        Pacing {
            pace,
            step,
            stdin_closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Pauses the calling task (not the whole program) as configured.
    ///
    /// The demo being narrated waits here, which is the point: the audience
    /// sees each step before the next one happens.
    pub fn pause(&self) {
        let wait_for_enter = self.step && !self.stdin_closed.load(Ordering::Relaxed);
        if !wait_for_enter && self.pace.is_zero() {
            return;
        }
        let work = || {
            if wait_for_enter {
                let mut line = String::new();
                match std::io::stdin().lock().read_line(&mut line) {
                    Ok(0) | Err(_) => self.stdin_closed.store(true, Ordering::Relaxed),
                    Ok(_) => {}
                }
            } else {
                std::thread::sleep(self.pace);
            }
        };
        block_outside_the_runtime(work);
    }
}

/// Runs blocking work without stalling other tasks on a multi-threaded tokio
/// runtime; elsewhere it simply runs it.
fn block_outside_the_runtime(work: impl FnOnce()) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
