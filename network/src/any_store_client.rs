//! [`AnyStoreClient`]: the raw API against a handful of stores, without a
//! routing table: each request goes to one store after another until one
//! serves it (a store without the key's region answers with an error, a
//! follower with `NotLeader`), and the whole round repeats until a
//! deadline.
//!
//! For smoke tests and first steps with a new cluster, where "some store
//! will answer" is all a client knows; a real client routes by the
//! scheduler's regions and leaders. Runs on the tokio runtime.

use std::future::Future;
use std::time::{Duration, Instant};

use proto::kvrpcpb::{KvPair, RawGetRequest, RawPutRequest, RawScanRequest};

use crate::errors::{Error, Result};
use crate::tinykv_client::TinyKvClient;

/// The pause between two rounds over the stores.
const RETRY_INTERVAL: Duration = Duration::from_millis(50);

/// Clients of several stores, used as one (see the module docs).
#[derive(Clone, Debug)]
pub struct AnyStoreClient {
    stores: Vec<TinyKvClient>,
}

/// Why a response does not count as served: its region error or error
/// message, if it has one.
fn failure(region_error: Option<&proto::errorpb::Error>, error: &str) -> Option<String> {
    match region_error {
        Some(region_error) => Some(format!("region error: {}", region_error.message)),
        None if !error.is_empty() => Some(error.to_string()),
        None => None,
    }
}

impl AnyStoreClient {
    /// A client of the stores at `addresses`, each request waiting at most
    /// `timeout` per store. Must be called on the runtime.
    pub fn new(
        addresses: &[String],
        max_message_size: usize,
        timeout: Duration,
    ) -> Result<AnyStoreClient> {
        let stores = addresses
            .iter()
            .map(|address| {
                TinyKvClient::new(address, max_message_size)
                    .map(|client| client.with_timeout(timeout))
            })
            .collect::<Result<_>>()?;
        Ok(AnyStoreClient { stores })
    }

    /// Asks the stores in turn until `served` finds no failure in an
    /// answer, or `deadline` passes (then the last failure is the error).
    async fn first_served<Resp, Call, Fut>(
        &self,
        what: &str,
        deadline: Instant,
        call: Call,
        served: fn(&Resp) -> Option<String>,
    ) -> Result<Resp>
    where
        Call: Fn(TinyKvClient) -> Fut,
        Fut: Future<Output = Result<Resp>>,
    {
        let started = Instant::now();
        let mut last = String::from("no store asked");
        loop {
            for store in &self.stores {
                match call(store.clone()).await {
                    Ok(response) => match served(&response) {
                        None => return Ok(response),
                        Some(failure) => last = format!("{}: {failure}", store.address()),
                    },
                    Err(error) => last = format!("{}: {error}", store.address()),
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{what} (last answer: {last})"),
                    after: started.elapsed(),
                });
            }
            tokio::time::sleep(RETRY_INTERVAL).await;
        }
    }

    /// Sets `key` to `value`.
    pub async fn raw_put(&self, key: &[u8], value: &[u8], deadline: Instant) -> Result<()> {
        let mut request = RawPutRequest::new();
        request.key = key.to_vec();
        request.value = value.to_vec();
        self.first_served(
            &format!("RawPut {key:?}"),
            deadline,
            |store| {
                let request = request.clone();
                async move { store.raw_put(request).await }
            },
            |response| failure(response.region_error.as_ref(), &response.error),
        )
        .await
        .map(|_| ())
    }

    /// The value of `key`, or None.
    pub async fn raw_get(&self, key: &[u8], deadline: Instant) -> Result<Option<Vec<u8>>> {
        let mut request = RawGetRequest::new();
        request.key = key.to_vec();
        let response = self
            .first_served(
                &format!("RawGet {key:?}"),
                deadline,
                |store| {
                    let request = request.clone();
                    async move { store.raw_get(request).await }
                },
                |response| failure(response.region_error.as_ref(), &response.error),
            )
            .await?;
        Ok((!response.not_found).then_some(response.value))
    }

    /// Up to `limit` pairs of `[start_key, end_key)` (empty end: no bound).
    pub async fn raw_scan(
        &self,
        start_key: &[u8],
        end_key: &[u8],
        limit: u32,
        deadline: Instant,
    ) -> Result<Vec<KvPair>> {
        let mut request = RawScanRequest::new();
        request.start_key = start_key.to_vec();
        request.end_key = end_key.to_vec();
        request.limit = limit;
        let response = self
            .first_served(
                &format!("RawScan {start_key:?}..{end_key:?}"),
                deadline,
                |store| {
                    let request = request.clone();
                    async move { store.raw_scan(request).await }
                },
                |response| failure(response.region_error.as_ref(), &response.error),
            )
            .await?;
        Ok(response.kvs)
    }
}
