//! [`TinyKvTarget`]: raw puts against the stores of a tinykv cluster over
//! gRPC, sent to the store that served the last one.
//!
//! A client that knows no routing table: it starts at one store and, when a
//! store answers with a region error (not the leader, no such region) or
//! cannot be reached, moves on to the next and tries again until the
//! request's deadline. With one region all clients settle on its leader
//! after the first miss, which is what a routing client would do. Runs on
//! the caller's tokio runtime.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use network::{TinyKvClient, DEFAULT_MAX_MESSAGE_SIZE};
use proto::kvrpcpb::RawPutRequest;

/// How long one put may take, retries included.
const PUT_DEADLINE: Duration = Duration::from_secs(10);

/// Puts through whichever store serves (see the module docs).
#[derive(Clone)]
pub struct TinyKvTarget {
    stores: Arc<Vec<TinyKvClient>>,
    /// The store that served last: where the next request goes first.
    current: Arc<AtomicUsize>,
}

impl TinyKvTarget {
    /// Clients of the stores at `addresses`; must be called on the runtime.
    pub fn new(addresses: &[String]) -> network::Result<TinyKvTarget> {
        let stores = addresses
            .iter()
            .map(|address| TinyKvClient::new(address, DEFAULT_MAX_MESSAGE_SIZE))
            .collect::<network::Result<Vec<_>>>()?;
        Ok(TinyKvTarget {
            stores: Arc::new(stores),
            current: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Puts `key` = `value`, moving on to the next store until one serves.
    pub async fn put(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), String> {
        let mut request = RawPutRequest::new();
        request.key = key;
        request.value = value;
        let deadline = Instant::now() + PUT_DEADLINE;
        loop {
            let index = self.current.load(Ordering::Relaxed) % self.stores.len();
            let failure = match self.stores[index].raw_put(request.clone()).await {
                Ok(response) if response.region_error.is_none() && response.error.is_empty() => {
                    return Ok(())
                }
                Ok(response) if response.region_error.is_none() => response.error,
                Ok(response) => response.region_error.message.clone(),
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(failure);
            }
            // Move on from this store unless another client already did.
            let _ = self.current.compare_exchange(
                index,
                index + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}
