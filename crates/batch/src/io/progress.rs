//! Progress bars on stderr (hidden when not a terminal, with `--quiet` or `--json`), and, when no
//! bar is drawn, heartbeat lines for long steps: a background thread logs the current step, its
//! counters and the elapsed time every few seconds, so `tune` and `evaluate` never go silent for
//! minutes in a pipeline or a CI log.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A bar of `len` steps labelled `what`, or a hidden one when `enabled` is false.
pub fn bar(enabled: bool, len: u64, what: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

static HEARTBEAT: AtomicBool = AtomicBool::new(false);

/// Seconds between two lines (the promise is "at least every 10 s").
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// Turn heartbeat lines on (the CLI does when it draws no progress bars and is not `--quiet`).
pub fn set_heartbeat(on: bool) {
    HEARTBEAT.store(on, Ordering::Relaxed);
}

#[derive(Debug, Default)]
struct Beat {
    step: String,
    done: u64,
    total: u64,
    best: Option<f64>,
}

/// A running heartbeat; dropping it stops the thread.
pub struct Heartbeat {
    beat: Arc<Mutex<Beat>>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// Start logging every [`HEARTBEAT_EVERY`] (no thread when heartbeats are off).
    pub fn start(what: &str) -> Self {
        let beat = Arc::new(Mutex::new(Beat { step: what.to_string(), ..Beat::default() }));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = HEARTBEAT.load(Ordering::Relaxed).then(|| {
            let (beat, stop) = (beat.clone(), stop.clone());
            let what = what.to_string();
            let started = Instant::now();
            std::thread::spawn(move || {
                let (lock, cv) = &*stop;
                let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let (s, timeout) = cv.wait_timeout(stopped, HEARTBEAT_EVERY).unwrap_or_else(|e| e.into_inner());
                    stopped = s;
                    if *stopped {
                        return;
                    }
                    if timeout.timed_out() {
                        let b = beat.lock().unwrap_or_else(|e| e.into_inner());
                        super::log::info(
                            &what,
                            serde_json::json!({"step": b.step, "done": b.done, "total": b.total,
                                "best_val_ndcg_at_10": b.best, "elapsed_s": started.elapsed().as_secs()}),
                        );
                    }
                }
            })
        });
        Self { beat, stop, thread }
    }

    /// Enter a step of `total` units.
    pub fn step(&self, name: &str, total: u64) {
        let mut b = self.beat.lock().unwrap_or_else(|e| e.into_inner());
        b.step = name.to_string();
        b.done = 0;
        b.total = total;
    }

    /// One more unit done; `best` is the best score so far, if any.
    pub fn inc(&self, best: Option<f64>) {
        let mut b = self.beat.lock().unwrap_or_else(|e| e.into_inner());
        b.done += 1;
        if best.is_some() {
            b.best = best;
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
