//! `tinykv ctl snapshot export REGION DIR`: a fresh snapshot of a region,
//! written as files anyone can inspect, and verified after writing.
//!
//! Hops: the scheduler's `GetRegionByID` (the leader, or the peers in
//! turn) → that store's `Debug/ExportSnapshot`, whose region worker pins
//! the region and writes it as SST files (`RegionWorker::export`), which
//! the store streams in chunks (`ChunkStream`: head chunk, the MsgSnapshot
//! with index, term and `RaftSnapshotData`; then every SST file's bytes in
//! the meta's order) → here: the files are written to DIR under the
//! store's own names (`gen_{region}_{term}_{index}_{cf}.sst`, `gen_…​.meta`),
//! each checked against the meta's size and CRC32 as it is written
//! (`ChecksummedWriter`), plus `gen_…​.json` describing them; then they are
//! read back and checked again (`SnapManager::verify`), so what the JSON
//! calls verified is what is on disk. The SST files open with RocksDB's
//! `sst_dump`.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use proto::raft_serverpb::RaftSnapshotData;
use protobuf::Message as _;
use raftstore::checksummed_writer::ChecksummedWriter;
use raftstore::snap_manager::{check_file, SnapKey, SnapKind, SnapManager};
use serde_json::json;

use super::cluster_commands::region_json;
use super::ctl_client::{CtlClient, Outcome, Output};
use super::ctl_error::CtlError;

impl CtlClient {
    /// `snapshot export REGION DIR` (see the module docs).
    pub fn snapshot_export(&self, region_id: u64, dir: &Path) -> Result<Output, CtlError> {
        std::fs::create_dir_all(dir)?;
        let (store_id, key, data) = self.retry_routed(
            "snapshot export",
            |attempt| self.router().route_region(region_id, attempt),
            |route| {
                let (key, data) =
                    self.block_on(receive_snapshot(&route.store.debug, region_id, dir))?;
                Ok(Outcome::Done((route.store.store_id, key, data)))
            },
        )?;
        let files = SnapManager::new(dir, std::time::Duration::MAX, u64::MAX)
            .map_err(|error| CtlError::SnapshotCorrupt(error.to_string()))?;
        let meta = data.meta();
        files
            .verify(SnapKind::Generated, key, meta)
            .map_err(|error| CtlError::SnapshotCorrupt(error.to_string()))?;
        let described: Vec<serde_json::Value> = meta
            .cf_files
            .iter()
            .map(|file| {
                json!({
                    "cf": file.cf,
                    "path": files.sst_path(SnapKind::Generated, key, &file.cf).display().to_string(),
                    "size": file.size,
                    "crc32": format!("{:08x}", file.checksum),
                })
            })
            .collect();
        let description = json!({
            "region": region_json(data.region(), None),
            "region_id": region_id,
            "index": key.index,
            "term": key.term,
            "from_store": store_id,
            "meta": files.meta_path(SnapKind::Generated, key).display().to_string(),
            "files": described,
            "verified": true,
        });
        let json_path = dir.join(format!("gen_{key}.json"));
        let mut json_file = File::create(&json_path)?;
        json_file.write_all(
            serde_json::to_string_pretty(&description)
                .unwrap_or_default()
                .as_bytes(),
        )?;
        Ok(Output {
            human: format!(
                "snapshot of region {region_id} at index {} (term {}) from store {store_id}: \
                 {} SST files + meta in {}; sizes and CRC32s verified",
                key.index,
                key.term,
                meta.cf_files.len(),
                dir.display()
            ),
            json: description,
        })
    }
}

/// Reads one export stream into `dir`: the head chunk's snapshot, then each
/// file's bytes; writes the meta last, as a store does.
async fn receive_snapshot(
    client: &network::DebugClient,
    region_id: u64,
    dir: &Path,
) -> Result<(SnapKey, RaftSnapshotData), network::Error> {
    let mut stream = client.export_snapshot(region_id).await?;
    let head = stream
        .message()
        .await?
        .ok_or_else(|| network::Error::InvalidResponse("empty snapshot stream".to_string()))?;
    let message = head.message.into_option().ok_or_else(|| {
        network::Error::InvalidResponse("the first chunk carries no message".to_string())
    })?;
    let snapshot = message.message().snapshot();
    let key = SnapKey {
        region_id,
        term: snapshot.metadata().term,
        index: snapshot.metadata().index,
    };
    let data = RaftSnapshotData::parse_from_bytes(&snapshot.data)
        .map_err(|error| network::Error::InvalidResponse(format!("snapshot data: {error}")))?;
    let files = SnapManager::new(dir, std::time::Duration::MAX, u64::MAX)
        .map_err(|error| network::Error::InvalidResponse(error.to_string()))?;
    let mut pending: Vec<u8> = Vec::new();
    for file in &data.meta().cf_files {
        let path = files.sst_path(SnapKind::Generated, key, &file.cf);
        let mut output = ChecksummedWriter::create(&path)
            .map_err(|error| network::Error::InvalidResponse(error.to_string()))?;
        let mut remaining = file.size;
        while remaining > 0 {
            if pending.is_empty() {
                pending = stream
                    .message()
                    .await?
                    .ok_or_else(|| {
                        network::Error::InvalidResponse(format!(
                            "the stream ended {remaining} bytes short in the {} file",
                            file.cf
                        ))
                    })?
                    .data;
            }
            let take = pending.len().min(remaining as usize);
            output
                .write(&pending[..take])
                .map_err(|error| network::Error::InvalidResponse(error.to_string()))?;
            pending.drain(..take);
            remaining -= take as u64;
        }
        // Checked as written; `snapshot_export` reads the files back too.
        let (checksum, size) = output
            .finish()
            .map_err(|error| network::Error::InvalidResponse(error.to_string()))?;
        check_file(&path, file, checksum, size)
            .map_err(|error| network::Error::InvalidResponse(error.to_string()))?;
    }
    files
        .write_meta(SnapKind::Generated, key, data.meta())
        .map_err(|error| network::Error::InvalidResponse(error.to_string()))?;
    Ok((key, data))
}
