//! The network layer in one process: a scheduler node and three store
//! nodes on free loopback ports, talking gRPC to each other, and bad input
//! on the wire. (The multi-process smoke test is `tests/e2e`.)

// needs labs 1, 2AA, 2AB, 2AC, 2B, 2C, 3A, 3B, 3C: begin — these tests run real stores over gRPC: every store lab is on their path
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut};
use network::{
    AnyStoreClient, SchedulerNode, SchedulerNodeOptions, StoreNode, StoreNodeOptions, TinyKvClient,
    DEFAULT_MAX_MESSAGE_SIZE,
};
use proto::kvrpcpb::RawGetRequest;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::{Code, Status};

/// A scheduler and `store_count` stores in this process, removed on drop
/// (stores first: they block on the runtime while stopping).
struct LocalCluster {
    runtime: Option<tokio::runtime::Runtime>,
    scheduler: Option<SchedulerNode>,
    stores: Vec<StoreNode>,
    /// Changes the stores' test config (applied at every start).
    configure: fn(&mut raftstore::Config),
    _dir: tempfile::TempDir,
}

impl LocalCluster {
    fn start(store_count: usize) -> LocalCluster {
        LocalCluster::start_with(store_count, |_| {})
    }

    /// Like `start`, with the stores' test config changed by `configure`.
    fn start_with(store_count: usize, configure: fn(&mut raftstore::Config)) -> LocalCluster {
        let _ = env_logger::builder().is_test(true).try_init();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("building a tokio runtime (the test needs threads and a timer)");
        let dir = tempfile::tempdir().expect("creating a temp dir (is /tmp writable?)");
        let mut scheduler_options =
            SchedulerNodeOptions::new("127.0.0.1:0", dir.path().join("scheduler"));
        scheduler_options.schedule_interval = Duration::from_millis(100);
        let scheduler = SchedulerNode::start(runtime.handle().clone(), scheduler_options)
            .expect("starting the scheduler node");
        let mut cluster = LocalCluster {
            runtime: Some(runtime),
            scheduler: Some(scheduler),
            stores: Vec::new(),
            configure,
            _dir: dir,
        };
        for index in 1..=store_count {
            let data_dir = cluster._dir.path().join(format!("store-{index}"));
            cluster.restart_store(data_dir);
        }
        cluster
    }

    /// Starts a store on `data_dir` (fresh or not) on a new free port.
    fn restart_store(&mut self, data_dir: PathBuf) {
        let scheduler_address = self
            .scheduler
            .as_ref()
            .expect("the scheduler runs until the cluster is dropped")
            .address()
            .to_string();
        let mut options = StoreNodeOptions::new("127.0.0.1:0", data_dir, &scheduler_address);
        options.config = raftstore::Config::for_tests();
        (self.configure)(&mut options.config);
        let store = StoreNode::start(self.runtime().handle().clone(), options)
            .expect("starting a store node");
        self.stores.push(store);
    }

    /// Waits until every running store holds `key` = `value` in its engine.
    fn wait_for_replicas(&self, key: &[u8], value: &[u8], deadline: Instant) {
        let data_key = storage::keys::data_key(key);
        loop {
            let holders = self
                .stores
                .iter()
                .filter(|store| {
                    store.raft_store().is_some_and(|raft_store| {
                        raft_store
                            .engines()
                            .kv
                            .get_value_cf(storage::CF_DEFAULT, &data_key)
                            .ok()
                            .flatten()
                            .is_some_and(|stored| stored == value)
                    })
                })
                .count();
            if holders == self.stores.len() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {holders} of {} stores hold {key:?} in time",
                self.stores.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives until the cluster is dropped")
    }

    fn client(&self, index: usize) -> TinyKvClient {
        let _entered = self.runtime().enter();
        TinyKvClient::new(
            &self.stores[index].address().to_string(),
            DEFAULT_MAX_MESSAGE_SIZE,
        )
        .expect("a loopback address parses")
        .with_timeout(Duration::from_secs(5))
    }

    /// A client that tries every store (a leader must be elected first).
    fn any_store(&self) -> AnyStoreClient {
        let _entered = self.runtime().enter();
        let addresses: Vec<String> = self
            .stores
            .iter()
            .map(|store| store.address().to_string())
            .collect();
        AnyStoreClient::new(&addresses, DEFAULT_MAX_MESSAGE_SIZE, Duration::from_secs(5))
            .expect("loopback addresses parse")
    }

    fn must_put(&self, key: &[u8], value: &[u8], deadline: Instant) {
        let client = self.any_store();
        if let Err(error) = self
            .runtime()
            .block_on(client.raw_put(key, value, deadline))
        {
            panic!("put {key:?}: {error}");
        }
    }

    fn must_get(&self, key: &[u8], deadline: Instant) -> Option<Vec<u8>> {
        let client = self.any_store();
        self.runtime()
            .block_on(client.raw_get(key, deadline))
            .unwrap_or_else(|error| panic!("get {key:?}: {error}"))
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for store in self.stores.drain(..) {
            store.stop();
        }
        if let Some(scheduler) = self.scheduler.take() {
            scheduler.stop();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// Sends raw bytes as a gRPC frame: what a broken or hostile peer sends.
#[derive(Default)]
struct RawBytesCodec;

struct RawBytes;

impl Codec for RawBytesCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawBytes;
    type Decoder = RawBytes;

    fn encoder(&mut self) -> RawBytes {
        RawBytes
    }

    fn decoder(&mut self) -> RawBytes {
        RawBytes
    }
}

impl Encoder for RawBytes {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, destination: &mut EncodeBuf<'_>) -> Result<(), Status> {
        destination.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawBytes {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, source: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(source.copy_to_bytes(source.remaining()).to_vec()))
    }
}

/// Streams `frames` as raw bytes to `path` on the store at `address`.
async fn send_raw(
    address: String,
    path: &'static str,
    frames: Vec<Vec<u8>>,
) -> Result<Vec<u8>, Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|error| Status::internal(error.to_string()))?
        .connect()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    grpc.client_streaming(
        tonic::Request::new(tokio_stream::iter(frames)),
        PathAndQuery::from_static(path),
        RawBytesCodec,
    )
    .await
    .map(|response| response.into_inner())
}

/// Bytes that are no protobuf message: field 1 with wire type 7, which
/// does not exist.
const GARBAGE: &[u8] = &[0x0f, 0xff, 0xff, 0xff, 0xff];

/// A put through gRPC is readable back through gRPC, from every store.
#[test]
fn raw_put_get_over_grpc() {
    let cluster = LocalCluster::start(3);
    let deadline = Instant::now() + Duration::from_secs(20);
    cluster.must_put(b"k1", b"v1", deadline);
    cluster.must_put(b"k2", b"v2", deadline);
    assert_eq!(cluster.must_get(b"k1", deadline), Some(b"v1".to_vec()));
    assert_eq!(cluster.must_get(b"k2", deadline), Some(b"v2".to_vec()));
    assert_eq!(cluster.must_get(b"missing", deadline), None);
}

/// The scheduler adds the missing replicas: the new peers are created by
/// raft messages and filled by snapshots (the first region's log starts
/// compacted, so a new peer can only catch up by one), both over the gRPC
/// transport, until every store holds the data.
#[test]
fn replicas_are_added_over_grpc() {
    let cluster = LocalCluster::start(3);
    let deadline = Instant::now() + Duration::from_secs(30);
    cluster.must_put(b"replicated", b"yes", deadline);
    cluster.wait_for_replicas(b"replicated", b"yes", deadline);
}

/// Garbage on a raft stream, a unary call and a snapshot stream ends that
/// call with `invalid_argument`; the store goes on serving.
#[test]
fn garbage_frames_get_invalid_argument() {
    let cluster = LocalCluster::start(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    cluster.must_put(b"before", b"1", deadline);
    let address = cluster.stores[0].address().to_string();
    for path in [
        "/tinykvpb.TinyKv/Raft",
        "/tinykvpb.TinyKv/Snapshot",
        "/tinykvpb.TinyKv/RawGet",
    ] {
        let outcome =
            cluster
                .runtime()
                .block_on(send_raw(address.clone(), path, vec![GARBAGE.to_vec()]));
        let status = outcome.expect_err("garbage must be refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status}");
    }
    cluster.must_put(b"after", b"2", deadline);
    assert_eq!(cluster.must_get(b"before", deadline), Some(b"1".to_vec()));
}

/// A frame above the size limit is refused before it is decoded; the store
/// goes on serving.
#[test]
fn oversized_frame_is_refused() {
    let cluster = LocalCluster::start(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let address = cluster.stores[0].address().to_string();
    let oversized = vec![0u8; DEFAULT_MAX_MESSAGE_SIZE + 1];
    let outcome = cluster.runtime().block_on(send_raw(
        address,
        "/tinykvpb.TinyKv/RawPut",
        vec![oversized],
    ));
    let status = outcome.expect_err("an oversized frame must be refused");
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "unexpected status {status}"
    );
    cluster.must_put(b"after", b"1", deadline);
}

/// A request naming a region the store does not have gets `RegionNotFound`
/// in its region error, not a transport error.
#[test]
fn unknown_region_gets_region_not_found() {
    let cluster = LocalCluster::start(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    cluster.must_put(b"k", b"v", deadline);
    let mut request = RawGetRequest::new();
    request.key = b"k".to_vec();
    request.context.mut_or_insert_default().region_id = 999_999;
    let response = cluster
        .runtime()
        .block_on(cluster.client(0).raw_get(request))
        .expect("the call itself succeeds");
    assert_eq!(
        response.region_error.region_not_found.region_id, 999_999,
        "expected RegionNotFound, got {response:?}"
    );
    assert_eq!(cluster.must_get(b"k", deadline), Some(b"v".to_vec()));
}

/// The new admin calls naming an unknown region — the store's
/// `RegionDigest`, `CompactLog`, `SplitRegion` and `ExportSnapshot`, the
/// scheduler's `AddOperator` — get a typed refusal, and a split key outside
/// the region an invalid-argument one; both services go on serving.
#[test]
fn admin_calls_for_an_unknown_region_are_refused() {
    use network::{DebugClient, RemoteScheduler};
    use proto::debugpb::ErrorType as DebugErrorType;
    use proto::schedulerpb::{ErrorType, OperatorType};

    let cluster = LocalCluster::start(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    cluster.must_put(b"k", b"v", deadline);
    let runtime = cluster.runtime();
    let debug = {
        let _entered = runtime.enter();
        DebugClient::new(
            &cluster.stores[0].address().to_string(),
            DEFAULT_MAX_MESSAGE_SIZE,
            Duration::from_secs(5),
        )
        .expect("a loopback address parses")
    };
    let refused = |outcome: Result<(), network::Error>| match outcome {
        Err(network::Error::Debug { error_type, .. }) => error_type,
        other => panic!("expected a typed refusal, got {other:?}"),
    };
    let unknown = 999_999;
    assert_eq!(
        refused(runtime.block_on(debug.region_digest(unknown)).map(drop)),
        DebugErrorType::REGION_NOT_FOUND
    );
    assert_eq!(
        refused(runtime.block_on(debug.compact_log(unknown)).map(drop)),
        DebugErrorType::REGION_NOT_FOUND
    );
    assert_eq!(
        refused(
            runtime
                .block_on(debug.split_region(unknown, b"m"))
                .map(drop)
        ),
        DebugErrorType::REGION_NOT_FOUND
    );
    let export = runtime.block_on(async {
        let mut stream = debug.export_snapshot(unknown).await?;
        stream.message().await.map_err(network::Error::from)
    });
    match export {
        Err(network::Error::Status(status)) => {
            assert_eq!(status.code(), Code::NotFound, "{status}")
        }
        other => panic!("expected a not_found status, got {other:?}"),
    }
    let scheduler = RemoteScheduler::new(
        runtime.handle().clone(),
        &cluster
            .scheduler
            .as_ref()
            .expect("the scheduler runs until the cluster is dropped")
            .address()
            .to_string(),
        DEFAULT_MAX_MESSAGE_SIZE,
    )
    .expect("a loopback address parses");
    assert!(matches!(
        scheduler.add_operator(unknown, OperatorType::ADD_PEER, 1),
        Err(network::Error::Scheduler {
            error_type: ErrorType::REGION_NOT_FOUND,
            ..
        })
    ));
    // A real region, but an empty split key (its very start).
    let (region, _) = scheduler
        .get_region(b"k")
        .expect("the scheduler answers")
        .expect("a region holds every key");
    let region_id = region.id;
    assert_eq!(
        refused(
            runtime
                .block_on(debug.split_region(region_id, b""))
                .map(drop)
        ),
        DebugErrorType::INVALID_ARGUMENT
    );
    let digest = runtime
        .block_on(debug.region_digest(region_id))
        .expect("the store still serves its region");
    assert!(digest.key_count >= 1, "{digest:?}");
    assert_eq!(cluster.must_get(b"k", deadline), Some(b"v".to_vec()));
}

/// A snapshot stream that stops after part of its bytes (the sender
/// crashed, the connection broke) is refused with a typed status, its
/// partial files are deleted, and the store goes on serving.
#[test]
fn snapshot_stream_cut_short_is_refused() {
    use proto::eraftpb::MessageType;
    use proto::raft_serverpb::{
        RaftMessage, RaftSnapshotData, SnapshotCfFile, SnapshotChunk, SnapshotFormat,
    };
    use protobuf::Message as _;

    let cluster = LocalCluster::start(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    cluster.must_put(b"before", b"1", deadline);
    let store = &cluster.stores[0];

    // The head: a MsgSnapshot for this store promising 100 bytes of pairs
    // in the default column family.
    let mut file = SnapshotCfFile::new();
    file.cf = storage::CF_DEFAULT.to_string();
    file.size = 100;
    let mut data = RaftSnapshotData::new();
    data.file_size = 100;
    data.mut_meta().cf_files.push(file);
    data.mut_meta().set_format(SnapshotFormat::KEY_VALUE_PAIRS);
    let mut message = RaftMessage::new();
    message.region_id = 1000;
    message.mut_to_peer().store_id = store.store_id();
    message.mut_to_peer().id = 1001;
    let raft_message = message.mut_message();
    raft_message.set_msg_type(MessageType::MsgSnapshot);
    let snapshot = raft_message.mut_snapshot();
    snapshot.data = data
        .write_to_bytes()
        .expect("encoding a snapshot meta")
        .into();
    snapshot.mut_metadata().index = 10;
    snapshot.mut_metadata().term = 5;
    let mut head = SnapshotChunk::new();
    head.message = Some(message).into();
    // Then 10 of the 100 bytes (the start of a pair: a key length of 10
    // and 2 bytes of the key), and the stream ends.
    let mut partial = SnapshotChunk::new();
    partial.data = 10u64.to_le_bytes().to_vec();
    partial.data.extend_from_slice(b"zk");
    let frames = vec![
        head.write_to_bytes().expect("encoding a chunk"),
        partial.write_to_bytes().expect("encoding a chunk"),
    ];

    let outcome = cluster.runtime().block_on(send_raw(
        store.address().to_string(),
        "/tinykvpb.TinyKv/Snapshot",
        frames,
    ));
    let status = outcome.expect_err("a short snapshot must be refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    assert!(
        status.message().contains("ended after 10 of 100 bytes"),
        "{status}"
    );
    let leftovers = store
        .raft_store()
        .expect("the store runs")
        .snap_manager()
        .list();
    assert!(
        leftovers.iter().all(|(_, key, _)| key.region_id != 1000),
        "partial snapshot files left behind: {leftovers:?}"
    );
    cluster.must_put(b"after", b"2", deadline);
    assert_eq!(cluster.must_get(b"before", deadline), Some(b"1".to_vec()));
}

/// The scheduler's calls over gRPC: timestamps increase over the Tso
/// stream, the stores are listed with the addresses they registered, the
/// region is found by key, and an unknown store is a typed error.
#[test]
fn scheduler_calls_over_grpc() {
    let cluster = LocalCluster::start(2);
    let scheduler_address = cluster
        .scheduler
        .as_ref()
        .expect("the scheduler runs")
        .address()
        .to_string();
    let remote = network::RemoteScheduler::new(
        cluster.runtime().handle().clone(),
        &scheduler_address,
        DEFAULT_MAX_MESSAGE_SIZE,
    )
    .expect("a loopback address parses");
    let first = remote.tso().expect("tso");
    let second = remote.tso().expect("tso");
    assert!(second > first, "{second} <= {first}");

    let stores = remote.get_all_stores().expect("get_all_stores");
    let mut registered: Vec<String> = stores
        .iter()
        .map(|info| info.store.address.clone())
        .collect();
    let mut expected: Vec<String> = cluster
        .stores
        .iter()
        .map(|store| store.address().to_string())
        .collect();
    registered.sort();
    expected.sort();
    assert_eq!(registered, expected);

    let (region, _leader) = remote
        .get_region(b"any key")
        .expect("get_region")
        .expect("the first region covers every key");
    assert!(
        region.start_key.is_empty() && region.end_key.is_empty(),
        "{region:?}"
    );

    match remote.get_store(999_999) {
        Err(network::Error::Scheduler { error_type, .. }) => {
            assert_eq!(error_type, proto::schedulerpb::ErrorType::STORE_NOT_FOUND)
        }
        other => panic!("expected STORE_NOT_FOUND, got {other:?}"),
    }
}

/// Three fresh stores starting at once against a new scheduler: each may
/// prepare a first region, the scheduler takes one, and the losers drop
/// theirs, so the cluster ends with one region and every key is served.
#[test]
fn racing_bootstraps_end_with_one_first_region() {
    let _ = env_logger::builder().is_test(true).try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building a tokio runtime");
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let scheduler = SchedulerNode::start(
        runtime.handle().clone(),
        SchedulerNodeOptions::new("127.0.0.1:0", dir.path().join("scheduler")),
    )
    .expect("starting the scheduler node");
    let scheduler_address = scheduler.address().to_string();
    let stores: Vec<StoreNode> = std::thread::scope(|scope| {
        let starting: Vec<_> = (1..=3)
            .map(|index| {
                let mut options = StoreNodeOptions::new(
                    "127.0.0.1:0",
                    dir.path().join(format!("store-{index}")),
                    &scheduler_address,
                );
                options.config = raftstore::Config::for_tests();
                let handle = runtime.handle().clone();
                scope.spawn(move || StoreNode::start(handle, options))
            })
            .collect();
        starting
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .expect("a starting thread panicked")
                    .expect("starting a store node")
            })
            .collect()
    });
    let regions = scheduler.scheduler().regions();
    assert_eq!(regions.len(), 1, "{regions:?}");
    // No store kept a first region of its own. (The one region may
    // already have a second replica: the scheduler adds them.)
    for store in &stores {
        let raft_store = store.raft_store().expect("the store runs");
        for status in raft_store.store_meta().all() {
            assert_eq!(
                status.region.id,
                regions[0].0.id,
                "store {} kept region {}",
                store.store_id(),
                status.region.id
            );
        }
    }
    for store in stores {
        store.stop();
    }
    scheduler.stop();
    runtime.shutdown_timeout(Duration::from_secs(1));
}

/// A store stopped while the others write on and compact their log past
/// it; restarted on a new port, it is found again through the scheduler
/// (its new address) and catches up by a snapshot streamed over gRPC: the
/// entries it missed are gone from every log.
#[test]
fn restarted_store_catches_up_by_snapshot_over_grpc() {
    let mut cluster = LocalCluster::start_with(3, |config| {
        config.raft_log_gc_count_limit = 5;
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    cluster.must_put(b"k0", b"v0", deadline);
    cluster.wait_for_replicas(b"k0", b"v0", deadline);

    // Stop a follower, remembering its data directory and how far its log got.
    let follower = cluster
        .stores
        .iter()
        .position(|store| {
            store.raft_store().is_some_and(|raft_store| {
                raft_store
                    .store_meta()
                    .all()
                    .iter()
                    .all(|status| !status.is_leader)
            })
        })
        .expect("two of three stores follow");
    let stopped = cluster.stores.remove(follower);
    let stopped_last_index = stopped
        .raft_store()
        .and_then(|raft_store| {
            raft_store
                .store_meta()
                .all()
                .first()
                .map(|status| status.last_index)
        })
        .expect("the follower has the region");
    let data_dir = stopped.data_dir().to_path_buf();
    stopped.stop();

    for index in 1..=30 {
        let key = format!("k{index}");
        cluster.must_put(key.as_bytes(), b"v", deadline);
    }
    // Wait until the survivors' logs start after the stopped store's last entry.
    loop {
        let compacted_past = cluster.stores.iter().all(|store| {
            store.raft_store().is_some_and(|raft_store| {
                raft_store
                    .store_meta()
                    .all()
                    .iter()
                    .all(|status| status.first_index > stopped_last_index + 1)
            })
        });
        if compacted_past {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the log was not compacted in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    cluster.restart_store(data_dir);
    cluster.wait_for_replicas(b"k30", b"v", deadline);
}
// needs labs: end
