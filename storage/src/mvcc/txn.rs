//! [`MvccTxn`]: one transaction's view of the three column families, and
//! the buffer of its writes.
//!
//! The transaction commands of labs 4B/4C (prewrite, commit, rollback,
//! ...) each build an `MvccTxn` over a [`StorageReader`] taken for the
//! command, read what they need (`get_lock`, `get_value`, `current_write`,
//! `most_recent_write`), stage their changes (`put_lock`, `put_value`,
//! `put_write`, ...) and hand [`MvccTxn::into_modifies`] to
//! [`crate::Storage::write`] as one batch: on the replicated store that is
//! one raft command, so a command's changes land all together or not at
//! all. Runs on the caller's thread; it holds no locks of its own (the
//! latches of lab 4B keep two commands off the same keys).
//!
//! Reads see the reader's snapshot only, never the writes staged in this
//! transaction: a command reads first, then writes.
//!
//! | column family | key | value |
//! |---|---|---|
//! | lock | `encode_user_key(user_key)` | [`Lock`] |
//! | default | `encode_key(user_key, start_ts)` | the value a Put wrote |
//! | write | `encode_key(user_key, commit_ts)` | [`Write`] (kind, start_ts) |

use crate::engine::{CF_DEFAULT, CF_LOCK, CF_WRITE};
use crate::errors::Result;
use crate::kv_storage::Modify;
use crate::reader::StorageReader;

use super::errors::Error;
use super::key::{decode_key, encode_key, encode_user_key, TS_MAX};
use super::lock::Lock;
use super::write::{Write, WriteKind};

/// A transaction at `start_ts`: reads through a snapshot, buffers writes.
pub struct MvccTxn<'a> {
    /// The snapshot every read of this transaction goes to.
    reader: &'a dyn StorageReader,
    /// The transaction's start timestamp: the version it reads at, and
    /// the key its values are stored under.
    start_ts: u64,
    /// The changes staged so far, in order.
    modifies: Vec<Modify>,
}

impl<'a> MvccTxn<'a> {
    /// A transaction that started at `start_ts`, reading from `reader`.
    pub fn new(reader: &'a dyn StorageReader, start_ts: u64) -> MvccTxn<'a> {
        MvccTxn {
            reader,
            start_ts,
            modifies: Vec::new(),
        }
    }

    /// The transaction's start timestamp.
    pub fn start_ts(&self) -> u64 {
        self.start_ts
    }

    /// The changes staged so far, in the order they were staged.
    pub fn modifies(&self) -> &[Modify] {
        &self.modifies
    }

    /// The staged changes, to be written as one batch by
    /// [`crate::Storage::write`].
    pub fn into_modifies(self) -> Vec<Modify> {
        self.modifies
    }

    fn stage_put(&mut self, cf: &str, key: Vec<u8>, value: Vec<u8>) {
        self.modifies.push(Modify::Put {
            cf: cf.to_string(),
            key,
            value,
        });
    }

    fn stage_delete(&mut self, cf: &str, key: Vec<u8>) {
        self.modifies.push(Modify::Delete {
            cf: cf.to_string(),
            key,
        });
    }

    // lab 4A: begin — a lock lives in the lock CF under encode_user_key(key), no timestamp (docs/labs/lab4a.md#locks)
    /// The lock on `key`, if any. A record that does not parse is an
    /// [`Error::MalformedLock`] (wrapped in [`crate::Error::Mvcc`]).
    pub fn get_lock(&self, key: &[u8]) -> Result<Option<Lock>> {
        match self.reader.get_cf(CF_LOCK, &encode_user_key(key))? {
            Some(bytes) => Ok(Some(Lock::parse(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Stages `lock` on `key`, replacing any lock there.
    pub fn put_lock(&mut self, key: &[u8], lock: &Lock) {
        self.stage_put(CF_LOCK, encode_user_key(key), lock.to_bytes());
    }

    /// Stages the removal of the lock on `key`.
    pub fn delete_lock(&mut self, key: &[u8]) {
        self.stage_delete(CF_LOCK, encode_user_key(key));
    }
    // lab 4A: end

    // lab 4A: begin — the newest write at or before start_ts decides; a Put points at its value (docs/labs/lab4a.md#values)
    /// The value of `key` this transaction sees: the one written by the
    /// newest write with `commit_ts <= start_ts`, skipping rollback
    /// records; `None` when that write is a Delete or there is none.
    pub fn get_value(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut writes = self.reader.iter_cf(CF_WRITE)?;
        // Versions sort newest first, so this lands on the newest version
        // of `key` committed at or before start_ts (or past all of them).
        writes.seek(&encode_key(key, self.start_ts));
        while writes.valid()? {
            let (user_key, _commit_ts) = decode_key(writes.key())?;
            if user_key != key {
                return Ok(None);
            }
            let write = Write::parse(writes.value())?;
            match write.kind {
                WriteKind::Put => {
                    return committed_value(self.reader, key, write.start_ts).map(Some)
                }
                WriteKind::Delete => return Ok(None),
                // A rolled-back transaction wrote nothing: look further back.
                WriteKind::Rollback => writes.next(),
            }
        }
        Ok(None)
    }

    /// Stages `value` for `key`, stored at this transaction's start_ts.
    /// Readers see it only once a Put write record points at it.
    pub fn put_value(&mut self, key: &[u8], value: &[u8]) {
        self.stage_put(CF_DEFAULT, encode_key(key, self.start_ts), value.to_vec());
    }

    /// Stages the removal of this transaction's value of `key` (a
    /// rollback undoing a prewrite).
    pub fn delete_value(&mut self, key: &[u8]) {
        self.stage_delete(CF_DEFAULT, encode_key(key, self.start_ts));
    }
    // lab 4A: end

    // lab 4A: begin — write records sit at commit_ts and name their txn's start_ts (docs/labs/lab4a.md#writes)
    /// Stages `write` for `key` at `commit_ts` (a commit, or a rollback
    /// record at commit_ts = start_ts).
    pub fn put_write(&mut self, key: &[u8], commit_ts: u64, write: &Write) {
        self.stage_put(CF_WRITE, encode_key(key, commit_ts), write.to_bytes());
    }

    /// This transaction's own write record of `key` and its commit_ts:
    /// the write whose start_ts is this transaction's. Tells a retried
    /// commit or rollback whether the work is already done.
    pub fn current_write(&self, key: &[u8]) -> Result<Option<(Write, u64)>> {
        let mut writes = self.reader.iter_cf(CF_WRITE)?;
        writes.seek(&encode_key(key, TS_MAX));
        while writes.valid()? {
            let (user_key, commit_ts) = decode_key(writes.key())?;
            // A transaction commits after it starts, so once commit_ts
            // drops below start_ts no older record can be ours.
            if user_key != key || commit_ts < self.start_ts {
                return Ok(None);
            }
            let write = Write::parse(writes.value())?;
            if write.start_ts == self.start_ts {
                return Ok(Some((write, commit_ts)));
            }
            writes.next();
        }
        Ok(None)
    }

    /// The newest write record of `key` and its commit_ts, whatever this
    /// transaction's start_ts: prewrite's write-conflict check.
    pub fn most_recent_write(&self, key: &[u8]) -> Result<Option<(Write, u64)>> {
        let mut writes = self.reader.iter_cf(CF_WRITE)?;
        writes.seek(&encode_key(key, TS_MAX));
        if !writes.valid()? {
            return Ok(None);
        }
        let (user_key, commit_ts) = decode_key(writes.key())?;
        if user_key != key {
            return Ok(None);
        }
        Ok(Some((Write::parse(writes.value())?, commit_ts)))
    }
    // lab 4A: end
}

/// The value a Put write record of `user_key` by the transaction
/// `start_ts` points at. A missing value means the write and default
/// column families disagree: [`Error::MissingValue`].
pub(super) fn committed_value(
    reader: &dyn StorageReader,
    user_key: &[u8],
    start_ts: u64,
) -> Result<Vec<u8>> {
    reader
        .get_cf(CF_DEFAULT, &encode_key(user_key, start_ts))?
        .ok_or_else(|| {
            Error::MissingValue {
                key: user_key.to_vec(),
                start_ts,
            }
            .into()
        })
}
