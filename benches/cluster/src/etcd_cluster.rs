//! [`EtcdCluster`]: three etcd members on loopback, started by the bench
//! with their data in a temp dir, and [`EtcdTarget`], puts to the leader
//! through tonic with the network crate's codec and the bench's own etcd
//! messages (`proto/etcd_kv.proto`).
//!
//! The members are this process's children, killed and reaped on drop
//! (also on a panic), and their temp dir removed after. etcd syncs its
//! write-ahead log before answering a put, as the stores sync their raft
//! log: both sides pay for durability. Puts go to the leader (found with
//! the Maintenance Status call), as the stores' do, so neither pays a
//! forwarding hop.

use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use network::{GrpcChannel, DEFAULT_MAX_MESSAGE_SIZE};

use crate::errors::{BenchError, Result};
use crate::etcd_protos::etcd_kv::{PutRequest, PutResponse, StatusRequest, StatusResponse};

const PUT_PATH: &str = "/etcdserverpb.KV/Put";
const STATUS_PATH: &str = "/etcdserverpb.Maintenance/Status";

/// How long the members may take to elect a leader.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// How long one put may take.
const PUT_TIMEOUT: Duration = Duration::from_secs(10);

/// Three running etcd members (see the module docs).
pub struct EtcdCluster {
    members: Vec<Child>,
    client_addresses: Vec<String>,
    dir: tempfile::TempDir,
}

impl EtcdCluster {
    /// Starts three members of a new cluster from the `etcd` binary.
    pub fn start(binary: &Path) -> Result<EtcdCluster> {
        let dir = tempfile::Builder::new()
            .prefix("tinykv-bench-etcd-")
            .tempdir()?;
        let listeners = (0..6)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<std::io::Result<Vec<_>>>()?;
        let ports = listeners
            .iter()
            .map(|listener| listener.local_addr().map(|address| address.port()))
            .collect::<std::io::Result<Vec<_>>>()?;
        drop(listeners);
        let client_addresses: Vec<String> = (0..3)
            .map(|member| format!("127.0.0.1:{}", ports[member]))
            .collect();
        let peer_urls: Vec<String> = (0..3)
            .map(|member| format!("http://127.0.0.1:{}", ports[3 + member]))
            .collect();
        let initial_cluster = (0..3)
            .map(|member| format!("member-{member}={}", peer_urls[member]))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = EtcdCluster {
            members: Vec::new(),
            client_addresses,
            dir,
        };
        for (member, peer_url) in peer_urls.iter().enumerate() {
            let name = format!("member-{member}");
            let log = File::create(cluster.dir.path().join(format!("{name}.log")))?;
            let client_url = format!("http://{}", cluster.client_addresses[member]);
            let child = Command::new(binary)
                .arg("--name")
                .arg(&name)
                .arg("--data-dir")
                .arg(cluster.dir.path().join(&name))
                .args(["--listen-client-urls", &client_url])
                .args(["--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", peer_url])
                .args(["--initial-advertise-peer-urls", peer_url])
                .args(["--initial-cluster", &initial_cluster])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "tinykv-bench"])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .map_err(|source| BenchError::Spawn {
                    what: format!("etcd ({})", binary.display()),
                    source,
                })?;
            cluster.members.push(child);
        }
        Ok(cluster)
    }

    /// Waits until a leader is elected and returns a target that puts to
    /// it. Must be called on the runtime.
    pub async fn leader_target(&mut self) -> Result<EtcdTarget> {
        let started = Instant::now();
        loop {
            let mut last = String::from("no member answered");
            for address in &self.client_addresses {
                let channel = GrpcChannel::lazy(address, DEFAULT_MAX_MESSAGE_SIZE)?;
                let status: network::Result<StatusResponse> = channel
                    .unary(STATUS_PATH, StatusRequest::new(), Duration::from_secs(2))
                    .await;
                match status {
                    Ok(status)
                        if status.leader != 0 && status.header.member_id == status.leader =>
                    {
                        return Ok(EtcdTarget { channel });
                    }
                    Ok(status) => last = format!("{address}: leader {}", status.leader),
                    Err(error) => last = format!("{address}: {error}"),
                }
            }
            for (index, member) in self.members.iter_mut().enumerate() {
                if let Ok(Some(status)) = member.try_wait() {
                    return Err(BenchError::Exited {
                        what: format!("etcd member-{index} ({status})"),
                        log: self.dir.path().join(format!("member-{index}.log")),
                    });
                }
            }
            if started.elapsed() > STARTUP_DEADLINE {
                return Err(BenchError::Timeout {
                    what: format!("an etcd leader (last: {last})"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            let _ = member.kill();
            let _ = member.wait();
        }
    }
}

/// Puts to etcd's leader (cheap to clone: clones share the connection).
#[derive(Clone)]
pub struct EtcdTarget {
    channel: GrpcChannel,
}

impl EtcdTarget {
    /// Puts `key` = `value`.
    pub async fn put(&self, key: Vec<u8>, value: Vec<u8>) -> std::result::Result<(), String> {
        let mut request = PutRequest::new();
        request.key = key;
        request.value = value;
        let response: network::Result<PutResponse> =
            self.channel.unary(PUT_PATH, request, PUT_TIMEOUT).await;
        response.map(|_| ()).map_err(|error| error.to_string())
    }
}
