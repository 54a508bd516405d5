//! The **region_task** worker ("region worker"): generates, applies and
//! destroys region snapshots, so the raft worker never touches bulk data.
//!
//! In: [`RegionTask`]s on the region worker mailbox, from the raft worker
//! (`PeerStorage::snapshot` schedules Generate; a follower's Ready with a
//! snapshot schedules Apply; a removed peer schedules Destroy) and from
//! `RaftStore::start` (re-apply a snapshot interrupted by a crash).
//! Out: generated snapshots on each task's one-shot channel, and
//! `PeerMsg::SnapshotGenerated` / `PeerMsg::SnapshotApplied` to the peer
//! through the router.
//!
//! Three threads: `region_task` routes tasks by kind, `region_task_apply`
//! runs Apply and Destroy in order, `region_task_gen` runs Generate. A long
//! Apply or Destroy (a large region being ingested or deleted) therefore
//! never holds up Generate for another region: TiKV #12587 stalled for 17
//! minutes with one queue (`generate_not_blocked_by_slow_apply` shows it).
//!
//! Lifecycle: started by `RaftStore::start`; each thread ends when its
//! mailbox's senders are all dropped (the raft worker and store worker hold
//! them), after finishing the task at hand.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use log::{error, warn};
use proto::eraftpb::{ConfState, Snapshot};
use proto::metapb::Region;
use proto::raft_serverpb::{
    PeerState, RaftSnapshotData, RegionLocalState, SnapshotCfFile, SnapshotFormat, SnapshotMeta,
};
use protobuf::Message as _;
use storage::{keys, EngineSnapshot, Engines, SstWriter, WriteBatch, ALL_CFS};

use crate::chain::chain;
use crate::errors::Result;
use crate::failpoints::failpoint;
use crate::msg::PeerMsg;
use crate::peer::snapshot_state::GenerateResult;
use crate::router::Router;
use crate::snap_manager::{temporary_path, SnapKey, SnapKind, SnapManager, SnapUse};
use crate::snapshot_metrics::SnapshotPhase;
use crate::snapshot_pairs::hash_pair;

/// Generate a snapshot of `region` at `index` from `kv_snapshot`.
#[derive(Debug)]
pub struct GenerateTask {
    /// The region as of `index`.
    pub region: Region,
    /// The kv engine at exactly `index` (taken on the raft worker).
    pub kv_snapshot: EngineSnapshot,
    /// The applied index the snapshot represents.
    pub index: u64,
    /// The term of the entry at `index`.
    pub term: u64,
    /// The membership at `index`.
    pub conf_state: ConfState,
    /// Where the result goes (the peer's SnapState::Generating receiver).
    pub notifier: Sender<GenerateResult>,
    /// For a user-requested snapshot: write it as files, and report.
    pub export: Option<ExportRequest>,
}

/// Where a user-requested snapshot goes, and who hears about it.
#[derive(Debug)]
pub struct ExportRequest {
    /// Directory to write the snapshot's SST files and meta to (None: only
    /// describe the snapshot, kept in memory).
    pub dir: Option<PathBuf>,
    /// Receives a one-line description of what happened.
    pub reply: Sender<std::result::Result<String, String>>,
}

/// Apply a received snapshot to the kv engine.
#[derive(Debug)]
pub struct ApplyTask {
    /// The region id.
    pub region_id: u64,
    /// The snapshot (its data names the region and the files).
    pub snapshot: Snapshot,
}

/// Delete the data and snapshot files of a destroyed region.
#[derive(Debug)]
pub struct DestroyTask {
    /// The region whose data to delete.
    pub region: Region,
    /// Whether to delete the region's data range. False for a peer that
    /// was never initialized: it holds no data, and its empty range would
    /// mean the whole key space.
    pub delete_data: bool,
}

/// A task for the region worker.
#[derive(Debug)]
pub enum RegionTask {
    /// See [`GenerateTask`].
    Generate(GenerateTask),
    /// See [`ApplyTask`].
    Apply(ApplyTask),
    /// See [`DestroyTask`].
    Destroy(DestroyTask),
}

/// The region worker's state (shared by its two threads by cloning).
#[derive(Clone)]
pub struct RegionWorker {
    store_id: u64,
    engines: Engines,
    snap_manager: SnapManager,
    router: Router,
}

impl RegionWorker {
    /// A worker for one store.
    pub fn new(
        store_id: u64,
        engines: Engines,
        snap_manager: SnapManager,
        router: Router,
    ) -> RegionWorker {
        RegionWorker {
            store_id,
            engines,
            snap_manager,
            router,
        }
    }

    /// Starts the worker's three threads: `region_task` only routes each
    /// task to the thread that runs its kind, `region_task_apply` runs
    /// Apply and Destroy in order, `region_task_gen` runs Generate. The
    /// router never runs a task itself, so a stuck Apply cannot keep a
    /// Generate waiting in its mailbox.
    pub fn start(self, mailbox: Receiver<RegionTask>) -> std::io::Result<Vec<JoinHandle<()>>> {
        let store_id = self.store_id;
        let (generate_sender, generate_mailbox) = crossbeam_channel::unbounded::<GenerateTask>();
        let (apply_sender, apply_mailbox) = crossbeam_channel::unbounded::<RegionTask>();
        let generator = self.clone();
        let generate_thread = std::thread::Builder::new()
            .name(format!("region_task_gen-{store_id}"))
            .spawn(move || {
                for task in generate_mailbox {
                    generator.handle_generate(task);
                }
            })?;
        let apply_thread = std::thread::Builder::new()
            .name(format!("region_task_apply-{store_id}"))
            .spawn(move || {
                for task in apply_mailbox {
                    match task {
                        RegionTask::Apply(task) => self.handle_apply(task),
                        RegionTask::Destroy(task) => self.handle_destroy(task),
                        RegionTask::Generate(task) => self.handle_generate(task),
                    }
                }
            })?;
        let router_thread = std::thread::Builder::new()
            .name(format!("region_task-{store_id}"))
            .spawn(move || {
                // When the mailbox closes, dropping both senders closes the
                // two work threads' mailboxes in turn.
                for task in mailbox {
                    let delivered = match task {
                        RegionTask::Generate(task) => generate_sender.send(task).is_ok(),
                        other => apply_sender.send(other).is_ok(),
                    };
                    if !delivered {
                        warn!("store {store_id}: a region worker thread is gone; task dropped");
                    }
                }
            })?;
        Ok(vec![router_thread, apply_thread, generate_thread])
    }

    fn handle_generate(&self, task: GenerateTask) {
        let region_id = task.region.id;
        let key = SnapKey {
            region_id,
            term: task.term,
            index: task.index,
        };
        // The same snapshot (region, term, index) may be kept already (a
        // second follower needs it, or a stream failed and raft asks
        // again): it is the region at that index either way, so its meta
        // is reused instead of scanning the region again.
        let kept = self.snap_manager.generated(key);
        chain!(
            "RegionWorker::handle_generate",
            region_id,
            task.index,
            "store {}: {}",
            self.store_id,
            if kept.is_some() {
                "reusing the snapshot kept for this index"
            } else {
                "pinning the region and hashing its pairs"
            }
        );
        self.snap_manager
            .register(SnapKind::Generated, key, SnapUse::Generating);
        let generating = self.snap_manager.metrics().time(SnapshotPhase::Generate);
        let result = match kept {
            Some(kept) => raft_snapshot(&task, kept.meta),
            None => self.generate(&task, key),
        };
        drop(generating);
        self.snap_manager
            .release(SnapKind::Generated, key, SnapUse::Generating);
        match result {
            Ok(snapshot) => {
                chain!(
                    "RegionWorker::handle_generate",
                    region_id,
                    task.index,
                    "store {}: snapshot generated ({} bytes of pairs)",
                    self.store_id,
                    RaftSnapshotData::parse_from_bytes(&snapshot.data)
                        .map(|data| data.file_size)
                        .unwrap_or(0)
                );
                if let Some(export) = &task.export {
                    let outcome = self
                        .export(key, &task, &snapshot, export.dir.as_deref())
                        .map_err(|error| error.to_string());
                    let _ = export.reply.send(outcome);
                    return;
                }
                let _ = task.notifier.send(Ok(snapshot));
                // Wake the leader: it retries the append that needed this
                // snapshot now rather than at the next heartbeat response.
                let _ = self.router.send(region_id, PeerMsg::SnapshotGenerated);
            }
            Err(error) => {
                warn!(
                    "store {}: [region {region_id}] snapshot generation at {} failed: {error}",
                    self.store_id, task.index
                );
                self.snap_manager.delete(SnapKind::Generated, key);
                if let Some(export) = task.export {
                    let _ = export.reply.send(Err(error.to_string()));
                    return;
                }
                let _ = task.notifier.send(Err(error.to_string()));
            }
        }
    }

    // lab 2C: begin [stub: Err(crate::errors::Error::Snapshot("lab 2C: snapshot generation is a stub".to_string()))] — hash each non-empty column family's pairs into the meta, keep the engine snapshot in the SnapManager (docs/labs/lab2c.md#generation)
    /// Describes the region's pairs in the pinned engine snapshot (each
    /// non-empty column family's size and CRC32 in the `KEY_VALUE_PAIRS`
    /// format), keeps the engine snapshot for snap_runner to stream from,
    /// and builds the raft snapshot. Nothing is written to disk here: the
    /// follower writes the pairs, once, into its SST files.
    fn generate(&self, task: &GenerateTask, key: SnapKey) -> Result<Snapshot> {
        let store_id = self.store_id;
        failpoint!("region_task_before_generate", store_id);
        let start = keys::data_key(&task.region.start_key);
        let end = keys::data_end_key(&task.region.end_key);
        let mut meta = SnapshotMeta::new();
        meta.set_format(SnapshotFormat::KEY_VALUE_PAIRS);
        for cf in ALL_CFS {
            // Hashed, not built: snap_runner builds the same bytes again,
            // chunk by chunk, from the same engine snapshot as it streams.
            let mut hasher = crc32fast::Hasher::new();
            let mut size = 0;
            task.kv_snapshot
                .scan_cf(cf, &start, &end, |data_key, value| {
                    size += hash_pair(&mut hasher, data_key, value);
                    Ok(true)
                })?;
            if size == 0 {
                continue;
            }
            let mut file = SnapshotCfFile::new();
            file.cf = cf.to_string();
            file.size = size;
            file.checksum = hasher.finalize();
            meta.cf_files.push(file);
        }
        self.snap_manager
            .keep_generated(key, task.kv_snapshot.clone(), meta.clone());
        failpoint!("region_task_after_generate", store_id);
        raft_snapshot(task, meta)
    }
    // lab 2C: end

    /// Writes a user-requested snapshot to `dir` as files anyone can
    /// inspect: one SST per non-empty column family (they open with
    /// RocksDB's `sst_dump`) and their meta, under the `gen_` names. No
    /// `dir`: only describes the snapshot, which stays in memory.
    fn export(
        &self,
        key: SnapKey,
        task: &GenerateTask,
        snapshot: &Snapshot,
        dir: Option<&std::path::Path>,
    ) -> Result<String> {
        let data = RaftSnapshotData::parse_from_bytes(&snapshot.data)?;
        let Some(dir) = dir else {
            return Ok(format!(
                "snapshot of region {} at index {} ({} bytes of pairs) kept in memory on store {}",
                key.region_id, key.index, data.file_size, self.store_id
            ));
        };
        let files = SnapManager::new(dir, Duration::MAX, u64::MAX)?;
        let start = keys::data_key(&task.region.start_key);
        let end = keys::data_end_key(&task.region.end_key);
        let mut meta = SnapshotMeta::new();
        meta.set_format(SnapshotFormat::SST_FILES);
        for cf in ALL_CFS {
            let path = files.sst_path(SnapKind::Generated, key, cf);
            let temporary = temporary_path(&path);
            let mut writer = SstWriter::create(&temporary)?;
            task.kv_snapshot
                .scan_cf(cf, &start, &end, |data_key, value| {
                    writer.put(data_key, value)?;
                    Ok(true)
                })?;
            let Some((checksum, size)) = writer.finish_with_checksum()? else {
                continue;
            };
            std::fs::rename(&temporary, &path)?;
            let mut file = SnapshotCfFile::new();
            file.cf = cf.to_string();
            file.size = size;
            file.checksum = checksum;
            meta.cf_files.push(file);
        }
        files.write_meta(SnapKind::Generated, key, &meta)?;
        Ok(format!(
            "snapshot of region {} at index {} exported to {} ({} SST files, {} bytes)",
            key.region_id,
            key.index,
            dir.display(),
            meta.cf_files.len(),
            meta.cf_files.iter().map(|file| file.size).sum::<u64>()
        ))
    }

    fn handle_apply(&self, task: ApplyTask) {
        let region_id = task.region_id;
        let index = task.snapshot.metadata().index;
        chain!(
            "RegionWorker::handle_apply",
            region_id,
            index,
            "store {}: verifying and ingesting",
            self.store_id
        );
        let applying = self.snap_manager.metrics().time(SnapshotPhase::Ingest);
        let outcome = self.apply(&task);
        drop(applying);
        let success = match outcome {
            Ok(()) => {
                chain!(
                    "RegionWorker::handle_apply",
                    region_id,
                    index,
                    "store {}: region marked Normal",
                    self.store_id
                );
                true
            }
            Err(error) => {
                error!(
                    "store {}: [region {region_id}] applying snapshot at {index} failed: {error}",
                    self.store_id
                );
                false
            }
        };
        let _ = self
            .router
            .send(region_id, PeerMsg::SnapshotApplied { success });
    }

    // lab 2C: begin [stub: Err(crate::errors::Error::Snapshot("lab 2C: snapshot apply is a stub".to_string()))] — verify, clear the range, ingest, check the pairs if not checked on receipt, then mark the region Normal (docs/labs/lab2c.md#applying)
    /// Verify, clear the old range, ingest, mark Normal (see the module docs).
    fn apply(&self, task: &ApplyTask) -> Result<()> {
        let store_id = self.store_id;
        let data = RaftSnapshotData::parse_from_bytes(&task.snapshot.data)?;
        let region = data.region().clone();
        let metadata = task.snapshot.metadata();
        let key = SnapKey {
            region_id: task.region_id,
            term: metadata.term,
            index: metadata.index,
        };
        self.snap_manager
            .register(SnapKind::Received, key, SnapUse::Applying);
        let result = (|| {
            let meta = data.meta();
            // The receiver (or a restart) put the meta of the SST files
            // it wrote here, in place of the leader's meta of its pairs.
            if meta.format() != SnapshotFormat::SST_FILES {
                return Err(crate::errors::Error::Snapshot(format!(
                    "snapshot {key}: the meta describes {:?}, not SST files",
                    meta.format()
                )));
            }
            // The receiver checked the files as it wrote them; only files
            // not checked in this run (a re-apply after a restart) are read
            // again, so a large snapshot is not read twice for nothing.
            let checked_on_receipt = self.snap_manager.is_verified(key);
            if !checked_on_receipt {
                if let Err(error) = self.snap_manager.verify(SnapKind::Received, key, meta) {
                    error!(
                        "store {store_id}: snapshot {key} rejected: {error}; deleting its files"
                    );
                    self.snap_manager.delete(SnapKind::Received, key);
                    return Err(error);
                }
            }
            failpoint!("region_task_before_ingest", store_id);
            let start = keys::data_key(&region.start_key);
            let end = keys::data_end_key(&region.end_key);
            // One unsynced batch: the synced Normal batch below syncs the
            // WAL up to it, and a crash before that re-applies from scratch.
            let clear_range = || {
                let mut clear = WriteBatch::new();
                for cf in ALL_CFS {
                    clear.delete_range_cf(cf, &start, &end);
                }
                self.engines.kv.write(clear, false)
            };
            clear_range()?;
            for file in &meta.cf_files {
                let path = self
                    .snap_manager
                    .sst_path(SnapKind::Received, key, &file.cf);
                // Ingest a hard link, so the rev_ file stays until the region
                // is Normal: a crash before that re-applies from it.
                let link = path.with_extension("ingest");
                let _ = std::fs::remove_file(&link);
                std::fs::hard_link(&path, &link)?;
                self.engines.kv.ingest_cf(&file.cf, &[link])?;
            }
            failpoint!("region_task_after_ingest", store_id);
            if !checked_on_receipt && meta.pair_checksums {
                if let Err(error) = self.check_ingested_pairs(&start, &end, meta) {
                    error!("store {store_id}: snapshot {key} rejected after ingest: {error}; clearing the range and deleting its files");
                    clear_range()?;
                    self.snap_manager.delete(SnapKind::Received, key);
                    return Err(error);
                }
            }
            let mut region_state = RegionLocalState::new();
            region_state.set_state(PeerState::Normal);
            region_state.region = Some(region.clone()).into();
            let mut batch = WriteBatch::new();
            batch.put_msg(&keys::region_state_key(region.id), &region_state)?;
            batch.delete(&keys::snapshot_raft_state_key(region.id));
            self.engines.kv.write(batch, true)?;
            Ok(())
        })();
        self.snap_manager
            .release(SnapKind::Received, key, SnapUse::Applying);
        if result.is_ok() {
            self.snap_manager.delete(SnapKind::Received, key);
        }
        result
    }
    // lab 2C: end

    /// Checks the pairs ingested into `[start, end)` against a receiver's
    /// meta (`pair_checksums`: the CRC32 of each column family's pairs, as
    /// the leader computed them), for files not checked in this run: after
    /// a restart the files are re-applied from disk, where a flipped bit
    /// keeps the file's size. A damaged data block fails here as a RocksDB
    /// read error, a changed pair as a CRC32 mismatch; either way before the
    /// region is Normal.
    fn check_ingested_pairs(&self, start: &[u8], end: &[u8], meta: &SnapshotMeta) -> Result<()> {
        let _verifying = self.snap_manager.metrics().time(SnapshotPhase::Verify);
        for cf in ALL_CFS {
            let mut hasher = crc32fast::Hasher::new();
            let mut size = 0;
            self.engines.kv.scan_cf(cf, start, end, |data_key, value| {
                size += hash_pair(&mut hasher, data_key, value);
                Ok(true)
            })?;
            let checksum = hasher.finalize();
            let expected = meta.cf_files.iter().find(|file| file.cf == cf);
            let matches = match expected {
                Some(file) => size > 0 && checksum == file.checksum,
                None => size == 0,
            };
            if !matches {
                return Err(crate::errors::Error::Snapshot(format!(
                    "column family {cf}: the ingested pairs ({size} bytes, CRC32 {checksum:#010x}) are not the snapshot's ({})",
                    expected.map_or("none".to_string(), |file| format!("CRC32 {:#010x}", file.checksum))
                )));
            }
        }
        Ok(())
    }

    fn handle_destroy(&self, task: DestroyTask) {
        let region = &task.region;
        // Snapshot files of the region (generated or received) that no
        // stream or apply still uses; those in use are collected by the
        // snapshot GC once released.
        let deleted_files = self.snap_manager.delete_region(region.id);
        if task.delete_data {
            let start = keys::data_key(&region.start_key);
            let end = keys::data_end_key(&region.end_key);
            for cf in ALL_CFS {
                if let Err(error) = self.engines.kv.delete_range_cf(cf, &start, &end) {
                    error!(
                        "store {}: [region {}] destroying data failed: {error}",
                        self.store_id, region.id
                    );
                    return;
                }
            }
        }
        chain!(
            "RegionWorker::handle_destroy",
            region.id,
            0,
            "store {}: data range {}deleted, {deleted_files} snapshot(s) deleted",
            self.store_id,
            if task.delete_data { "" } else { "(none) not " }
        );
    }
}

/// The raft snapshot for `task`, whose data `meta` describes.
fn raft_snapshot(task: &GenerateTask, meta: SnapshotMeta) -> Result<Snapshot> {
    let mut data = RaftSnapshotData::new();
    data.region = Some(task.region.clone()).into();
    data.file_size = meta.cf_files.iter().map(|file| file.size).sum();
    data.meta = Some(meta).into();
    let mut snapshot = Snapshot::new();
    snapshot.data = data.write_to_bytes()?.into();
    let metadata = snapshot.mut_metadata();
    metadata.index = task.index;
    metadata.term = task.term;
    metadata.conf_state = Some(task.conf_state.clone()).into();
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot_test_support::{leader_engine, receiver, stream, STORE_ID};
    use crate::StoreMsg;

    /// A follower whose receiver took a leader's stream of the test
    /// region: its engines, and the ApplyTask the MsgSnapshot would
    /// become. The region worker is made afresh on the same directories,
    /// as after a restart: nothing counts as checked on receipt.
    fn received_then_restarted(dir: &tempfile::TempDir) -> (RegionWorker, ApplyTask, SnapKey) {
        let (key, chunks) = stream(&leader_engine(dir), 1 << 20, |_| {});
        let (receiver, store_mailbox) = receiver(dir);
        receiver.receive(&mut chunks.into_iter()).unwrap();
        let Ok(StoreMsg::RaftMessage(message)) = store_mailbox.try_recv() else {
            panic!("the MsgSnapshot was not delivered");
        };
        let snapshot = message.message().snapshot().clone();
        let engines = Engines::open(dir.path().join("follower")).unwrap();
        let manager =
            SnapManager::new(dir.path().join("snap"), Duration::from_secs(60), u64::MAX).unwrap();
        let (raft_sender, _raft_mailbox) = crossbeam_channel::unbounded();
        let (store_sender, _store_mailbox) = crossbeam_channel::unbounded();
        let router = Router::new(STORE_ID, raft_sender, store_sender);
        let worker = RegionWorker::new(STORE_ID, engines, manager, router);
        let task = ApplyTask {
            region_id: key.region_id,
            snapshot,
        };
        (worker, task, key)
    }

    /// The pairs of the test region's range in the follower's kv engine.
    fn region_pair_count(worker: &RegionWorker) -> usize {
        let mut count = 0;
        for cf in ALL_CFS {
            worker
                .engines
                .kv
                .scan_cf(cf, &keys::data_key(b""), &keys::data_key(b"l"), |_, _| {
                    count += 1;
                    Ok(true)
                })
                .unwrap();
        }
        count
    }

    /// After a restart, received files are ingested, their pairs checked against the leader's CRC32s, and the region marked Normal.
    #[test]
    fn a_restart_reapplies_received_files_and_checks_their_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let (worker, task, key) = received_then_restarted(&dir);
        assert!(!worker.snap_manager.is_verified(key));
        worker.apply(&task).unwrap();
        assert_eq!(region_pair_count(&worker), 44, "41 default + 3 write");
        let state: RegionLocalState = worker
            .engines
            .kv
            .get_msg(&keys::region_state_key(key.region_id))
            .unwrap()
            .unwrap();
        assert_eq!(state.state(), PeerState::Normal);
        assert!(
            worker.snap_manager.list().is_empty(),
            "applied files are deleted"
        );
    }

    /// A received file damaged on disk while the store was down (same size, one flipped byte in its data) is caught after ingest: the range is cleared, the files deleted, and the region never marked Normal.
    #[test]
    fn a_file_damaged_before_a_restart_is_refused_after_ingest() {
        let dir = tempfile::tempdir().unwrap();
        let (worker, task, key) = received_then_restarted(&dir);
        let path = worker
            .snap_manager
            .sst_path(SnapKind::Received, key, storage::CF_DEFAULT);
        let mut bytes = std::fs::read(&path).unwrap();
        // A data block in the middle of the file (the small values come
        // first, ~100 KB of them, then the 3 MiB one): ingesting reads the
        // file's first and last blocks, not this one, so only the check of
        // the ingested pairs can find it. (Damage that ingesting finds
        // fails the apply there, before the region is Normal too.)
        bytes[20_000] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let error = worker.apply(&task).unwrap_err();
        log::info!("apply refused: {error}");
        assert_eq!(region_pair_count(&worker), 0, "the range is cleared");
        assert!(
            worker.snap_manager.list().is_empty(),
            "the files are deleted"
        );
        let state: Option<RegionLocalState> = worker
            .engines
            .kv
            .get_msg(&keys::region_state_key(key.region_id))
            .unwrap();
        assert!(state.is_none(), "the region is not marked Normal");
    }
}
