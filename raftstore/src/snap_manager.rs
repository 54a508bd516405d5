//! [`SnapManager`]: the snapshot directory of one store, and the registry
//! of the snapshots in it.
//!
//! Files (all in one directory per store):
//!
//! | file | written by | meaning |
//! |---|---|---|
//! | `rev_{region}_{term}_{index}_{cf}.sst` | snap_runner (receive) | a received snapshot, one SST per non-empty column family |
//! | `rev_{region}_{term}_{index}.meta` | snap_runner (receive) | their `SnapshotMeta`: every file's CF, size and CRC32 |
//! | `gen_{region}_{term}_{index}_{cf}.sst`, `gen_….meta` | region worker (export) | an exported snapshot, in the export's own directory |
//! | `*.tmp` | anyone | a file being written; renamed when complete |
//!
//! A generated snapshot has no files: it is the engine snapshot the raft
//! worker pinned at the snapshot's index, kept here in memory with its
//! meta (the size and CRC32 of each column family's pairs) until it is
//! idle for `snapshot_gc_idle_timeout` ([`SnapManager::keep_generated`]).
//! snap_runner streams the pairs straight from it, and the follower
//! writes them into SST files: the region reaches a disk once, on the
//! follower, instead of being written to SST files on the leader, read
//! back and written again (see docs/snapshot.md).
//!
//! Every file is written as `NAME.tmp`, fsynced, renamed to `NAME`, and the
//! directory fsynced: a crash leaves either the complete file or a `.tmp`
//! that GC removes, never a half-written file under the real name.
//!
//! The registry tracks which snapshots are in use (generating, sending,
//! receiving, applying). GC (on the store tick) deletes only files that are
//! not in use, idle for longer than `snapshot_gc_idle_timeout`, and not
//! needed by a region in the Applying state: TiKV #11746 lost data by
//! deleting a snapshot that an applying region still needed. When the
//! directory grows past `snapshot_max_total_size`, idle files go first,
//! oldest first, whatever their age.
//!
//! Shared by the region worker, snap_runner and the store worker (clones
//! share one registry behind a mutex; no other lock is taken while it is held).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use log::{info, warn};
use proto::raft_serverpb::{SnapshotCfFile, SnapshotMeta};
use protobuf::Message as _;
use storage::EngineSnapshot;

use crate::errors::{Error, Result};
use crate::snapshot_metrics::{SnapshotMetrics, SnapshotPhase};

/// Identifies one snapshot: the region and the log position it was taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapKey {
    /// The region.
    pub region_id: u64,
    /// The term of the entry at `index`.
    pub term: u64,
    /// The applied index the snapshot represents.
    pub index: u64,
}

impl std::fmt::Display for SnapKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}_{}", self.region_id, self.term, self.index)
    }
}

/// Which side a snapshot's files belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapKind {
    /// Generated here, to be sent: kept in memory (see the module docs);
    /// as `gen_` files only in an export's directory.
    Generated,
    /// Received here (`rev_` files), to be applied.
    Received,
}

impl SnapKind {
    fn prefix(self) -> &'static str {
        match self {
            SnapKind::Generated => "gen",
            SnapKind::Received => "rev",
        }
    }
}

/// What a registered snapshot is being used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapUse {
    /// The region worker is writing it.
    Generating,
    /// snap_runner is streaming it to another store.
    Sending,
    /// snap_runner is writing it from a stream.
    Receiving,
    /// The region worker is ingesting it.
    Applying,
}

#[derive(Debug, Default)]
struct Registry {
    /// Snapshots in use, with how many users each.
    in_use: HashMap<(SnapKind, SnapKey), Vec<SnapUse>>,
    /// Received snapshots checked on receipt (see `SnapManager::mark_verified`).
    verified: HashSet<SnapKey>,
    /// Generated snapshots: pinned engine snapshots and their metas.
    generated: HashMap<SnapKey, GeneratedSnapshot>,
}

/// A generated snapshot (see the module docs): what snap_runner streams.
#[derive(Debug, Clone)]
pub struct GeneratedSnapshot {
    /// The kv engine at exactly the snapshot's index. Holding it pins
    /// the engine's data as of then (RocksDB keeps what it needs), so it
    /// is let go once idle.
    pub kv_snapshot: EngineSnapshot,
    /// The size and CRC32 of each non-empty column family's pairs.
    pub meta: SnapshotMeta,
    /// When it was generated or last handed out.
    last_used: Instant,
}

/// The snapshot directory and registry (cheap to clone; clones share both).
#[derive(Debug, Clone)]
pub struct SnapManager {
    dir: PathBuf,
    registry: Arc<Mutex<Registry>>,
    idle_timeout: Duration,
    max_total_size: u64,
    /// How many GC rounds have finished, so a test can wait for "GC ran"
    /// itself instead of sleeping and hoping it did.
    gc_rounds: Arc<AtomicU64>,
    /// Per-phase timers of this store's snapshots (every worker that
    /// touches snapshot files already holds this manager).
    metrics: SnapshotMetrics,
}

/// Parses `gen_1_5_10_default.sst` / `rev_1_5_10.meta` into kind and key.
fn parse_file_name(name: &str) -> Option<(SnapKind, SnapKey)> {
    let stem = name.strip_suffix(".tmp").unwrap_or(name);
    let stem = stem
        .strip_suffix(".sst")
        .or_else(|| stem.strip_suffix(".meta"))?;
    let mut parts = stem.split('_');
    let kind = match parts.next()? {
        "gen" => SnapKind::Generated,
        "rev" => SnapKind::Received,
        _ => return None,
    };
    let region_id = parts.next()?.parse().ok()?;
    let term = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    Some((
        kind,
        SnapKey {
            region_id,
            term,
            index,
        },
    ))
}

/// Writes `path` crash-safely: `.tmp`, fsync, rename, fsync the directory.
pub fn write_file_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let temporary = temporary_path(path);
    {
        let mut file = File::create(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    publish_file(&temporary, path)
}

/// `path` + `.tmp`.
pub fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Renames a complete, synced `.tmp` file to its real name and fsyncs the
/// directory so the rename itself survives a crash.
pub fn publish_file(temporary: &Path, path: &Path) -> Result<()> {
    fs::rename(temporary, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Compares a file's CRC32 and size (however they were computed) with
/// what its meta says.
pub fn check_file(path: &Path, expected: &SnapshotCfFile, checksum: u32, size: u64) -> Result<()> {
    if size != expected.size {
        return Err(Error::Snapshot(format!(
            "{}: size {size} but the meta says {}",
            path.display(),
            expected.size
        )));
    }
    if checksum != expected.checksum {
        return Err(Error::Snapshot(format!(
            "{}: checksum {checksum:#010x} but the meta says {:#010x}",
            path.display(),
            expected.checksum
        )));
    }
    Ok(())
}

/// CRC32 and size of a file, read in 1 MiB blocks. Used where a file's
/// bytes were not seen as they were written: checking received files again
/// after a restart (`SnapManager::verify`) and an export's files in
/// `tinykv ctl`. Writers that can hash while writing do
/// (`SstWriter::finish_with_checksum`, `ChecksummedWriter`).
pub fn file_checksum(path: &Path) -> Result<(u32, u64)> {
    use std::io::Read;
    let mut file = File::open(path)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((hasher.finalize(), size))
}

/// Drops `length` bytes from `offset` of a snapshot file from the page
/// cache. Snapshot files are read or written once, in one sequential pass
/// (the SSTs are then moved into RocksDB, which reads them when it needs
/// them): keeping their pages only fills memory, and an I/O that lets its
/// pages go keeps reusing the same few MiB of page cache instead of
/// taking a fresh page for every 4 KiB of the snapshot (on a virtual
/// machine whose host backs guest memory lazily, the first touch of a
/// page costs more than the disk: measured 3-4 ms per fresh MiB on the
/// project's test machines). A failed hint only leaves the pages cached.
pub fn drop_behind(file: &File, offset: u64, length: u64) {
    if let Some(length) = std::num::NonZeroU64::new(length) {
        let _ = rustix::fs::fadvise(file, offset, Some(length), rustix::fs::Advice::DontNeed);
    }
}

/// Asks the kernel to start writing `length` bytes from `offset` of `file`
/// to the disk, without waiting (`sync_file_range` with
/// `SYNC_FILE_RANGE_WRITE`); with `wait`, it first waits for any writeback
/// of the range already under way and then for this one to end. This is
/// pacing, not durability: it neither flushes the disk's cache nor the
/// file's metadata, so whoever needs the bytes durable still fsyncs. A
/// failure is ignored here for the same reason: the fsync that follows
/// reports the file's writeback errors (Linux keeps them for every open
/// descriptor).
pub fn write_behind(file: &File, offset: u64, length: u64, wait: bool) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(length)) = (i64::try_from(offset), i64::try_from(length)) else {
        return;
    };
    let flags = if wait {
        libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER
    } else {
        libc::SYNC_FILE_RANGE_WRITE
    };
    // SAFETY: sync_file_range only reads its integer arguments; the
    // descriptor is open for as long as `file` is borrowed.
    let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, length, flags) };
}

impl SnapManager {
    /// A manager for `dir` (created if missing).
    pub fn new(
        dir: impl Into<PathBuf>,
        idle_timeout: Duration,
        max_total_size: u64,
    ) -> Result<SnapManager> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(SnapManager {
            dir,
            registry: Arc::new(Mutex::new(Registry::default())),
            idle_timeout,
            max_total_size,
            gc_rounds: Arc::new(AtomicU64::new(0)),
            metrics: SnapshotMetrics::default(),
        })
    }

    /// The snapshot directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where this store's snapshot time goes, phase by phase.
    pub fn metrics(&self) -> &SnapshotMetrics {
        &self.metrics
    }

    /// The path of one column family's SST file of a snapshot.
    pub fn sst_path(&self, kind: SnapKind, key: SnapKey, cf: &str) -> PathBuf {
        self.dir.join(format!("{}_{key}_{cf}.sst", kind.prefix()))
    }

    /// The path of a snapshot's meta file.
    pub fn meta_path(&self, kind: SnapKind, key: SnapKey) -> PathBuf {
        self.dir.join(format!("{}_{key}.meta", kind.prefix()))
    }

    /// Writes a snapshot's meta file, last of its files.
    ///
    /// A received meta is written durably (`.tmp`, fsync, rename, fsync
    /// of the directory): raft hears of the snapshot only after this, and
    /// once it persisted `Applying` a restart re-applies from these files,
    /// so they (already fsynced by the receiver) and their names must be on
    /// disk; the one directory fsync makes every rename of the snapshot
    /// durable at once.
    ///
    /// A generated meta (an export's, in its own directory) is not synced,
    /// nor the renames of its SST files: an export is read right away by
    /// whoever asked for it, and a crash before that loses only the export.
    pub fn write_meta(&self, kind: SnapKind, key: SnapKey, meta: &SnapshotMeta) -> Result<()> {
        let bytes = meta.write_to_bytes()?;
        let path = self.meta_path(kind, key);
        match kind {
            SnapKind::Received => write_file_atomically(&path, &bytes),
            SnapKind::Generated => {
                // Renamed when complete, so a reader never sees half a meta.
                let temporary = temporary_path(&path);
                fs::write(&temporary, &bytes)?;
                fs::rename(&temporary, &path)?;
                Ok(())
            }
        }
    }

    /// Records that a received snapshot's files were checked against their
    /// meta while they were written (`SnapshotReceiver`), so applying them
    /// in this run need not read them again. A restart forgets it: a
    /// snapshot re-applied after a restart is verified from disk.
    pub fn mark_verified(&self, key: SnapKey) {
        self.lock_registry().verified.insert(key);
    }

    /// Whether a received snapshot was checked on receipt in this run
    /// (see [`SnapManager::mark_verified`]) and its files not deleted since.
    pub fn is_verified(&self, key: SnapKey) -> bool {
        self.lock_registry().verified.contains(&key)
    }

    /// Keeps a generated snapshot (`RegionWorker::generate`): the pinned
    /// engine snapshot and the meta that describes its pairs. Older
    /// snapshots of the same region that nobody is using are let go at
    /// once: raft asks for a new snapshot only when the old one no longer
    /// does, and each one held keeps RocksDB from dropping overwritten
    /// data.
    pub fn keep_generated(&self, key: SnapKey, kv_snapshot: EngineSnapshot, meta: SnapshotMeta) {
        let generated = GeneratedSnapshot {
            kv_snapshot,
            meta,
            last_used: Instant::now(),
        };
        let mut registry = self.lock_registry();
        let Registry {
            in_use,
            generated: kept,
            ..
        } = &mut *registry;
        kept.retain(|old, _| {
            old.region_id != key.region_id
                || *old >= key
                || in_use.contains_key(&(SnapKind::Generated, *old))
        });
        kept.insert(key, generated);
    }

    /// The generated snapshot `key`, if it is still kept; counts as a use
    /// for the idle timeout.
    pub fn generated(&self, key: SnapKey) -> Option<GeneratedSnapshot> {
        let mut registry = self.lock_registry();
        let generated = registry.generated.get_mut(&key)?;
        generated.last_used = Instant::now();
        Some(generated.clone())
    }

    /// Lets go of generated snapshots that are not in use and were idle
    /// for the idle timeout (or all of `region_id`'s that are not in use,
    /// with `Some`). Returns how many it let go.
    fn release_generated(&self, region_id: Option<u64>) -> usize {
        let mut registry = self.lock_registry();
        let Registry {
            in_use, generated, ..
        } = &mut *registry;
        let before = generated.len();
        generated.retain(|key, snapshot| {
            let unused = !in_use.contains_key(&(SnapKind::Generated, *key));
            let expired = match region_id {
                Some(region_id) => key.region_id == region_id,
                None => snapshot.last_used.elapsed() >= self.idle_timeout,
            };
            !(unused && expired)
        });
        before - generated.len()
    }

    fn lock_registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads a snapshot's meta file.
    pub fn read_meta(&self, kind: SnapKind, key: SnapKey) -> Result<SnapshotMeta> {
        let path = self.meta_path(kind, key);
        let bytes = fs::read(&path)?;
        SnapshotMeta::parse_from_bytes(&bytes).map_err(|error| {
            Error::Snapshot(format!("corrupt meta file {}: {error}", path.display()))
        })
    }

    /// Checks every file named in `meta` against its recorded size and
    /// CRC32, reading the files; for a meta with `pair_checksums` (a
    /// receiver's SST files), only the sizes: the pairs are checked once
    /// ingested (`RegionWorker::apply`).
    pub fn verify(&self, kind: SnapKind, key: SnapKey, meta: &SnapshotMeta) -> Result<()> {
        let _verifying = self.metrics.time(SnapshotPhase::Verify);
        for file in &meta.cf_files {
            let path = self.sst_path(kind, key, &file.cf);
            if meta.pair_checksums {
                // A receiver's files: the checksums are of the pairs, not
                // the file (see `SnapshotMeta`). The meta is written after
                // the files are synced, so a file cut short means a
                // damaged disk, not a crash.
                let size = fs::metadata(&path)
                    .map_err(|error| Error::Snapshot(format!("{}: {error}", path.display())))?
                    .len();
                if size != file.size {
                    return Err(Error::Snapshot(format!(
                        "{}: size {size} but the meta says {}",
                        path.display(),
                        file.size
                    )));
                }
                continue;
            }
            let (checksum, size) = file_checksum(&path)
                .map_err(|error| Error::Snapshot(format!("{}: {error}", path.display())))?;
            check_file(&path, file, checksum, size)?;
        }
        Ok(())
    }

    /// Deletes every file of one snapshot (files that are already gone are fine).
    pub fn delete(&self, kind: SnapKind, key: SnapKey) {
        match kind {
            SnapKind::Received => self.lock_registry().verified.remove(&key),
            SnapKind::Generated => self.lock_registry().generated.remove(&key).is_some(),
        };
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if parse_file_name(&name.to_string_lossy()) == Some((kind, key)) {
                if let Err(error) = fs::remove_file(entry.path()) {
                    warn!(
                        "snapshot {key}: cannot delete {}: {error}",
                        entry.path().display()
                    );
                }
            }
        }
    }

    /// Marks a snapshot as in use; it is safe from GC until `release`.
    pub fn register(&self, kind: SnapKind, key: SnapKey, usage: SnapUse) {
        let mut registry = self.lock_registry();
        registry.in_use.entry((kind, key)).or_default().push(usage);
    }

    /// Ends one use of a snapshot.
    pub fn release(&self, kind: SnapKind, key: SnapKey, usage: SnapUse) {
        let mut registry = self.lock_registry();
        if let Some(uses) = registry.in_use.get_mut(&(kind, key)) {
            if let Some(position) = uses.iter().position(|used| *used == usage) {
                uses.remove(position);
            }
            if uses.is_empty() {
                registry.in_use.remove(&(kind, key));
            }
        }
    }

    /// Whether a snapshot is registered as in use.
    pub fn is_in_use(&self, kind: SnapKind, key: SnapKey) -> bool {
        let registry = self.lock_registry();
        registry.in_use.contains_key(&(kind, key))
    }

    /// Total bytes in the snapshot directory.
    pub fn total_size(&self) -> u64 {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        entries
            .flatten()
            .filter_map(|entry| entry.metadata().ok())
            .map(|metadata| metadata.len())
            .sum()
    }

    /// Every snapshot with files in the directory, with its files.
    pub fn list(&self) -> Vec<(SnapKind, SnapKey, Vec<PathBuf>)> {
        let mut found: HashMap<(SnapKind, SnapKey), Vec<PathBuf>> = HashMap::new();
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if let Some(id) = parse_file_name(&entry.file_name().to_string_lossy()) {
                    found.entry(id).or_default().push(entry.path());
                }
            }
        }
        let mut list: Vec<_> = found
            .into_iter()
            .map(|((kind, key), files)| (kind, key, files))
            .collect();
        list.sort_by_key(|(_, key, _)| *key);
        list
    }

    /// Garbage-collects snapshot files (see the module docs). Never deletes
    /// a snapshot in use or a received snapshot of a region listed in
    /// `applying_regions`. Returns how many snapshots it deleted.
    pub fn gc(&self, applying_regions: &[u64]) -> usize {
        let now = SystemTime::now();
        let mut candidates = Vec::new();
        for (kind, key, files) in self.list() {
            if self.is_in_use(kind, key) {
                continue;
            }
            if kind == SnapKind::Received && applying_regions.contains(&key.region_id) {
                continue;
            }
            let newest = files
                .iter()
                .filter_map(|path| {
                    fs::metadata(path)
                        .and_then(|metadata| metadata.modified())
                        .ok()
                })
                .max()
                .unwrap_or(now);
            let idle = now.duration_since(newest).unwrap_or_default();
            let size: u64 = files
                .iter()
                .filter_map(|path| fs::metadata(path).ok())
                .map(|metadata| metadata.len())
                .sum();
            candidates.push((idle, kind, key, size));
        }
        // Oldest first.
        candidates.sort_by_key(|candidate| std::cmp::Reverse(candidate.0));
        let mut total = self.total_size();
        let mut deleted = 0;
        for (idle, kind, key, size) in candidates {
            let expired = idle >= self.idle_timeout;
            let over_cap = total > self.max_total_size;
            if !expired && !over_cap {
                continue;
            }
            info!(
                "snapshot GC: deleting {}_{key} (idle {:?}{})",
                kind.prefix(),
                idle,
                if over_cap {
                    ", directory over its size cap"
                } else {
                    ""
                }
            );
            self.delete(kind, key);
            total = total.saturating_sub(size);
            deleted += 1;
        }
        let released = self.release_generated(None);
        if released > 0 {
            info!("snapshot GC: let go of {released} idle generated snapshot(s)");
        }
        deleted += released;
        self.gc_rounds.fetch_add(1, Ordering::SeqCst);
        deleted
    }

    /// Deletes every snapshot of `region_id` that is not in use (its region
    /// was destroyed on this store). Returns how many it deleted.
    pub fn delete_region(&self, region_id: u64) -> usize {
        let mut deleted = 0;
        for (kind, key, _) in self.list() {
            if key.region_id == region_id && !self.is_in_use(kind, key) {
                self.delete(kind, key);
                deleted += 1;
            }
        }
        deleted + self.release_generated(Some(region_id))
    }

    /// How many GC rounds ([`SnapManager::gc`]) have finished so far.
    pub fn gc_rounds(&self) -> u64 {
        self.gc_rounds.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Snapshot file names parse back into their kind and key.
    #[test]
    fn file_names_round_trip() {
        let manager = SnapManager::new(
            tempfile::tempdir().unwrap().path().join("snap"),
            Duration::ZERO,
            u64::MAX,
        )
        .unwrap();
        let key = SnapKey {
            region_id: 3,
            term: 7,
            index: 42,
        };
        let path = manager.sst_path(SnapKind::Received, key, "write");
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(parse_file_name(&name), Some((SnapKind::Received, key)));
        assert_eq!(
            parse_file_name("gen_3_7_42.meta.tmp"),
            Some((SnapKind::Generated, key))
        );
        assert_eq!(parse_file_name("LOCK"), None);
    }

    /// GC deletes idle snapshots but keeps those in use and those of applying regions.
    #[test]
    fn gc_keeps_snapshots_in_use_and_applying() {
        let dir = tempfile::tempdir().unwrap();
        let manager = SnapManager::new(dir.path(), Duration::ZERO, u64::MAX).unwrap();
        let idle = SnapKey {
            region_id: 1,
            term: 1,
            index: 10,
        };
        let busy = SnapKey {
            region_id: 2,
            term: 1,
            index: 10,
        };
        let applying = SnapKey {
            region_id: 3,
            term: 1,
            index: 10,
        };
        for key in [idle, busy, applying] {
            write_file_atomically(
                &manager.sst_path(SnapKind::Received, key, "default"),
                b"data",
            )
            .unwrap();
        }
        manager.register(SnapKind::Received, busy, SnapUse::Receiving);
        assert_eq!(manager.gc(&[3]), 1);
        assert!(!manager
            .sst_path(SnapKind::Received, idle, "default")
            .exists());
        assert!(manager
            .sst_path(SnapKind::Received, busy, "default")
            .exists());
        assert!(manager
            .sst_path(SnapKind::Received, applying, "default")
            .exists());
        manager.release(SnapKind::Received, busy, SnapUse::Receiving);
        assert_eq!(manager.gc(&[3]), 1);
        assert!(!manager
            .sst_path(SnapKind::Received, busy, "default")
            .exists());
    }

    /// A manager on a fresh directory holding one received file with `contents`.
    fn manager_with_file(contents: &[u8]) -> (tempfile::TempDir, SnapManager, SnapKey, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let manager = SnapManager::new(dir.path(), Duration::from_secs(60), u64::MAX).unwrap();
        let key = SnapKey {
            region_id: 1,
            term: 1,
            index: 1,
        };
        let path = manager.sst_path(SnapKind::Received, key, "default");
        write_file_atomically(&path, contents).unwrap();
        (dir, manager, key, path)
    }

    /// A meta describing one default-CF file of `size` bytes and `checksum`.
    fn one_file_meta(size: u64, checksum: u32, pair_checksums: bool) -> SnapshotMeta {
        let mut meta = SnapshotMeta::new();
        meta.pair_checksums = pair_checksums;
        let mut file = proto::raft_serverpb::SnapshotCfFile::new();
        file.cf = "default".to_string();
        file.size = size;
        file.checksum = checksum;
        meta.cf_files.push(file);
        meta
    }

    /// A file whose bytes changed fails verification with a checksum error.
    #[test]
    fn verify_detects_corruption() {
        let (_dir, manager, key, path) = manager_with_file(b"hello");
        let (checksum, size) = file_checksum(&path).unwrap();
        let meta = one_file_meta(size, checksum, false);
        manager.verify(SnapKind::Received, key, &meta).unwrap();
        write_file_atomically(&path, b"hellp").unwrap();
        let error = manager.verify(SnapKind::Received, key, &meta).unwrap_err();
        assert!(error.to_string().contains("checksum"), "{error}");
    }

    /// A meta with pair checksums (a receiver's SST files) is verified by size: a file cut short fails, one the same size passes.
    #[test]
    fn verify_checks_sizes_of_a_pair_checksums_meta() {
        let (_dir, manager, key, path) = manager_with_file(b"hello");
        let meta = one_file_meta(5, 0, true);
        manager.verify(SnapKind::Received, key, &meta).unwrap();
        write_file_atomically(&path, b"hell").unwrap();
        let error = manager.verify(SnapKind::Received, key, &meta).unwrap_err();
        assert!(error.to_string().contains("size 4"), "{error}");
    }

    /// A generated snapshot is kept until it is idle for the idle timeout, a newer one of its region replaces it, or its region is destroyed; never while in use.
    #[test]
    fn generated_snapshots_are_let_go_when_idle_or_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        let engine = storage::Engine::open_kv(dir.path().join("kv")).unwrap();
        let manager = SnapManager::new(dir.path().join("snap"), Duration::ZERO, u64::MAX).unwrap();
        let key = |region_id| SnapKey {
            region_id,
            term: 1,
            index: 5,
        };
        for region_id in [1, 2, 3] {
            manager.keep_generated(key(region_id), engine.snapshot(), SnapshotMeta::new());
        }
        // A newer snapshot of region 3 replaces the idle older one.
        let newer = SnapKey { index: 9, ..key(3) };
        manager.keep_generated(newer, engine.snapshot(), SnapshotMeta::new());
        assert!(manager.generated(key(3)).is_none());
        assert!(manager.generated(newer).is_some());
        manager.register(SnapKind::Generated, key(1), SnapUse::Sending);
        // Idle timeout zero: every snapshot not in use is let go by GC.
        assert_eq!(manager.gc(&[]), 2);
        assert!(manager.generated(newer).is_none());
        assert!(manager.generated(key(1)).is_some());
        assert!(manager.generated(key(2)).is_none());
        // A destroyed region's snapshot in use stays until released.
        assert_eq!(manager.delete_region(1), 0);
        manager.release(SnapKind::Generated, key(1), SnapUse::Sending);
        assert_eq!(manager.delete_region(1), 1);
        assert!(manager.generated(key(1)).is_none());
    }
}
