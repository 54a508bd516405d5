//! [`CtlClient`]: a connection to a running cluster for `tinykv ctl` — the
//! scheduler, the stores it names, the runtime their calls run on — and
//! the retry loop every routed command shares ([`CtlClient::retry_routed`]).
//!
//! Runs on the caller's thread (the ctl's main thread, or a test's); every
//! call blocks on the client's own tokio runtime. The commands themselves
//! are `impl CtlClient` blocks in the files next to this one, one function
//! per command, each returning an [`Output`]: what `--json` prints, and the
//! human line(s) printed otherwise.

use std::time::{Duration, Instant};

use network::{RemoteScheduler, DEFAULT_MAX_MESSAGE_SIZE};
use proto::debugpb::ErrorType as DebugErrorType;
use proto::errorpb;
use serde_json::Value;

use super::ctl_error::CtlError;
use super::region_router::{RegionRouter, Route};

/// How long a command keeps retrying (leaders move, stores restart).
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(20);

/// The pause between two tries of a routed command.
const RETRY_INTERVAL: Duration = Duration::from_millis(50);

/// What a command prints: `json` with `--json`, `human` otherwise.
#[derive(Debug, Clone)]
pub struct Output {
    /// The machine-readable answer.
    pub json: Value,
    /// The same for a person.
    pub human: String,
}

/// What one try of a routed call gave.
pub enum Outcome<T> {
    /// The answer.
    Done(T),
    /// A region error in the response: learn from it, try again.
    RegionError(errorpb::Error),
}

/// See the module docs.
pub struct CtlClient {
    // Dropped last: the router's clients hold tasks on it.
    router: RegionRouter,
    runtime: tokio::runtime::Runtime,
    deadline: Duration,
}

impl CtlClient {
    /// A client of the cluster whose scheduler is at `scheduler_address`.
    /// Nothing is contacted until the first command.
    pub fn new(scheduler_address: &str) -> Result<CtlClient, CtlError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ctl-grpc")
            .enable_all()
            .build()
            .map_err(|error| CtlError::Runtime(error.to_string()))?;
        let scheduler = RemoteScheduler::new(
            runtime.handle().clone(),
            scheduler_address,
            DEFAULT_MAX_MESSAGE_SIZE,
        )?;
        Ok(CtlClient {
            router: RegionRouter::new(runtime.handle().clone(), scheduler),
            runtime,
            deadline: COMMAND_DEADLINE,
        })
    }

    /// The same client with another per-command deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> CtlClient {
        self.deadline = deadline;
        self
    }

    /// The router (scheduler client, store clients, leader hints).
    pub fn router(&self) -> &RegionRouter {
        &self.router
    }

    /// The scheduler client.
    pub fn scheduler(&self) -> &RemoteScheduler {
        self.router.scheduler()
    }

    /// Runs `future` on the client's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The per-command deadline, from now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.deadline
    }

    /// Tries `call` on the route `route` gives for try 1, 2, ... until it
    /// answers or the deadline passes. Region errors teach the router the
    /// leader; a store that fails on the wire is forgotten; a store's
    /// `NOT_LEADER` names the leader; `REGION_NOT_FOUND` (the scheduler is
    /// behind) and `BUSY` are tried again elsewhere. Any other refusal
    /// (an invalid argument) ends the command at once.
    pub fn retry_routed<T>(
        &self,
        what: &str,
        route: impl Fn(usize) -> Result<Route, CtlError>,
        mut call: impl FnMut(&Route) -> Result<Outcome<T>, network::Error>,
    ) -> Result<T, CtlError> {
        let started = Instant::now();
        let deadline = started + self.deadline;
        let mut last_error = String::from("no try made");
        for attempt in 1.. {
            if Instant::now() > deadline {
                break;
            }
            match route(attempt) {
                Ok(route) => match call(&route) {
                    Ok(Outcome::Done(answer)) => return Ok(answer),
                    Ok(Outcome::RegionError(error)) => {
                        self.router.learn(route.region.id, &error);
                        last_error = format!("store {}: {}", route.peer.store_id, error.message);
                    }
                    Err(network::Error::Debug {
                        error_type,
                        message,
                        leader,
                    }) => match error_type {
                        DebugErrorType::NOT_LEADER => {
                            self.router.learn_leader(route.region.id, leader);
                            last_error = message;
                        }
                        DebugErrorType::REGION_NOT_FOUND
                        | DebugErrorType::BUSY
                        | DebugErrorType::TIMEOUT => {
                            self.router.learn_leader(route.region.id, None);
                            last_error = message;
                        }
                        _ => {
                            return Err(CtlError::Network(network::Error::Debug {
                                error_type,
                                message,
                                leader,
                            }))
                        }
                    },
                    Err(error) => {
                        self.router.store_failed(route.peer.store_id);
                        last_error = format!("store {}: {error}", route.peer.store_id);
                    }
                },
                // The scheduler has no such region or key: final.
                Err(error @ (CtlError::RegionNotFound(_) | CtlError::NoRegion(_))) => {
                    return Err(error)
                }
                Err(error) => last_error = error.to_string(),
            }
            std::thread::sleep(RETRY_INTERVAL);
        }
        Err(CtlError::GaveUp {
            what: what.to_string(),
            after: started.elapsed(),
            last_error,
        })
    }
}

/// Bytes as text for output (keys and values are shown as UTF-8, lossily).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
