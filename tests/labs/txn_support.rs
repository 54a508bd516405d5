//! The shared fixture of the transaction suites (lab4b, lab4c): a
//! [`Server`] over a fresh `StandaloneStorage` in a temp dir, ways to lay
//! out lock, write and default records directly (as TinyKV's tests do),
//! to read them back, and to build the requests. Not a lab: it has no
//! tests of its own.

use std::sync::Arc;

use proto::kvrpcpb::{
    KeyError, KvBatchRollbackRequest, KvBatchRollbackResponse, KvCheckTxnStatusRequest,
    KvCheckTxnStatusResponse, KvCommitRequest, KvCommitResponse, KvGetRequest, KvGetResponse,
    KvPrewriteRequest, KvPrewriteResponse, KvResolveLockRequest, KvResolveLockResponse,
    KvScanRequest, KvScanResponse, Mutation, Op,
};
use protobuf::{EnumOrUnknown, MessageField};
use server::Server;
use storage::mvcc::{encode_key, encode_user_key, Lock, Write, WriteKind};
use storage::{Modify, StandaloneStorage, ALL_CFS, CF_DEFAULT, CF_LOCK, CF_WRITE};

/// Every record of the store: (column family, key, value), in order.
pub type Dump = Vec<(String, Vec<u8>, Vec<u8>)>;

/// A server over a standalone store in its own temp dir (removed on drop).
pub struct TxnFixture {
    pub server: Server,
    _dir: tempfile::TempDir,
}

impl TxnFixture {
    pub fn new() -> TxnFixture {
        let dir = tempfile::Builder::new()
            .prefix("tinykv-lab4-")
            .tempdir()
            .expect("create a temp dir");
        let storage = StandaloneStorage::open(dir.path()).expect("open the standalone store");
        TxnFixture {
            server: Server::new(Arc::new(storage)),
            _dir: dir,
        }
    }

    fn put(&self, cf: &str, key: Vec<u8>, value: Vec<u8>) {
        let modify = Modify::Put {
            cf: cf.to_string(),
            key,
            value,
        };
        self.server
            .storage()
            .write(&Default::default(), vec![modify])
            .expect("write through Storage");
    }

    // --- laying out records ---

    /// A value of the transaction `start_ts` in the default CF.
    pub fn value(&self, key: &[u8], start_ts: u64, value: &[u8]) {
        self.put(CF_DEFAULT, encode_key(key, start_ts), value.to_vec());
    }

    /// A write record at `commit_ts`.
    pub fn write_record(&self, key: &[u8], commit_ts: u64, kind: WriteKind, start_ts: u64) {
        let write = Write::new(kind, start_ts);
        self.put(CF_WRITE, encode_key(key, commit_ts), write.to_bytes());
    }

    /// A committed Put: the value at start_ts, its write record at commit_ts.
    pub fn committed_put(&self, key: &[u8], start_ts: u64, commit_ts: u64, value: &[u8]) {
        self.value(key, start_ts, value);
        self.write_record(key, commit_ts, WriteKind::Put, start_ts);
    }

    /// A rollback record of the transaction `start_ts` (at commit_ts = start_ts).
    pub fn rolled_back(&self, key: &[u8], start_ts: u64) {
        self.write_record(key, start_ts, WriteKind::Rollback, start_ts);
    }

    /// A lock on `key`.
    pub fn lock(&self, key: &[u8], primary: &[u8], start_ts: u64, ttl: u64, kind: WriteKind) {
        let lock = Lock::new(primary.to_vec(), start_ts, ttl, kind);
        self.put(CF_LOCK, encode_user_key(key), lock.to_bytes());
    }

    /// A prewritten Put: the value and a lock (TTL 0), as a prewrite leaves them.
    pub fn prewritten_put(&self, key: &[u8], primary: &[u8], start_ts: u64, value: &[u8]) {
        self.value(key, start_ts, value);
        self.lock(key, primary, start_ts, 0, WriteKind::Put);
    }

    /// Raw bytes under `key` in `cf` (for malformed records).
    pub fn raw(&self, cf: &str, key: Vec<u8>, value: Vec<u8>) {
        self.put(cf, key, value);
    }

    // --- reading records back ---

    fn get(&self, cf: &str, key: &[u8]) -> Option<Vec<u8>> {
        let reader = self
            .server
            .storage()
            .reader(&Default::default())
            .expect("take a reader");
        reader.get_cf(cf, key).expect("read a record")
    }

    /// The value of the transaction `start_ts` in the default CF.
    pub fn value_at(&self, key: &[u8], start_ts: u64) -> Option<Vec<u8>> {
        self.get(CF_DEFAULT, &encode_key(key, start_ts))
    }

    /// The write record at `commit_ts`.
    pub fn write_at(&self, key: &[u8], commit_ts: u64) -> Option<Write> {
        self.get(CF_WRITE, &encode_key(key, commit_ts))
            .map(|bytes| Write::parse(&bytes).expect("a well-formed write record"))
    }

    /// The lock on `key`.
    pub fn lock_on(&self, key: &[u8]) -> Option<Lock> {
        self.get(CF_LOCK, &encode_user_key(key))
            .map(|bytes| Lock::parse(&bytes).expect("a well-formed lock record"))
    }

    /// How many records the default, lock and write CFs hold (TinyKV's `assertLens`).
    pub fn lens(&self) -> [usize; 3] {
        let dump = self.dump();
        [CF_DEFAULT, CF_LOCK, CF_WRITE].map(|cf| dump.iter().filter(|(c, _, _)| c == cf).count())
    }

    /// Every record of the store, to check that a command changed nothing.
    pub fn dump(&self) -> Dump {
        let reader = self
            .server
            .storage()
            .reader(&Default::default())
            .expect("take a reader");
        let mut dump = Vec::new();
        for cf in ALL_CFS {
            let mut cursor = reader.iter_cf(cf).expect("iterate a CF");
            cursor.seek(&[]);
            while cursor.valid().expect("iterate a CF") {
                dump.push((
                    cf.to_string(),
                    cursor.key().to_vec(),
                    cursor.value().to_vec(),
                ));
                cursor.next();
            }
        }
        dump
    }

    // --- requests ---

    pub fn kv_get(&self, key: &[u8], version: u64) -> KvGetResponse {
        let mut request = KvGetRequest::new();
        request.key = key.to_vec();
        request.version = version;
        self.server.kv_get(&request)
    }

    pub fn kv_prewrite(
        &self,
        mutations: Vec<Mutation>,
        primary: &[u8],
        start_ts: u64,
        ttl: u64,
    ) -> KvPrewriteResponse {
        let mut request = KvPrewriteRequest::new();
        request.mutations = mutations;
        request.primary_lock = primary.to_vec();
        request.start_version = start_ts;
        request.lock_ttl = ttl;
        self.server.kv_prewrite(&request)
    }

    pub fn kv_commit(&self, keys: &[&[u8]], start_ts: u64, commit_ts: u64) -> KvCommitResponse {
        let mut request = KvCommitRequest::new();
        request.keys = keys.iter().map(|key| key.to_vec()).collect();
        request.start_version = start_ts;
        request.commit_version = commit_ts;
        self.server.kv_commit(&request)
    }

    pub fn kv_scan(&self, start_key: &[u8], limit: u32, version: u64) -> KvScanResponse {
        let mut request = KvScanRequest::new();
        request.start_key = start_key.to_vec();
        request.limit = limit;
        request.version = version;
        self.server.kv_scan(&request)
    }

    pub fn kv_check_txn_status(
        &self,
        primary: &[u8],
        lock_ts: u64,
        current_ts: u64,
    ) -> KvCheckTxnStatusResponse {
        let mut request = KvCheckTxnStatusRequest::new();
        request.primary_key = primary.to_vec();
        request.lock_ts = lock_ts;
        request.current_ts = current_ts;
        self.server.kv_check_txn_status(&request)
    }

    pub fn kv_batch_rollback(&self, keys: &[&[u8]], start_ts: u64) -> KvBatchRollbackResponse {
        let mut request = KvBatchRollbackRequest::new();
        request.keys = keys.iter().map(|key| key.to_vec()).collect();
        request.start_version = start_ts;
        self.server.kv_batch_rollback(&request)
    }

    pub fn kv_resolve_lock(&self, start_ts: u64, commit_ts: u64) -> KvResolveLockResponse {
        let mut request = KvResolveLockRequest::new();
        request.start_version = start_ts;
        request.commit_version = commit_ts;
        self.server.kv_resolve_lock(&request)
    }
}

/// A mutation of `key` by `op` (`value` matters for a Put only).
pub fn mutation(op: Op, key: &[u8], value: &[u8]) -> Mutation {
    let mut mutation = Mutation::new();
    mutation.op = EnumOrUnknown::new(op);
    mutation.key = key.to_vec();
    mutation.value = value.to_vec();
    mutation
}

/// Put `value` at `key`.
pub fn put(key: &[u8], value: &[u8]) -> Mutation {
    mutation(Op::Put, key, value)
}

/// Delete `key`.
pub fn del(key: &[u8]) -> Mutation {
    mutation(Op::Del, key, &[])
}

/// The key error, failing the test when there is none.
pub fn expect_error(error: &MessageField<KeyError>) -> &KeyError {
    error.as_ref().expect("a KeyError")
}

/// Fails the test when a response carries any error.
pub fn assert_no_error(
    region_error: &MessageField<proto::errorpb::Error>,
    error: &MessageField<KeyError>,
) {
    assert!(region_error.is_none(), "region error {region_error:?}");
    assert!(error.is_none(), "key error {error:?}");
}
