//! The `KEY_VALUE_PAIRS` snapshot format: how a column family's pairs
//! travel from the leader's pinned engine snapshot to the follower's SST
//! writer, written to a disk only once, on the follower.
//!
//! Each pair is a little-endian `u64` key length, the key, a little-endian
//! `u64` value length, the value; pairs follow in key order. (Eight-byte
//! lengths cost 16 bytes a pair and can hold any length, so encoding never
//! fails.) A column
//! family's bytes are checked as a whole against the size and CRC32 the
//! leader's meta gives for them (`SnapshotCfFile`).
//!
//! Three users, no thread of their own:
//! - `RegionWorker::generate` (leader, `region_task_gen`) hashes the pairs
//!   with [`hash_pair`] to write the meta without building the bytes;
//! - `PairChunkStream` (leader, `snap_runner`) builds the bytes with
//!   [`encode_pair`];
//! - `SnapshotReceiver` (follower, `snap_receive`) parses them back with a
//!   [`PairDecoder`], chunk by chunk, as they arrive.

use crate::errors::{Error, Result};

/// Bytes of one length prefix.
const LENGTH_BYTES: usize = 8;

/// How many bytes `key` and `value` take in the stream.
pub fn encoded_len(key: &[u8], value: &[u8]) -> u64 {
    (2 * LENGTH_BYTES + key.len() + value.len()) as u64
}

/// Appends one pair's bytes to `buffer`.
pub fn encode_pair(buffer: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    // One reservation: the value is usually most of the pair, and growing
    // the buffer in steps would copy it again.
    buffer.reserve(encoded_len(key, value) as usize);
    buffer.extend_from_slice(&(key.len() as u64).to_le_bytes());
    buffer.extend_from_slice(key);
    buffer.extend_from_slice(&(value.len() as u64).to_le_bytes());
    buffer.extend_from_slice(value);
}

/// Feeds one pair's bytes (exactly those [`encode_pair`] appends) to
/// `hasher` without building them, and returns how many there are.
pub fn hash_pair(hasher: &mut crc32fast::Hasher, key: &[u8], value: &[u8]) -> u64 {
    hasher.update(&(key.len() as u64).to_le_bytes());
    hasher.update(key);
    hasher.update(&(value.len() as u64).to_le_bytes());
    hasher.update(value);
    encoded_len(key, value)
}

/// Parses one column family's pair bytes as they arrive, in pieces of any
/// size, and hashes them on the way.
///
/// A length that points past the column family's end (as the leader's
/// meta gives it) is refused at once, so a corrupted prefix can neither
/// make the decoder wait for bytes that never come nor allocate for them.
pub struct PairDecoder {
    /// Bytes of a pair that is not complete yet.
    partial: Vec<u8>,
    /// The column family's size, from the meta.
    size: u64,
    /// Bytes fed so far.
    fed: u64,
    /// Bytes that formed complete pairs.
    consumed: u64,
    hasher: crc32fast::Hasher,
}

/// What the bytes at the front of a decoder's input hold (see
/// `PairDecoder::front_pair`).
enum FrontPair {
    /// A whole pair of this many bytes.
    Complete(usize),
    /// Not a whole pair: this many bytes are needed to learn more.
    Needs(usize),
}

fn read_length(prefix: &[u8]) -> u64 {
    let mut bytes = [0u8; LENGTH_BYTES];
    bytes.copy_from_slice(prefix);
    u64::from_le_bytes(bytes)
}

impl PairDecoder {
    /// A decoder for a column family of `size` bytes.
    pub fn new(size: u64) -> PairDecoder {
        PairDecoder {
            partial: Vec::new(),
            size,
            fed: 0,
            consumed: 0,
            hasher: crc32fast::Hasher::new(),
        }
    }

    /// How many bytes were fed so far.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// Takes the next bytes of the column family and calls `visit(key,
    /// value)` for every pair they complete, in order.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        if self.fed + bytes.len() as u64 > self.size {
            return Err(Error::Snapshot(format!(
                "more than the {} bytes the meta gives the column family",
                self.size
            )));
        }
        self.fed += bytes.len() as u64;
        self.hasher.update(bytes);
        let mut input = bytes;
        // Finish the pair left over from the last piece, copying only as
        // many bytes as it still needs.
        while !self.partial.is_empty() && !input.is_empty() {
            match self.front_pair(&self.partial)? {
                FrontPair::Complete(_) => {}
                FrontPair::Needs(wanted) => {
                    let take = (wanted - self.partial.len()).min(input.len());
                    self.partial.extend_from_slice(&input[..take]);
                    input = &input[take..];
                }
            }
            if let FrontPair::Complete(_) = self.front_pair(&self.partial)? {
                let pair = std::mem::take(&mut self.partial);
                self.visit_pair(&pair, &mut visit)?;
            }
        }
        // Whole pairs straight from the input, without copying them.
        while let FrontPair::Complete(length) = self.front_pair(input)? {
            self.visit_pair(&input[..length], &mut visit)?;
            input = &input[length..];
        }
        self.partial.extend_from_slice(input);
        Ok(())
    }

    /// What `bytes` hold of the pair at their front: all of it (and its
    /// length), or how many bytes are needed to learn more about it. An
    /// error as soon as a length prefix points past the column family.
    fn front_pair(&self, bytes: &[u8]) -> Result<FrontPair> {
        let remaining = self.size - self.consumed;
        let past_end = |length: u64| {
            Error::Snapshot(format!(
                "a pair of {length} bytes at offset {} runs past the column family's {} bytes",
                self.consumed, self.size
            ))
        };
        let Some(key_prefix) = bytes.get(..LENGTH_BYTES) else {
            return Ok(FrontPair::Needs(LENGTH_BYTES));
        };
        // Up to and including the value's length prefix. Lengths are
        // checked against what is left before any use, so the sums below
        // cannot overflow and the casts to usize cannot truncate.
        let key_length = read_length(key_prefix);
        if key_length > remaining {
            return Err(past_end(key_length));
        }
        let head = 2 * LENGTH_BYTES as u64 + key_length;
        if head > remaining {
            return Err(past_end(head));
        }
        let head = head as usize;
        let Some(value_prefix) = bytes.get(head - LENGTH_BYTES..head) else {
            return Ok(FrontPair::Needs(head));
        };
        let value_length = read_length(value_prefix);
        if value_length > remaining {
            return Err(past_end(value_length));
        }
        let length = head as u64 + value_length;
        if length > remaining {
            return Err(past_end(length));
        }
        let length = length as usize;
        if bytes.len() < length {
            return Ok(FrontPair::Needs(length));
        }
        Ok(FrontPair::Complete(length))
    }

    fn visit_pair(
        &mut self,
        pair: &[u8],
        visit: &mut impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        // `front_pair` checked both lengths against the pair's size.
        let key_length = read_length(&pair[..LENGTH_BYTES]) as usize;
        let key = &pair[LENGTH_BYTES..LENGTH_BYTES + key_length];
        let value = &pair[2 * LENGTH_BYTES + key_length..];
        self.consumed += pair.len() as u64;
        visit(key, value)
    }

    /// Ends the column family: its CRC32 and size, for the caller to
    /// compare with the meta; an error if it stops inside a pair.
    pub fn finish(self) -> Result<(u32, u64)> {
        if !self.partial.is_empty() {
            return Err(Error::Snapshot(format!(
                "the column family ends inside a pair ({} bytes of it)",
                self.partial.len()
            )));
        }
        Ok((self.hasher.finalize(), self.fed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..50u32)
            .map(|i| {
                let key = format!("key-{i:04}").into_bytes();
                let value = vec![i as u8; (i as usize * 7919) % 3000];
                (key, value)
            })
            .collect()
    }

    fn encode(pairs: &[(Vec<u8>, Vec<u8>)]) -> (Vec<u8>, u32) {
        let mut bytes = Vec::new();
        let mut hasher = crc32fast::Hasher::new();
        let mut hashed = 0;
        for (key, value) in pairs {
            encode_pair(&mut bytes, key, value);
            hashed += hash_pair(&mut hasher, key, value);
        }
        assert_eq!(hashed, bytes.len() as u64);
        (bytes, hasher.finalize())
    }

    /// Pairs encoded and fed back in pieces of every size from 1 byte up come out whole, in order, with the hash `hash_pair` predicted.
    #[test]
    fn pairs_round_trip_in_pieces_of_any_size() {
        let pairs = pairs();
        let (bytes, checksum) = encode(&pairs);
        assert_eq!(checksum, crc32fast::hash(&bytes));
        for piece in [1, 2, 3, 5, 8, 13, 100, 4096, bytes.len()] {
            let mut decoder = PairDecoder::new(bytes.len() as u64);
            let mut decoded = Vec::new();
            for chunk in bytes.chunks(piece) {
                decoder
                    .feed(chunk, |key, value| {
                        decoded.push((key.to_vec(), value.to_vec()));
                        Ok(())
                    })
                    .unwrap();
            }
            assert_eq!(decoder.finish().unwrap(), (checksum, bytes.len() as u64));
            assert_eq!(decoded, pairs, "pieces of {piece} bytes");
        }
    }

    /// A column family cut inside a pair is refused when it ends.
    #[test]
    fn a_stream_ending_inside_a_pair_is_refused() {
        let (bytes, _) = encode(&pairs());
        let mut decoder = PairDecoder::new(bytes.len() as u64);
        decoder
            .feed(&bytes[..bytes.len() - 3], |_, _| Ok(()))
            .unwrap();
        let error = decoder.finish().unwrap_err().to_string();
        assert!(error.contains("inside a pair"), "{error}");
    }

    /// A length prefix pointing past the column family's end is refused at once, before any byte of it arrives.
    #[test]
    fn a_length_past_the_end_is_refused_at_once() {
        let (mut bytes, _) = encode(&pairs());
        // The first pair's value length becomes enormous.
        let value_at = LENGTH_BYTES + read_length(&bytes[..LENGTH_BYTES]) as usize;
        bytes[value_at..value_at + LENGTH_BYTES].copy_from_slice(&u64::MAX.to_le_bytes());
        let mut decoder = PairDecoder::new(bytes.len() as u64);
        let mut visited = 0;
        let error = decoder
            .feed(&bytes[..value_at + LENGTH_BYTES], |_, _| {
                visited += 1;
                Ok(())
            })
            .unwrap_err()
            .to_string();
        assert!(error.contains("runs past"), "{error}");
        assert_eq!(visited, 0);
    }

    /// More bytes than the meta gives the column family are refused.
    #[test]
    fn bytes_beyond_the_size_are_refused() {
        let (bytes, _) = encode(&pairs());
        let mut decoder = PairDecoder::new(bytes.len() as u64 - 1);
        let error = decoder.feed(&bytes, |_, _| Ok(())).unwrap_err().to_string();
        assert!(error.contains("more than"), "{error}");
    }

    /// An error from the visitor (say, a key outside the region) stops the decoding and comes back.
    #[test]
    fn a_visitor_error_stops_the_decoding() {
        let (bytes, _) = encode(&pairs());
        let mut decoder = PairDecoder::new(bytes.len() as u64);
        let mut visited = 0;
        let error = decoder
            .feed(&bytes, |_, _| {
                visited += 1;
                Err(Error::Snapshot("outside the region".to_string()))
            })
            .unwrap_err();
        assert!(error.to_string().contains("outside the region"));
        assert_eq!(visited, 1);
    }
}
