//! The raw commands of `tinykv ctl`: `get`, `put`, `delete`, `scan`.
//!
//! Hops: the scheduler's `GetRegion(key)` (region and leader) → the
//! leader's store `RawGet`/`RawPut`/`RawDelete`/`RawScan` with a context
//! for that region → on a region error (`NotLeader`, `EpochNotMatch`, ...)
//! the router learns and the command is tried again
//! ([`CtlClient::retry_routed`]). A scan goes region by region.

use proto::kvrpcpb::{RawDeleteRequest, RawGetRequest, RawPutRequest, RawScanRequest};
use serde_json::json;

use super::ctl_client::{text, CtlClient, Outcome, Output};
use super::ctl_error::CtlError;

/// What a raw response says: a region error to learn from, a store error
/// (`error`, non-empty), or `value`.
fn answered<T>(
    region_error: Option<proto::errorpb::Error>,
    error: String,
    value: T,
) -> Result<Outcome<T>, network::Error> {
    match region_error {
        Some(region_error) => Ok(Outcome::RegionError(region_error)),
        None if !error.is_empty() => Err(network::Error::InvalidResponse(error)),
        None => Ok(Outcome::Done(value)),
    }
}

impl CtlClient {
    /// `get KEY`: the value of a raw key.
    pub fn get(&self, key: &[u8]) -> Result<Output, CtlError> {
        let value = self.retry_routed(
            "get",
            |attempt| self.router().route_key(key, attempt),
            |route| {
                let mut request = RawGetRequest::new();
                request.context = Some(route.context()).into();
                request.key = key.to_vec();
                let response = self.block_on(route.store.tinykv.raw_get(request))?;
                let value = (!response.not_found).then_some(response.value);
                answered(response.region_error.into_option(), response.error, value)
            },
        )?;
        let human = match &value {
            Some(value) => text(value),
            None => format!("{}: not found", text(key)),
        };
        Ok(Output {
            json: json!({
                "key": text(key),
                "found": value.is_some(),
                "value": value.as_deref().map(text),
            }),
            human,
        })
    }

    /// `put KEY VALUE`: writes a raw key.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<Output, CtlError> {
        self.retry_routed(
            "put",
            |attempt| self.router().route_key(key, attempt),
            |route| {
                let mut request = RawPutRequest::new();
                request.context = Some(route.context()).into();
                request.key = key.to_vec();
                request.value = value.to_vec();
                let response = self.block_on(route.store.tinykv.raw_put(request))?;
                answered(response.region_error.into_option(), response.error, ())
            },
        )?;
        Ok(Output {
            json: json!({ "key": text(key), "value": text(value), "ok": true }),
            human: "OK".to_string(),
        })
    }

    /// `delete KEY`: deletes a raw key.
    pub fn delete(&self, key: &[u8]) -> Result<Output, CtlError> {
        self.retry_routed(
            "delete",
            |attempt| self.router().route_key(key, attempt),
            |route| {
                let mut request = RawDeleteRequest::new();
                request.context = Some(route.context()).into();
                request.key = key.to_vec();
                let response = self.block_on(route.store.tinykv.raw_delete(request))?;
                answered(response.region_error.into_option(), response.error, ())
            },
        )?;
        Ok(Output {
            json: json!({ "key": text(key), "ok": true }),
            human: "OK".to_string(),
        })
    }

    /// `scan START [END] [--limit N]`: the raw pairs in `[start, end)`
    /// (empty end: to the end), at most `limit`, region by region.
    pub fn scan(&self, start: &[u8], end: &[u8], limit: u32) -> Result<Output, CtlError> {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut cursor = start.to_vec();
        loop {
            let remaining = limit.saturating_sub(pairs.len() as u32);
            if remaining == 0 {
                break;
            }
            let (found, region_end) = self.retry_routed(
                "scan",
                |attempt| self.router().route_key(&cursor, attempt),
                |route| {
                    let region_end = route.region.end_key.clone();
                    let mut request = RawScanRequest::new();
                    request.context = Some(route.context()).into();
                    request.start_key = cursor.clone();
                    request.limit = remaining;
                    // Within this region: the next region is asked next.
                    request.end_key = match (region_end.is_empty(), end.is_empty()) {
                        (true, _) => end.to_vec(),
                        (false, true) => region_end.clone(),
                        (false, false) => region_end.clone().min(end.to_vec()),
                    };
                    let response = self.block_on(route.store.tinykv.raw_scan(request))?;
                    let found: Vec<(Vec<u8>, Vec<u8>)> = response
                        .kvs
                        .into_iter()
                        .map(|pair| (pair.key, pair.value))
                        .collect();
                    answered(
                        response.region_error.into_option(),
                        response.error,
                        (found, region_end),
                    )
                },
            )?;
            pairs.extend(found);
            let past_end = !end.is_empty() && region_end.as_slice() >= end;
            if region_end.is_empty() || past_end {
                break;
            }
            cursor = region_end;
        }
        let human = pairs
            .iter()
            .map(|(key, value)| format!("{} = {}", text(key), text(value)))
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Output {
            json: json!({
                "pairs": pairs
                    .iter()
                    .map(|(key, value)| json!({ "key": text(key), "value": text(value) }))
                    .collect::<Vec<_>>(),
            }),
            human: if human.is_empty() {
                "(no pairs)".to_string()
            } else {
                human
            },
        })
    }
}
