//! KvScan (lab 4C): up to `limit` pairs from `start_key` on, as of
//! `version`, in key order.
//!
//! ```text
//! client ──KvScanRequest{start_key, limit, version}──▶ Server::kv_scan ──reader──▶
//!   Scanner (write CF: the visible pairs)  ┐ merged in key order,
//!   lock CF cursor (locks started <= version) ┘ `limit` entries in all:
//!     a pair without a lock          ─▶ KvPair { key, value }
//!     a key with such a lock         ─▶ KvPair { key, error: KeyError.locked }
//! ```
//!
//! The locks are read from the lock column family itself, not only for the
//! keys the scanner yields: a key whose first version is still being
//! prewritten has no visible pair, yet its transaction may commit before
//! `version`, and leaving it out would be a wrong answer rather than a
//! blocked one. A lock that started after `version` commits after it and
//! changes nothing for this read. A scan stops at the end of the region
//! (the reader's iterators do); the client goes on in the next region. No
//! latches: one snapshot, no writes. Caller's thread.

use proto::kvrpcpb::{KvPair, KvScanRequest, KvScanResponse};
use protobuf::MessageField;
use storage::mvcc::{decode_user_key_without_ts, encode_user_key, Lock, Scanner};
use storage::{KvIterator, StorageReader, CF_LOCK};

use super::{locked, CommandResult};
use crate::raw_api::MAX_SCAN_LIMIT;
use crate::server::Server;

impl Server {
    /// KvScan: up to `limit` (at most [`crate::MAX_SCAN_LIMIT`]) entries
    /// from `start_key` on as of `version`; a key locked by a transaction
    /// that started at or before `version` is an entry carrying
    /// `KeyError.locked`. A failure of the whole scan leaves `pairs` empty.
    pub fn kv_scan(&self, request: &KvScanRequest) -> KvScanResponse {
        let mut response = KvScanResponse::new();
        match scan(self, request) {
            Ok(pairs) => response.pairs = pairs,
            Err(error) => (response.region_error, response.error) = error.into_fields(),
        }
        response
    }
}

/// The locks of the lock column family from a start key on that block a
/// read at `version`, in key order.
struct BlockingLocks<'a> {
    cursor: Box<dyn KvIterator + 'a>,
    version: u64,
}

impl<'a> BlockingLocks<'a> {
    fn new(reader: &'a dyn StorageReader, start_key: &[u8], version: u64) -> CommandResult<Self> {
        let mut cursor = reader.iter_cf(CF_LOCK)?;
        cursor.seek(&encode_user_key(start_key));
        Ok(BlockingLocks { cursor, version })
    }

    /// The next lock started at or before `version`, with its user key.
    fn next(&mut self) -> CommandResult<Option<(Vec<u8>, Lock)>> {
        while self.cursor.valid()? {
            let key = decode_user_key_without_ts(self.cursor.key())?;
            let lock = Lock::parse(self.cursor.value())?;
            self.cursor.next();
            if lock.start_ts <= self.version {
                return Ok(Some((key, lock)));
            }
        }
        Ok(None)
    }
}

// lab 4C: begin — merge the visible pairs with the locks started <= version, `limit` entries (docs/labs/lab4c.md#scan)
/// The entries of the scan: pairs, and locked keys as errors.
fn scan(server: &Server, request: &KvScanRequest) -> CommandResult<Vec<KvPair>> {
    let limit = request.limit.min(MAX_SCAN_LIMIT) as usize;
    let mut entries = Vec::new();
    if limit == 0 {
        return Ok(entries);
    }
    let reader = server.storage().reader(request.context.get_or_default())?;
    let mut pairs = Scanner::new(&*reader, &request.start_key, request.version)?;
    let mut locks = BlockingLocks::new(&*reader, &request.start_key, request.version)?;
    let mut next_pair = pairs.next().transpose()?;
    let mut next_lock = locks.next()?;
    while entries.len() < limit {
        // A lock goes first when its key comes first or is the pair's own
        // key: then the key's value at `version` is not known.
        let lock_first = match (&next_pair, &next_lock) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some((pair_key, _)), Some((lock_key, _))) => lock_key <= pair_key,
        };
        let mut entry = KvPair::new();
        match (lock_first, next_lock.take(), next_pair.take()) {
            (true, Some((lock_key, lock)), pair) => {
                next_pair = match pair {
                    Some((pair_key, _)) if pair_key == lock_key => pairs.next().transpose()?,
                    other => other,
                };
                next_lock = locks.next()?;
                entry.error = MessageField::some(locked(&lock, &lock_key));
                entry.key = lock_key;
            }
            (_, lock, Some((key, value))) => {
                next_lock = lock;
                next_pair = pairs.next().transpose()?;
                entry.key = key;
                entry.value = value;
            }
            (_, _, None) => break,
        }
        entries.push(entry);
    }
    Ok(entries)
}
// lab 4C: end
