//! Key encodings: where every piece of state lives in the two engines.
//!
//! User keys and raftstore's own metadata share the kv engine, so they are
//! kept apart by their first byte: metadata ("local" keys) starts with
//! `0x01`, user data with `z` (`0x7a`). A user key that happens to start
//! with `0x01` is stored as `z\x01...` and can never collide with metadata.
//! Integers are big-endian, so byte order equals numeric order and a range
//! of log entries is a contiguous key range.
//!
//! | what | key layout | engine | CF | value |
//! |---|---|---|---|---|
//! | store ident | `0x01 0x01` | kv | default | `StoreIdent` |
//! | prepared first region | `0x01 0x02` (shorter than every region raft key, as in TiKV) | kv | default | `metapb::Region`, until the scheduler confirmed the cluster's bootstrap |
//! | raft log entry | `0x01 0x02 region_id(u64 BE) 0x01 log_index(u64 BE)` | raft | default | `eraftpb::Entry` |
//! | raft state | `0x01 0x02 region_id(u64 BE) 0x02` | raft | default | `RaftLocalState` |
//! | apply state | `0x01 0x02 region_id(u64 BE) 0x03` | kv | default | `RaftApplyState` |
//! | snapshot raft state | `0x01 0x02 region_id(u64 BE) 0x04` | kv | default | `RaftLocalState` (raft state of a snapshot being applied) |
//! | region state | `0x01 0x03 region_id(u64 BE) 0x01` | kv | default | `RegionLocalState` |
//! | user data | `z user_key` | kv | default / lock / write | the user's value |
//!
//! The raft log key of a region sorts before its raft state key, which sorts
//! before its apply state key: a region's raft keys are one contiguous range
//! (`region_raft_prefix` .. `region_raft_prefix_end`), which is what
//! destroying a region deletes.
//!
//! Region boundaries (`Region.start_key` / `end_key`) are user keys; an empty
//! end key means "no upper bound". [`data_key`] and [`data_end_key`] turn
//! them into the kv engine's key space.

/// First byte of every raftstore metadata key.
pub const LOCAL_PREFIX: u8 = 0x01;
/// Second byte of per-region raft keys (log, raft state, apply state).
pub const REGION_RAFT_PREFIX: u8 = 0x02;
/// Second byte of per-region metadata keys (region state).
pub const REGION_META_PREFIX: u8 = 0x03;
/// Suffix of a raft log entry key.
pub const RAFT_LOG_SUFFIX: u8 = 0x01;
/// Suffix of the raft state key.
pub const RAFT_STATE_SUFFIX: u8 = 0x02;
/// Suffix of the apply state key.
pub const APPLY_STATE_SUFFIX: u8 = 0x03;
/// Suffix of the snapshot raft state key.
pub const SNAPSHOT_RAFT_STATE_SUFFIX: u8 = 0x04;
/// Suffix of the region state key.
pub const REGION_STATE_SUFFIX: u8 = 0x01;

/// The store ident key.
pub const STORE_IDENT_KEY: &[u8] = &[LOCAL_PREFIX, 0x01];
/// The first region a store wrote while bootstrapping a new cluster, until
/// the scheduler confirmed it (a `metapb::Region`; see
/// `raftstore::bootstrap::prepare_bootstrap_cluster`).
pub const PREPARE_BOOTSTRAP_KEY: &[u8] = &[LOCAL_PREFIX, 0x02];

/// First byte of every user data key in the kv engine.
pub const DATA_PREFIX: u8 = b'z';
/// The smallest data key (the start of the data key space).
pub const DATA_MIN_KEY: &[u8] = &[DATA_PREFIX];
/// One past the largest data key (`z` + 1 = `{`).
pub const DATA_MAX_KEY: &[u8] = &[DATA_PREFIX + 1];

fn region_raft_key(region_id: u64, suffix: u8) -> Vec<u8> {
    let mut key = Vec::with_capacity(11);
    key.push(LOCAL_PREFIX);
    key.push(REGION_RAFT_PREFIX);
    key.extend_from_slice(&region_id.to_be_bytes());
    key.push(suffix);
    key
}

/// The key of raft log entry `log_index` of `region_id` (raft engine).
pub fn raft_log_key(region_id: u64, log_index: u64) -> Vec<u8> {
    let mut key = region_raft_key(region_id, RAFT_LOG_SUFFIX);
    key.extend_from_slice(&log_index.to_be_bytes());
    key
}

/// The prefix shared by every log entry key of `region_id`.
pub fn raft_log_prefix(region_id: u64) -> Vec<u8> {
    region_raft_key(region_id, RAFT_LOG_SUFFIX)
}

/// Reads the log index back out of a raft log key; `None` if `key` is not
/// a raft log key (wrong length or prefix).
pub fn raft_log_index(key: &[u8]) -> Option<u64> {
    if key.len() != 19
        || key[0] != LOCAL_PREFIX
        || key[1] != REGION_RAFT_PREFIX
        || key[10] != RAFT_LOG_SUFFIX
    {
        return None;
    }
    let mut index = [0u8; 8];
    index.copy_from_slice(&key[11..19]);
    Some(u64::from_be_bytes(index))
}

/// The raft state key of `region_id` (raft engine).
pub fn raft_state_key(region_id: u64) -> Vec<u8> {
    region_raft_key(region_id, RAFT_STATE_SUFFIX)
}

/// The apply state key of `region_id` (kv engine).
pub fn apply_state_key(region_id: u64) -> Vec<u8> {
    region_raft_key(region_id, APPLY_STATE_SUFFIX)
}

/// The snapshot raft state key of `region_id` (kv engine): the raft state
/// that goes with a snapshot being applied, written in the same kv batch as
/// the `Applying` region state so a restart can finish the job.
pub fn snapshot_raft_state_key(region_id: u64) -> Vec<u8> {
    region_raft_key(region_id, SNAPSHOT_RAFT_STATE_SUFFIX)
}

/// Start of all raft keys of `region_id` (log, raft state, apply state).
pub fn region_raft_prefix(region_id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(10);
    key.push(LOCAL_PREFIX);
    key.push(REGION_RAFT_PREFIX);
    key.extend_from_slice(&region_id.to_be_bytes());
    key
}

/// One past the last raft key of `region_id`.
pub fn region_raft_prefix_end(region_id: u64) -> Vec<u8> {
    region_raft_prefix(region_id.wrapping_add(1))
}

/// The region state key of `region_id` (kv engine).
pub fn region_state_key(region_id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(11);
    key.push(LOCAL_PREFIX);
    key.push(REGION_META_PREFIX);
    key.extend_from_slice(&region_id.to_be_bytes());
    key.push(REGION_STATE_SUFFIX);
    key
}

/// Start of every region state key (store startup scans them all).
pub fn region_meta_min_key() -> Vec<u8> {
    vec![LOCAL_PREFIX, REGION_META_PREFIX]
}

/// One past the last region state key.
pub fn region_meta_max_key() -> Vec<u8> {
    vec![LOCAL_PREFIX, REGION_META_PREFIX + 1]
}

/// Reads the region id back out of a region state key.
pub fn region_id_from_meta_key(key: &[u8]) -> Option<u64> {
    if key.len() != 11 || key[0] != LOCAL_PREFIX || key[1] != REGION_META_PREFIX {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&key[2..10]);
    Some(u64::from_be_bytes(id))
}

/// A user key as stored in the kv engine: `z` + key.
pub fn data_key(key: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(key.len() + 1);
    data.push(DATA_PREFIX);
    data.extend_from_slice(key);
    data
}

/// A region end key as a data key: an empty (unbounded) end key becomes
/// [`DATA_MAX_KEY`], which sorts after every data key.
pub fn data_end_key(end_key: &[u8]) -> Vec<u8> {
    if end_key.is_empty() {
        DATA_MAX_KEY.to_vec()
    } else {
        data_key(end_key)
    }
}

/// The user key inside a data key; `None` if `data` is not a data key.
pub fn origin_key(data: &[u8]) -> Option<&[u8]> {
    match data.split_first() {
        Some((&DATA_PREFIX, rest)) => Some(rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log keys sort by index, and a region's raft keys sort log < raft state < apply state.
    #[test]
    fn raft_keys_sort_as_documented() {
        assert!(raft_log_key(1, 9) < raft_log_key(1, 10));
        assert!(raft_log_key(1, u64::MAX) < raft_state_key(1));
        assert!(raft_state_key(1) < apply_state_key(1));
        assert!(apply_state_key(1) < region_raft_prefix_end(1));
        assert!(region_raft_prefix(1) <= raft_log_key(1, 0));
        assert!(raft_log_key(2, 0) >= region_raft_prefix_end(1));
    }

    /// A log key decodes back to its index; other keys do not decode.
    #[test]
    fn raft_log_index_round_trips() {
        assert_eq!(raft_log_index(&raft_log_key(7, 42)), Some(42));
        assert_eq!(raft_log_index(&raft_state_key(7)), None);
        assert_eq!(raft_log_index(b"zabc"), None);
    }

    /// Data keys carry the `z` prefix, and local keys never collide with them.
    #[test]
    fn data_keys_are_prefixed() {
        assert_eq!(data_key(b"a"), b"za".to_vec());
        assert_eq!(origin_key(&data_key(b"\x01\x01")), Some(&b"\x01\x01"[..]));
        assert!(STORE_IDENT_KEY < DATA_MIN_KEY);
        assert!(region_state_key(u64::MAX).as_slice() < DATA_MIN_KEY);
        assert_eq!(data_end_key(b""), DATA_MAX_KEY.to_vec());
        assert!(data_key(&[0xff; 16]) < data_end_key(b""));
    }

    /// Region state keys decode back to their region id.
    #[test]
    fn region_meta_key_round_trips() {
        let key = region_state_key(99);
        assert_eq!(region_id_from_meta_key(&key), Some(99));
        assert!(region_meta_min_key() <= key && key < region_meta_max_key());
    }
}
