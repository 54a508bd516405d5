//! The MVCC layer's error type: what can be wrong with an MVCC key, a
//! [`crate::mvcc::Lock`] or a [`crate::mvcc::Write`] record.
//!
//! These bytes come from disk (or from a snapshot sent by another store),
//! so a decoder never trusts them: every defect becomes a typed [`Error`]
//! naming the bytes and what is wrong with them, never a panic. The
//! transaction commands (lab 4B/4C) pass these up as
//! [`crate::Error::Mvcc`], which the server turns into the response's
//! error field.

use proto::kvrpcpb::Op;

/// What exactly is wrong with a malformed key or record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Defect {
    /// The bytes ended in the middle of the named part.
    #[error("truncated in the {0}")]
    Truncated(&'static str),
    /// A memcomparable group's marker byte claims more than 8 padding
    /// bytes (a valid marker is 0xF7..=0xFF).
    #[error("group marker {0:#04x} is not between 0xf7 and 0xff")]
    BadMarker(u8),
    /// A padding byte of the last memcomparable group is not zero, so the
    /// key was not written by `encode_key` (two encodings of one key would
    /// break the ordering).
    #[error("padding byte is not zero")]
    NonZeroPadding,
    /// The kind byte is none of the known write kinds.
    #[error("unknown write kind {0:#04x}")]
    UnknownKind(u8),
    /// The bytes go on after the last field.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
}

/// Errors of the MVCC encodings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A key of the write or default column family is not a user key
    /// followed by a timestamp, as `encode_key` writes them.
    #[error("malformed mvcc key {key:?}: {defect}")]
    MalformedKey {
        /// The key as read.
        key: Vec<u8>,
        /// What is wrong with it.
        defect: Defect,
    },

    /// A value of the lock column family is not a [`crate::mvcc::Lock`].
    #[error("malformed lock record {record:?}: {defect}")]
    MalformedLock {
        /// The record as read.
        record: Vec<u8>,
        /// What is wrong with it.
        defect: Defect,
    },

    /// A value of the write column family is not a [`crate::mvcc::Write`].
    #[error("malformed write record {record:?}: {defect}")]
    MalformedWrite {
        /// The record as read.
        record: Vec<u8>,
        /// What is wrong with it.
        defect: Defect,
    },

    /// A Put write record points at a value that the default column family
    /// does not hold: the write and default column families disagree.
    #[error(
        "the write of key {key:?} (start_ts {start_ts}) has no value in the default column family"
    )]
    MissingValue {
        /// The user key.
        key: Vec<u8>,
        /// The start timestamp the value should be stored under.
        start_ts: u64,
    },

    /// A request's operation has no write kind (only Put, Del and
    /// Rollback have one; Lock does not write data).
    #[error("operation {0:?} has no write kind")]
    UnsupportedOp(Op),
}

/// The MVCC encodings' result type.
pub type Result<T> = std::result::Result<T, Error>;
