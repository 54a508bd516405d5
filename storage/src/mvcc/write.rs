//! [`Write`]: the record of the write column family, and [`WriteKind`].
//!
//! A committed (or rolled back) transaction leaves one write record per
//! key, stored at `encode_key(user_key, commit_ts)`. The record says which
//! transaction it belongs to (`start_ts`, which is also where a Put's value
//! sits in the default column family) and what it did. Built by the commit
//! and rollback commands (labs 4B/4C), read by [`crate::mvcc::MvccTxn`] and
//! [`crate::mvcc::Scanner`]; all on the caller's thread.
//!
//! | bytes | field |
//! |---|---|
//! | 1 | kind: 1 Put, 2 Delete, 3 Rollback |
//! | 8 | start_ts, big-endian |
//!
//! A rollback record has commit_ts = start_ts: it sits where the
//! transaction's commit would, so a late prewrite or commit of that
//! transaction finds it and gives up.

use proto::kvrpcpb::Op;

use super::errors::{Defect, Error, Result};

/// What a write record did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteKind {
    /// The key got a new value, stored in the default column family at
    /// `encode_key(key, start_ts)`.
    Put,
    /// The key was deleted at this commit_ts.
    Delete,
    /// The transaction was rolled back; readers skip this record and look
    /// at older ones.
    Rollback,
}

impl WriteKind {
    /// The byte that stands for this kind in [`Write`] and
    /// [`crate::mvcc::Lock`] records.
    pub fn to_byte(self) -> u8 {
        match self {
            WriteKind::Put => 1,
            WriteKind::Delete => 2,
            WriteKind::Rollback => 3,
        }
    }

    /// The kind a byte stands for, or `None` for an unknown byte.
    pub fn from_byte(byte: u8) -> Option<WriteKind> {
        match byte {
            1 => Some(WriteKind::Put),
            2 => Some(WriteKind::Delete),
            3 => Some(WriteKind::Rollback),
            _ => None,
        }
    }
}

/// A prewrite's mutation becomes a lock of this kind, and its commit a
/// write of this kind. `Op::Lock` (lock a key without writing it) has no
/// write kind in tinykv-rs, as in TinyKV.
impl TryFrom<Op> for WriteKind {
    type Error = Error;

    fn try_from(op: Op) -> Result<WriteKind> {
        match op {
            Op::Put => Ok(WriteKind::Put),
            Op::Del => Ok(WriteKind::Delete),
            Op::Rollback => Ok(WriteKind::Rollback),
            Op::Lock => Err(Error::UnsupportedOp(op)),
        }
    }
}

impl From<WriteKind> for Op {
    fn from(kind: WriteKind) -> Op {
        match kind {
            WriteKind::Put => Op::Put,
            WriteKind::Delete => Op::Del,
            WriteKind::Rollback => Op::Rollback,
        }
    }
}

/// A write record: the value of a write column family key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write {
    /// The start timestamp of the transaction that wrote it.
    pub start_ts: u64,
    /// What it did.
    pub kind: WriteKind,
}

/// Length of an encoded [`Write`]: the kind byte and the start_ts.
const ENCODED_LEN: usize = 1 + 8;

impl Write {
    /// A write record of `kind` by the transaction that started at `start_ts`.
    pub fn new(kind: WriteKind, start_ts: u64) -> Write {
        Write { start_ts, kind }
    }

    /// The record's bytes, as stored in the write column family.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(ENCODED_LEN);
        bytes.push(self.kind.to_byte());
        bytes.extend_from_slice(&self.start_ts.to_be_bytes());
        bytes
    }

    /// Decodes a record written by [`Write::to_bytes`]; anything else is an
    /// [`Error::MalformedWrite`] saying what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Write> {
        let malformed = |defect| Error::MalformedWrite {
            record: bytes.to_vec(),
            defect,
        };
        let (kind, start_ts, rest) = parse_record_head(bytes).map_err(malformed)?;
        if !rest.is_empty() {
            return Err(malformed(Defect::TrailingBytes(rest.len())));
        }
        Ok(Write { start_ts, kind })
    }
}

/// Reads the head that write and lock records share: the kind byte, then
/// start_ts. Returns them and the bytes after the head.
pub(super) fn parse_record_head(
    bytes: &[u8],
) -> std::result::Result<(WriteKind, u64, &[u8]), Defect> {
    let (&kind_byte, rest) = bytes.split_first().ok_or(Defect::Truncated("kind"))?;
    let kind = WriteKind::from_byte(kind_byte).ok_or(Defect::UnknownKind(kind_byte))?;
    let (start_ts, rest) = rest
        .split_first_chunk::<8>()
        .ok_or(Defect::Truncated("start_ts"))?;
    Ok((kind, u64::from_be_bytes(*start_ts), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind round-trips through the byte encoding, at extreme timestamps too.
    #[test]
    fn round_trips() {
        for kind in [WriteKind::Put, WriteKind::Delete, WriteKind::Rollback] {
            for start_ts in [0, 1, 0x0102_0304_0506_0708, u64::MAX] {
                let write = Write::new(kind, start_ts);
                let bytes = write.to_bytes();
                assert_eq!(bytes.len(), ENCODED_LEN);
                assert_eq!(Write::parse(&bytes), Ok(write));
            }
        }
    }

    /// Empty, short, long and unknown-kind records are typed errors.
    #[test]
    fn malformed_records_are_typed_errors() {
        let defect = |bytes: &[u8]| match Write::parse(bytes) {
            Err(Error::MalformedWrite { defect, .. }) => defect,
            other => panic!("{bytes:?} parsed as {other:?}"),
        };
        let good = Write::new(WriteKind::Put, 42).to_bytes();
        assert_eq!(defect(&[]), Defect::Truncated("kind"));
        assert_eq!(defect(&good[..4]), Defect::Truncated("start_ts"));
        assert_eq!(
            defect(&[good.as_slice(), &[0, 0]].concat()),
            Defect::TrailingBytes(2)
        );
        assert_eq!(defect(&[9, 0, 0, 0, 0, 0, 0, 0, 1]), Defect::UnknownKind(9));
        assert_eq!(defect(&[0, 0, 0, 0, 0, 0, 0, 0, 1]), Defect::UnknownKind(0));
    }

    /// Put, Del and Rollback map to write kinds and back; Lock has no write kind.
    #[test]
    fn converts_from_and_to_op() {
        for op in [Op::Put, Op::Del, Op::Rollback] {
            let kind = WriteKind::try_from(op).expect("Put, Del and Rollback have a kind");
            assert_eq!(Op::from(kind), op);
        }
        assert_eq!(
            WriteKind::try_from(Op::Lock),
            Err(Error::UnsupportedOp(Op::Lock))
        );
    }
}
