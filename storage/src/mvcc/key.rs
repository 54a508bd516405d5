//! MVCC keys: a user key plus a timestamp, laid out so that RocksDB's byte
//! order is "by user key ascending, then by timestamp descending".
//!
//! Called by [`crate::mvcc::MvccTxn`] and [`crate::mvcc::Scanner`] (and the
//! transaction commands of labs 4B/4C) on the caller's thread; pure
//! functions, no I/O.
//!
//! ```text
//! encode_key(user_key, ts) = memcomparable(user_key) ++ (!ts as u64 big-endian)
//!
//! memcomparable(user_key): the key cut into groups of 8 bytes, the last
//! group padded with zeros; each group is followed by a marker byte
//! 0xFF - (number of padding bytes). A key whose length is a multiple of 8
//! (the empty key too) ends with a group of 8 zeros and marker 0xF7.
//!
//!   user key  [42]          -> 2a 00 00 00 00 00 00 00 f8
//!   user key  [42, 0]       -> 2a 00 00 00 00 00 00 00 f9
//!   user key  (16 bytes)    -> 8 bytes ff  8 bytes ff  00*8 f7
//! ```
//!
//! Why not simply `user_key ++ ts`? Then `a` at any ts and `a\x00` would
//! compare by `ts`'s first byte against `\x00`: the versions of `a` would
//! interleave with the key `a\x00...`, and "the versions of one key are one
//! contiguous range" would be false. The marker byte records how much of the
//! group is real, so a key that is a prefix of another sorts first, whatever
//! the timestamps.
//!
//! Why `!ts`? Big-endian integers sort like numbers; inverted, the largest
//! timestamp sorts first. A seek to `encode_key(key, ts)` therefore lands on
//! the newest version of `key` at or before `ts`, which is the question MVCC
//! asks all the time.
//!
//! The lock column family has one record per key and no timestamp, but its
//! key is still `encode_user_key(user_key)`, not the raw user key: a region
//! boundary of transactional data is an encoded key, and every record of a
//! user key (lock, versions, values) must start with the same encoded prefix
//! so that no split puts a key's lock in one region and its versions in
//! another. [`decode_user_key_without_ts`] reads such a key back.

use super::errors::{Defect, Error, Result};

/// The largest timestamp: `encode_key(key, TS_MAX)` sorts before every
/// version of `key`.
pub const TS_MAX: u64 = u64::MAX;

/// Bytes of user key per memcomparable group.
const GROUP_SIZE: usize = 8;
/// The marker of a full group (no padding: more groups follow).
const MARKER_FULL: u8 = 0xFF;
/// Bytes of the timestamp suffix.
const TS_SIZE: usize = 8;

/// The memcomparable encoding of `user_key`, without a timestamp.
///
/// For user keys `a < b`, `encode_user_key(a)` is smaller than
/// `encode_user_key(b)` and is never a prefix of it.
pub fn encode_user_key(user_key: &[u8]) -> Vec<u8> {
    let groups = user_key.len() / GROUP_SIZE + 1;
    let mut encoded = Vec::with_capacity(groups * (GROUP_SIZE + 1) + TS_SIZE);
    let mut chunks = user_key.chunks_exact(GROUP_SIZE);
    for group in &mut chunks {
        encoded.extend_from_slice(group);
        encoded.push(MARKER_FULL);
    }
    // The last group is always written, even when empty: its marker is what
    // ends the key.
    let rest = chunks.remainder();
    let padding = GROUP_SIZE - rest.len();
    encoded.extend_from_slice(rest);
    encoded.extend(std::iter::repeat_n(0, padding));
    encoded.push(MARKER_FULL - padding as u8);
    encoded
}

/// The MVCC key of `user_key` at timestamp `ts`: the key of a write record
/// (at its commit_ts) or of a value (at its start_ts).
pub fn encode_key(user_key: &[u8], ts: u64) -> Vec<u8> {
    let mut encoded = encode_user_key(user_key);
    encoded.extend_from_slice(&(!ts).to_be_bytes());
    encoded
}

/// The smallest key that sorts after every version of `user_key` (and
/// before every version of the next user key): where a scan seeks to skip
/// the older versions of `user_key` in one step.
pub fn key_after_all_versions(user_key: &[u8]) -> Vec<u8> {
    // encode_key(user_key, 0) is the last version; appending any byte gives
    // a key that is larger, and still smaller than the next user key's
    // versions because those differ inside the memcomparable part.
    let mut key = encode_key(user_key, 0);
    key.push(0);
    key
}

/// Splits an MVCC key into its user key and timestamp.
///
/// Fails with [`Error::MalformedKey`] when `key` was not written by
/// [`encode_key`]: too short, a bad marker, non-zero padding, or a
/// timestamp that is not exactly 8 bytes.
pub fn decode_key(key: &[u8]) -> Result<(Vec<u8>, u64)> {
    let malformed = |defect| Error::MalformedKey {
        key: key.to_vec(),
        defect,
    };
    let (user_key, rest) = split_user_key(key).map_err(malformed)?;
    let ts_bytes: [u8; TS_SIZE] = match rest.split_first_chunk::<TS_SIZE>() {
        Some((ts_bytes, [])) => *ts_bytes,
        Some((_, trailing)) => return Err(malformed(Defect::TrailingBytes(trailing.len()))),
        None => return Err(malformed(Defect::Truncated("timestamp"))),
    };
    Ok((user_key, !u64::from_be_bytes(ts_bytes)))
}

/// Decodes a key written by [`encode_user_key`] (a memcomparable user key
/// with no timestamp after it): the key of a lock column family record.
///
/// Fails with [`Error::MalformedKey`] when `key` was not written by
/// [`encode_user_key`]: too short, a bad marker, non-zero padding, or any
/// bytes after the last group (an MVCC key with a timestamp included).
pub fn decode_user_key_without_ts(key: &[u8]) -> Result<Vec<u8>> {
    let malformed = |defect| Error::MalformedKey {
        key: key.to_vec(),
        defect,
    };
    match split_user_key(key).map_err(malformed)? {
        (user_key, []) => Ok(user_key),
        (_, trailing) => Err(malformed(Defect::TrailingBytes(trailing.len()))),
    }
}

/// Reads the memcomparable groups at the front of `key`: the user key they
/// hold, and the bytes after the last group.
fn split_user_key(key: &[u8]) -> std::result::Result<(Vec<u8>, &[u8]), Defect> {
    let mut user_key = Vec::with_capacity(key.len());
    let mut rest = key;
    loop {
        if rest.len() < GROUP_SIZE + 1 {
            return Err(Defect::Truncated("user key"));
        }
        let (group, after) = rest.split_at(GROUP_SIZE + 1);
        rest = after;
        let marker = group[GROUP_SIZE];
        let padding = usize::from(MARKER_FULL - marker);
        if padding > GROUP_SIZE {
            return Err(Defect::BadMarker(marker));
        }
        let real = GROUP_SIZE - padding;
        if group[real..GROUP_SIZE].iter().any(|&byte| byte != 0) {
            return Err(Defect::NonZeroPadding);
        }
        user_key.extend_from_slice(&group[..real]);
        if padding > 0 {
            return Ok((user_key, rest));
        }
    }
}

/// The user key of an MVCC key (see [`decode_key`]).
pub fn decode_user_key(key: &[u8]) -> Result<Vec<u8>> {
    decode_key(key).map(|(user_key, _)| user_key)
}

/// The timestamp of an MVCC key (see [`decode_key`]).
pub fn decode_timestamp(key: &[u8]) -> Result<u64> {
    decode_key(key).map(|(_, ts)| ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The layout drawn in the module docs, byte for byte.
    #[test]
    fn layout_matches_the_documented_bytes() {
        let mut empty = vec![0; 8];
        empty.push(0xF7);
        empty.extend_from_slice(&[0xFF; 8]);
        assert_eq!(encode_key(&[], 0), empty);

        assert_eq!(
            encode_key(&[42], 0),
            [42, 0, 0, 0, 0, 0, 0, 0, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(
            encode_key(&[42, 0, 5], !98_753_868),
            [42, 0, 5, 0, 0, 0, 0, 0, 0xFA, 0, 0, 0, 0, 5, 226, 221, 76]
        );
        let eight = encode_user_key(&[1; 8]);
        assert_eq!(eight.len(), 18);
        assert_eq!(eight[8], 0xFF);
        assert_eq!(&eight[9..], &[0, 0, 0, 0, 0, 0, 0, 0, 0xF7]);
    }

    /// Every key and timestamp comes back out of its encoding unchanged.
    #[test]
    fn round_trips() {
        let mut rng = StdRng::seed_from_u64(0x4A);
        for _ in 0..2000 {
            let length = rng.gen_range(0..40);
            let user_key: Vec<u8> = (0..length).map(|_| rng.gen()).collect();
            let ts: u64 = rng.gen();
            let encoded = encode_key(&user_key, ts);
            assert_eq!(decode_key(&encoded), Ok((user_key.clone(), ts)));
            assert_eq!(decode_user_key(&encoded), Ok(user_key));
            assert_eq!(decode_timestamp(&encoded), Ok(ts));
        }
        for ts in [0, 1, TS_MAX] {
            assert_eq!(decode_timestamp(&encode_key(b"k", ts)), Ok(ts));
        }
    }

    /// Encoded order is user key ascending, then timestamp descending, for
    /// random keys biased towards shared prefixes and zero bytes.
    #[test]
    fn byte_order_is_key_ascending_then_ts_descending() {
        let mut rng = StdRng::seed_from_u64(0x4A4A);
        // A small alphabet makes prefixes and equal keys common.
        let random_key = |rng: &mut StdRng| -> Vec<u8> {
            let length = rng.gen_range(0..20);
            (0..length)
                .map(|_| [0u8, 1, 0xFF][rng.gen_range(0..3)])
                .collect()
        };
        for _ in 0..5000 {
            let a = random_key(&mut rng);
            let b = random_key(&mut rng);
            let ts_a: u64 = rng.gen_range(0..4);
            let ts_b: u64 = rng.gen_range(0..4);
            let expected = a.cmp(&b).then(ts_b.cmp(&ts_a));
            assert_eq!(
                encode_key(&a, ts_a).cmp(&encode_key(&b, ts_b)),
                expected,
                "{a:?}@{ts_a} vs {b:?}@{ts_b}"
            );
        }
    }

    /// A key that is a prefix of another sorts first at every pair of timestamps.
    #[test]
    fn prefix_key_sorts_first_whatever_the_timestamps() {
        for (short, long) in [
            (&b""[..], &b"\x00"[..]),
            (b"a", b"a\x00"),
            (b"abcdefgh", b"abcdefgh\x00"),
        ] {
            for ts_short in [0, 1, TS_MAX] {
                for ts_long in [0, 1, TS_MAX] {
                    assert!(encode_key(short, ts_short) < encode_key(long, ts_long));
                }
            }
            assert!(key_after_all_versions(short) < encode_key(long, TS_MAX));
            assert!(key_after_all_versions(short) > encode_key(short, 0));
        }
    }

    /// A lock key (no timestamp) decodes back to its user key; an MVCC key
    /// with a timestamp, or a cut-short one, is a typed error.
    #[test]
    fn user_key_without_ts_round_trips_and_rejects_timestamps() {
        let mut rng = StdRng::seed_from_u64(0x4B);
        for _ in 0..500 {
            let length = rng.gen_range(0..40);
            let user_key: Vec<u8> = (0..length).map(|_| rng.gen()).collect();
            let encoded = encode_user_key(&user_key);
            assert_eq!(decode_user_key_without_ts(&encoded), Ok(user_key.clone()));
        }
        let defect = |key: &[u8]| match decode_user_key_without_ts(key) {
            Err(Error::MalformedKey { defect, .. }) => defect,
            other => panic!("{key:?} decoded as {other:?}"),
        };
        assert_eq!(defect(&encode_key(b"key", 7)), Defect::TrailingBytes(8));
        assert_eq!(defect(b"key"), Defect::Truncated("user key"));
        assert_eq!(defect(&[]), Defect::Truncated("user key"));
    }

    /// Truncated keys, bad markers, non-zero padding and wrong timestamp lengths are typed errors.
    #[test]
    fn malformed_keys_are_typed_errors() {
        let defect = |key: &[u8]| match decode_key(key) {
            Err(Error::MalformedKey { defect, .. }) => defect,
            other => panic!("{key:?} decoded as {other:?}"),
        };
        let good = encode_key(b"key", 7);
        assert_eq!(defect(&[]), Defect::Truncated("user key"));
        assert_eq!(defect(&good[..5]), Defect::Truncated("user key"));
        assert_eq!(defect(&good[..12]), Defect::Truncated("timestamp"));
        let mut longer = good.clone();
        longer.push(1);
        assert_eq!(defect(&longer), Defect::TrailingBytes(1));
        let mut bad_marker = good.clone();
        bad_marker[8] = 0x10;
        assert_eq!(defect(&bad_marker), Defect::BadMarker(0x10));
        let mut bad_padding = good.clone();
        bad_padding[7] = 1;
        assert_eq!(defect(&bad_padding), Defect::NonZeroPadding);
        // A full group promises more groups; none follows.
        assert_eq!(
            defect(&[1, 2, 3, 4, 5, 6, 7, 8, 0xFF]),
            Defect::Truncated("user key")
        );
    }
}
