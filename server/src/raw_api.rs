//! The raw key-value API (lab 1): RawGet, RawPut, RawDelete and RawScan.
//!
//! Each handler validates the request, calls the [`storage::Storage`]
//! trait, and packs the outcome into the response:
//!
//! ```text
//! client ──RawPutRequest──▶ Server::raw_put ──Storage::write([Modify::Put])──▶ storage
//! client ◀─RawPutResponse── (error / region_error filled on failure)
//! ```
//!
//! Validation rules (the lab 1 suite checks each):
//! * an empty column family name means `default`; any other name must be
//!   one of `default`, `lock`, `write`;
//! * keys must not be empty (an empty key cannot be told apart from "no
//!   key" in a scan's bounds);
//! * a scan with `limit` 0 returns nothing; a limit above
//!   [`MAX_SCAN_LIMIT`] is clamped to it;
//! * a scan whose non-empty `end_key` is not after `start_key` is rejected.

use proto::errorpb;
use proto::kvrpcpb::{
    Context, KvPair, RawDeleteRequest, RawDeleteResponse, RawGetRequest, RawGetResponse,
    RawPutRequest, RawPutResponse, RawScanRequest, RawScanResponse,
};
use protobuf::MessageField;
use storage::{Error, Modify, ALL_CFS, CF_DEFAULT};

use crate::server::Server;

/// The most pairs one RawScan returns, whatever its limit says: a bound on
/// the memory one request can make the server hold.
pub const MAX_SCAN_LIMIT: u32 = 10_240;

/// Resolves the request's column family: empty means `default`.
fn column_family(cf: &str) -> Result<&str, Error> {
    if cf.is_empty() {
        return Ok(CF_DEFAULT);
    }
    if ALL_CFS.contains(&cf) {
        Ok(cf)
    } else {
        Err(Error::UnknownColumnFamily(cf.to_string()))
    }
}

fn non_empty_key(key: &[u8]) -> Result<(), Error> {
    if key.is_empty() {
        Err(Error::InvalidRequest("key must not be empty".to_string()))
    } else {
        Ok(())
    }
}

/// Splits a storage error into the response's two error fields: region
/// errors go to `region_error` (the client retries elsewhere), everything
/// else is a message for the user.
fn split_error(error: Error) -> (MessageField<errorpb::Error>, String) {
    match error {
        Error::Region(region_error) => {
            let message = region_error.message.clone();
            (MessageField::some(*region_error), message)
        }
        other => (MessageField::none(), other.to_string()),
    }
}

impl Server {
    // lab 1: begin — validate, call the storage, put errors in the response: never panic, never Err (docs/labs/lab1.md#raw-api)
    /// RawGet: the value of one key, or `not_found`.
    pub fn raw_get(&self, request: &RawGetRequest) -> RawGetResponse {
        let mut response = RawGetResponse::new();
        let result = column_family(&request.cf).and_then(|cf| {
            non_empty_key(&request.key)?;
            let reader = self.storage().reader(request.context.get_or_default())?;
            reader.get_cf(cf, &request.key)
        });
        match result {
            Ok(Some(value)) => response.value = value,
            Ok(None) => response.not_found = true,
            Err(error) => (response.region_error, response.error) = split_error(error),
        }
        response
    }

    /// RawPut: sets one key.
    pub fn raw_put(&self, request: &RawPutRequest) -> RawPutResponse {
        let mut response = RawPutResponse::new();
        let context = request.context.get_or_default();
        let value = Some(request.value.as_slice());
        if let Err(error) = self.write_one(context, &request.cf, &request.key, value) {
            (response.region_error, response.error) = split_error(error);
        }
        response
    }

    /// RawDelete: removes one key (deleting a missing key is not an error).
    pub fn raw_delete(&self, request: &RawDeleteRequest) -> RawDeleteResponse {
        let mut response = RawDeleteResponse::new();
        let context = request.context.get_or_default();
        if let Err(error) = self.write_one(context, &request.cf, &request.key, None) {
            (response.region_error, response.error) = split_error(error);
        }
        response
    }

    /// Validates and writes one change: a Put of `value`, or a Delete when
    /// `value` is None. The common part of RawPut and RawDelete.
    fn write_one(
        &self,
        context: &Context,
        cf: &str,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), Error> {
        let cf = column_family(cf)?.to_string();
        non_empty_key(key)?;
        let key = key.to_vec();
        let modify = match value {
            Some(value) => Modify::Put {
                cf,
                key,
                value: value.to_vec(),
            },
            None => Modify::Delete { cf, key },
        };
        self.storage().write(context, vec![modify])
    }
    // lab 1: end

    // lab 1: begin — seek to start_key, stop at end_key or after limit pairs (docs/labs/lab1.md#raw-api)
    /// RawScan: up to `limit` pairs from `start_key` on, in key order,
    /// stopping before `end_key` when it is set.
    pub fn raw_scan(&self, request: &RawScanRequest) -> RawScanResponse {
        let mut response = RawScanResponse::new();
        match self.scan(request) {
            Ok(pairs) => response.kvs = pairs,
            Err(error) => (response.region_error, response.error) = split_error(error),
        }
        response
    }

    fn scan(&self, request: &RawScanRequest) -> Result<Vec<KvPair>, Error> {
        let cf = column_family(&request.cf)?;
        if !request.end_key.is_empty() && request.end_key <= request.start_key {
            return Err(Error::InvalidRequest(format!(
                "scan start key {:?} is not before end key {:?}",
                String::from_utf8_lossy(&request.start_key),
                String::from_utf8_lossy(&request.end_key)
            )));
        }
        let limit = request.limit.min(MAX_SCAN_LIMIT) as usize;
        let mut pairs = Vec::new();
        if limit == 0 {
            return Ok(pairs);
        }
        let reader = self.storage().reader(request.context.get_or_default())?;
        let mut iterator = reader.iter_cf(cf)?;
        iterator.seek(&request.start_key);
        while pairs.len() < limit && iterator.valid()? {
            if !request.end_key.is_empty() && iterator.key() >= request.end_key.as_slice() {
                break;
            }
            let mut pair = KvPair::new();
            pair.key = iterator.key().to_vec();
            pair.value = iterator.value().to_vec();
            pairs.push(pair);
            iterator.next();
        }
        Ok(pairs)
    }
    // lab 1: end

    /// RawPut for an async caller (the gRPC service): on a raft store the
    /// write is awaited, so a request in flight holds no thread; otherwise
    /// (a standalone store never waits) it is [`Server::raw_put`].
    pub async fn raw_put_async(&self, request: RawPutRequest) -> RawPutResponse {
        let mut response = RawPutResponse::new();
        let value = Some(request.value);
        if let Err(error) = self
            .write_one_async(request.context, &request.cf, request.key, value)
            .await
        {
            (response.region_error, response.error) = split_error(error);
        }
        response
    }

    /// RawDelete for an async caller; see [`Server::raw_put_async`].
    pub async fn raw_delete_async(&self, request: RawDeleteRequest) -> RawDeleteResponse {
        let mut response = RawDeleteResponse::new();
        if let Err(error) = self
            .write_one_async(request.context, &request.cf, request.key, None)
            .await
        {
            (response.region_error, response.error) = split_error(error);
        }
        response
    }

    /// Validates and writes one change, awaiting raft when the storage is a
    /// `RaftStorage` (the same checks as the handlers' `write_one`).
    async fn write_one_async(
        &self,
        context: MessageField<Context>,
        cf: &str,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) -> Result<(), Error> {
        let cf = column_family(cf)?.to_string();
        non_empty_key(&key)?;
        let modify = match value {
            Some(value) => Modify::Put { cf, key, value },
            None => Modify::Delete { cf, key },
        };
        let context = context.unwrap_or_default();
        match self.raft_storage() {
            Some(raft_storage) => raft_storage.write_async(context, vec![modify]).await,
            None => self.storage().write(&context, vec![modify]),
        }
    }
}
