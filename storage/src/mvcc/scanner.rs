//! [`Scanner`]: the committed key-value pairs visible at a timestamp, in
//! key order, from a start key on.
//!
//! Used by KvScan (lab 4C) on the caller's thread. The scanner walks the
//! write column family only; it does not look at locks. A caller that must
//! not read past an unfinished transaction (KvScan does) checks the lock
//! of every key the scanner returns.
//!
//! Every version of a key is a record in the write column family, so a key
//! written a thousand times has a thousand records. The scanner never steps
//! through them one by one: it seeks straight to the newest version it may
//! see (`encode_key(key, ts)`), and after using that version it seeks past
//! all older ones (`key_after_all_versions`). Only rollback records are
//! stepped over, since the version below one may be the visible one.

use crate::engine::CF_WRITE;
use crate::errors::Result;
use crate::reader::{KvIterator, StorageReader};

use super::key::{decode_key, encode_key, key_after_all_versions};
use super::txn::committed_value;
use super::write::{Write, WriteKind};

/// An iterator over `(user_key, value)` pairs visible at a timestamp.
///
/// It yields `Result`s: an error (a malformed record, an engine failure)
/// is yielded once and ends the scan. Take `limit` pairs with
/// [`Iterator::take`].
pub struct Scanner<'a> {
    /// Where the values of Put records are read.
    reader: &'a dyn StorageReader,
    /// The cursor over the write column family; always at the next record
    /// to look at.
    writes: Box<dyn KvIterator + 'a>,
    /// The snapshot timestamp: versions committed after it are invisible.
    ts: u64,
    /// Exclusive upper bound on user keys; `None` = no bound.
    end_key: Option<Vec<u8>>,
    /// Set once the scan ran out of keys or failed.
    done: bool,
}

impl<'a> Scanner<'a> {
    /// A scan of the keys `>= start_key` as of `ts`.
    pub fn new(reader: &'a dyn StorageReader, start_key: &[u8], ts: u64) -> Result<Scanner<'a>> {
        let mut writes = reader.iter_cf(CF_WRITE)?;
        writes.seek(&encode_key(start_key, ts));
        Ok(Scanner {
            reader,
            writes,
            ts,
            end_key: None,
            done: false,
        })
    }

    /// Stops the scan before `end_key`; an empty `end_key` means no bound
    /// (as a region's empty end key does).
    pub fn with_end_key(mut self, end_key: &[u8]) -> Scanner<'a> {
        self.end_key = (!end_key.is_empty()).then(|| end_key.to_vec());
        self
    }

    // lab 4A: begin — seek to the newest visible version, then past all older ones (docs/labs/lab4a.md#scanner)
    /// The next visible pair, or `None` at the end.
    fn next_visible(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        while self.writes.valid()? {
            let (user_key, commit_ts) = decode_key(self.writes.key())?;
            if self.end_key.as_ref().is_some_and(|end| &user_key >= end) {
                return Ok(None);
            }
            if commit_ts > self.ts {
                // Committed after the snapshot: jump over every such version
                // of this key at once. The target is past the current record,
                // so the loop always makes progress.
                self.writes.seek(&encode_key(&user_key, self.ts));
                continue;
            }
            let write = Write::parse(self.writes.value())?;
            match write.kind {
                // The version below a rollback may be the visible one.
                WriteKind::Rollback => self.writes.next(),
                // Deleted as of ts: the key does not exist; older versions
                // do not matter.
                WriteKind::Delete => self.writes.seek(&key_after_all_versions(&user_key)),
                WriteKind::Put => {
                    let value = committed_value(self.reader, &user_key, write.start_ts)?;
                    self.writes.seek(&key_after_all_versions(&user_key));
                    return Ok(Some((user_key, value)));
                }
            }
        }
        Ok(None)
    }
    // lab 4A: end
}

impl Iterator for Scanner<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_visible().transpose();
        // After an error the cursor's position is unknown: stop rather than
        // risk yielding a pair twice or skipping one.
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}
