//! [`Lock`]: the record of the lock column family.
//!
//! A prewritten, not yet committed key carries a lock, stored under
//! `encode_user_key(user_key)` with no timestamp (one lock per key at a
//! time: that is what makes it a lock; encoded so that the lock sorts with
//! the key's versions, see `key.rs`). The lock names the transaction (`start_ts`), its primary key
//! (whose lock or write record decides whether the whole transaction
//! committed) and a time to live after which another transaction may roll
//! it back. Written by prewrite (lab 4B), removed by commit and rollback,
//! read by every command that must not step over an unfinished
//! transaction; all on the caller's thread.
//!
//! | bytes | field |
//! |---|---|
//! | 1 | kind, as in [`crate::mvcc::Write`]: 1 Put, 2 Delete, 3 Rollback |
//! | 8 | start_ts, big-endian |
//! | 8 | ttl, big-endian |
//! | the rest | primary key |
//!
//! The primary goes last so that it needs no length field: it is whatever
//! follows the fixed part.

use proto::kvrpcpb::LockInfo;

use super::errors::{Defect, Error, Result};
use super::write::{parse_record_head, WriteKind};

/// A lock record: the value of a lock column family key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// The primary key of the transaction holding the lock.
    pub primary: Vec<u8>,
    /// The start timestamp of the transaction holding the lock.
    pub start_ts: u64,
    /// Time to live in milliseconds, counted from the physical time of
    /// `start_ts`; past it, the lock may be rolled back by others.
    pub ttl: u64,
    /// What the transaction will write to the key when it commits.
    pub kind: WriteKind,
}

/// Length of the fixed part of an encoded [`Lock`]: kind, start_ts, ttl.
const FIXED_LEN: usize = 1 + 8 + 8;

impl Lock {
    /// A lock of the transaction `start_ts` whose primary key is `primary`.
    pub fn new(primary: Vec<u8>, start_ts: u64, ttl: u64, kind: WriteKind) -> Lock {
        Lock {
            primary,
            start_ts,
            ttl,
            kind,
        }
    }

    /// The record's bytes, as stored in the lock column family.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(FIXED_LEN + self.primary.len());
        bytes.push(self.kind.to_byte());
        bytes.extend_from_slice(&self.start_ts.to_be_bytes());
        bytes.extend_from_slice(&self.ttl.to_be_bytes());
        bytes.extend_from_slice(&self.primary);
        bytes
    }

    /// Decodes a record written by [`Lock::to_bytes`]; anything else is an
    /// [`Error::MalformedLock`] saying what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Lock> {
        let malformed = |defect| Error::MalformedLock {
            record: bytes.to_vec(),
            defect,
        };
        let (kind, start_ts, rest) = parse_record_head(bytes).map_err(malformed)?;
        let Some((ttl, primary)) = rest.split_first_chunk::<8>() else {
            return Err(malformed(Defect::Truncated("ttl")));
        };
        Ok(Lock {
            primary: primary.to_vec(),
            start_ts,
            ttl: u64::from_be_bytes(*ttl),
            kind,
        })
    }

    /// What a client is told about this lock on `key` when the lock blocks
    /// it: enough to find the primary and resolve the lock.
    pub fn info(&self, key: &[u8]) -> LockInfo {
        let mut info = LockInfo::new();
        info.primary_lock = self.primary.clone();
        info.lock_version = self.start_ts;
        info.key = key.to_vec();
        info.lock_ttl = self.ttl;
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Locks of every kind, with empty and binary primaries, round-trip.
    #[test]
    fn round_trips() {
        for kind in [WriteKind::Put, WriteKind::Delete, WriteKind::Rollback] {
            for primary in [&b""[..], b"k", b"\x00\xff\x01 primary"] {
                let lock = Lock::new(primary.to_vec(), u64::MAX, 3000, kind);
                let bytes = lock.to_bytes();
                assert_eq!(bytes.len(), FIXED_LEN + primary.len());
                assert_eq!(Lock::parse(&bytes), Ok(lock));
            }
        }
    }

    /// Empty, short and unknown-kind records are typed errors.
    #[test]
    fn malformed_records_are_typed_errors() {
        let defect = |bytes: &[u8]| match Lock::parse(bytes) {
            Err(Error::MalformedLock { defect, .. }) => defect,
            other => panic!("{bytes:?} parsed as {other:?}"),
        };
        let good = Lock::new(b"p".to_vec(), 5, 10, WriteKind::Delete).to_bytes();
        assert_eq!(defect(&[]), Defect::Truncated("kind"));
        assert_eq!(defect(&good[..8]), Defect::Truncated("start_ts"));
        assert_eq!(defect(&good[..12]), Defect::Truncated("ttl"));
        assert_eq!(defect(&[0xEE; FIXED_LEN]), Defect::UnknownKind(0xEE));
    }

    /// LockInfo carries the primary, the lock's start_ts as lock_version, the key and the ttl.
    #[test]
    fn info_names_primary_version_key_and_ttl() {
        let lock = Lock::new(b"primary".to_vec(), 77, 1500, WriteKind::Put);
        let info = lock.info(b"secondary");
        assert_eq!(info.primary_lock, b"primary");
        assert_eq!(info.lock_version, 77);
        assert_eq!(info.key, b"secondary");
        assert_eq!(info.lock_ttl, 1500);
    }
}
