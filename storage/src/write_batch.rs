//! [`WriteBatch`]: a set of puts and deletes across column families, applied
//! atomically by [`crate::Engine::write`].
//!
//! Everything that must change together goes in one batch: applied data and
//! the apply state that says how far it got; raft log entries and the hard
//! state. That way a crash leaves either all of it or none of it on disk.
//!
//! The batch records operations by column family *name* and resolves the
//! names when it is written, so it can be filled without a handle to the
//! engine (the apply code builds batches long before it writes them). An
//! unknown column family surfaces as an error from `write`.

use crate::engine::{Engine, CF_DEFAULT};
use crate::errors::{Error, Result};

/// One operation in a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum BatchOperation {
    Put {
        cf: String,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        cf: String,
        key: Vec<u8>,
    },
    DeleteRange {
        cf: String,
        start: Vec<u8>,
        end: Vec<u8>,
    },
}

/// An atomic group of writes. See the module docs.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    operations: Vec<BatchOperation>,
    data_size: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Sets `key` to `value` in `cf`.
    pub fn put_cf(&mut self, cf: &str, key: &[u8], value: &[u8]) {
        self.data_size += key.len() + value.len();
        self.operations.push(BatchOperation::Put {
            cf: cf.to_string(),
            key: key.to_vec(),
            value: value.to_vec(),
        });
    }

    /// Sets `key` to `value` in the default column family.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.put_cf(CF_DEFAULT, key, value);
    }

    /// Encodes `message` and stores it at `key` in the default column family.
    pub fn put_msg<M: protobuf::Message>(&mut self, key: &[u8], message: &M) -> Result<()> {
        self.put_msg_cf(CF_DEFAULT, key, message)
    }

    /// Encodes `message` and stores it at `key` in `cf`.
    pub fn put_msg_cf<M: protobuf::Message>(
        &mut self,
        cf: &str,
        key: &[u8],
        message: &M,
    ) -> Result<()> {
        let bytes = message.write_to_bytes().map_err(Error::Encode)?;
        self.put_cf(cf, key, &bytes);
        Ok(())
    }

    /// Deletes `key` from `cf`.
    pub fn delete_cf(&mut self, cf: &str, key: &[u8]) {
        self.data_size += key.len();
        self.operations.push(BatchOperation::Delete {
            cf: cf.to_string(),
            key: key.to_vec(),
        });
    }

    /// Deletes `key` from the default column family.
    pub fn delete(&mut self, key: &[u8]) {
        self.delete_cf(CF_DEFAULT, key);
    }

    /// Deletes every key of `cf` in `[start, end)`.
    pub fn delete_range_cf(&mut self, cf: &str, start: &[u8], end: &[u8]) {
        self.data_size += start.len() + end.len();
        self.operations.push(BatchOperation::DeleteRange {
            cf: cf.to_string(),
            start: start.to_vec(),
            end: end.to_vec(),
        });
    }

    /// How many operations the batch holds.
    pub fn count(&self) -> usize {
        self.operations.len()
    }

    /// True when the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Total bytes of keys and values in the batch (callers split large
    /// batches on this).
    pub fn data_size(&self) -> usize {
        self.data_size
    }

    /// Appends every operation of `other` to this batch.
    pub fn extend(&mut self, other: WriteBatch) {
        self.data_size += other.data_size;
        self.operations.extend(other.operations);
    }

    /// Empties the batch so it can be reused.
    pub fn clear(&mut self) {
        self.operations.clear();
        self.data_size = 0;
    }

    /// Resolves column family names against `engine` and builds RocksDB's batch.
    pub(crate) fn into_inner(self, engine: &Engine) -> Result<rocksdb::WriteBatch> {
        let mut inner = rocksdb::WriteBatch::default();
        for operation in self.operations {
            match operation {
                BatchOperation::Put { cf, key, value } => {
                    inner.put_cf(engine.cf_handle(&cf)?, key, value)
                }
                BatchOperation::Delete { cf, key } => inner.delete_cf(engine.cf_handle(&cf)?, key),
                BatchOperation::DeleteRange { cf, start, end } => {
                    inner.delete_range_cf(engine.cf_handle(&cf)?, start, end)
                }
            }
        }
        Ok(inner)
    }
}
