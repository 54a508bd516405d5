//! Captures the call-chain log lines (`tinykv::chain`) so a test can check
//! the order in which a flow's hops happened.
//!
//! [`init`] installs a logger for the whole test process (once): it records
//! chain lines while a capture is active and passes every record on to
//! `env_logger` (so `RUST_LOG` works as usual). [`Capture`] serializes the
//! tests that capture: the buffer is process-wide, so only one may capture
//! at a time, and such tests live in their own test binary where no other
//! cluster runs beside them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

static CAPTURING: AtomicBool = AtomicBool::new(false);
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static CAPTURE_LOCK: Mutex<()> = Mutex::new(());
static INIT: Once = Once::new();

struct CapturingLogger {
    inner: env_logger::Logger,
}

impl log::Log for CapturingLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        (metadata.target() == raftstore::chain::CHAIN_TARGET && CAPTURING.load(Ordering::Relaxed))
            || self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if record.target() == raftstore::chain::CHAIN_TARGET && CAPTURING.load(Ordering::Relaxed) {
            LINES
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(record.args().to_string());
        }
        if self.inner.enabled(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs the capturing logger (no-op if a logger is already installed).
pub fn init() {
    INIT.call_once(|| {
        let inner =
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
                .is_test(true)
                .build();
        let max_level = inner.filter().max(log::LevelFilter::Info);
        if log::set_boxed_logger(Box::new(CapturingLogger { inner })).is_ok() {
            log::set_max_level(max_level);
        }
    });
}

/// An active capture; chain lines are recorded until it is dropped.
pub struct Capture {
    _exclusive: MutexGuard<'static, ()>,
}

impl Capture {
    /// Starts capturing (waits for any other capture to end first).
    pub fn start() -> Capture {
        init();
        let exclusive = CAPTURE_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        LINES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        CAPTURING.store(true, Ordering::Relaxed);
        Capture {
            _exclusive: exclusive,
        }
    }

    /// The chain lines captured so far, in order.
    pub fn lines(&self) -> Vec<String> {
        LINES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Waits until a captured line satisfies `condition` and returns it;
    /// `None` if none did within `timeout`. Tests use it to wait for the
    /// very hop they assert on, since a hop's effect (data visible on a
    /// follower) can be observable before the hop's own line is logged.
    pub fn wait_for_line(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = LINES
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .iter()
                .find(|line| condition(line))
                .cloned();
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURING.store(false, Ordering::Relaxed);
    }
}

/// The function named by a chain line (`[chain] Function::name region=...`).
pub fn function_of(line: &str) -> Option<&str> {
    line.strip_prefix("[chain] ")?.split_whitespace().next()
}

/// The `index=N` of a chain line.
pub fn index_of(line: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix("index="))
        .and_then(|index| index.parse().ok())
}
