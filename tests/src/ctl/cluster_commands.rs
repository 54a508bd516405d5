//! The cluster-view commands of `tinykv ctl`: `regions`, `stores`,
//! `region KEY`, and the JSON shapes of regions and peers the other
//! commands reuse.
//!
//! Hops: one scheduler call each — `ScanRegions` (every region with its
//! leader, in key order), `GetAllStores`, `GetRegion(key)`.

use proto::metapb::{Peer, Region};
use serde_json::{json, Value};

use super::ctl_client::{text, CtlClient, Output};
use super::ctl_error::CtlError;

/// A peer as JSON.
pub fn peer_json(peer: &Peer) -> Value {
    json!({ "id": peer.id, "store_id": peer.store_id })
}

/// A region (and its leader, when known) as JSON.
pub fn region_json(region: &Region, leader: Option<&Peer>) -> Value {
    json!({
        "id": region.id,
        "start_key": text(&region.start_key),
        "end_key": text(&region.end_key),
        "conf_ver": region.region_epoch().conf_ver,
        "version": region.region_epoch().version,
        "peers": region.peers.iter().map(peer_json).collect::<Vec<_>>(),
        "leader": leader.map(peer_json),
    })
}

/// A region on one line.
pub fn region_line(region: &Region, leader: Option<&Peer>) -> String {
    let stores: Vec<String> = region
        .peers
        .iter()
        .map(|peer| {
            let mark = if leader.is_some_and(|leader| leader.id == peer.id) {
                "*"
            } else {
                ""
            };
            format!("{}{mark}", peer.store_id)
        })
        .collect();
    format!(
        "region {} [{:?}, {:?}) epoch {}/{} stores [{}] (* leads)",
        region.id,
        text(&region.start_key),
        text(&region.end_key),
        region.region_epoch().conf_ver,
        region.region_epoch().version,
        stores.join(", ")
    )
}

impl CtlClient {
    /// `regions`: every region, in key order, with its leader.
    pub fn regions(&self) -> Result<Output, CtlError> {
        let regions = self.scheduler().scan_regions(b"", b"", 0)?;
        Ok(Output {
            json: json!({
                "regions": regions
                    .iter()
                    .map(|(region, leader)| region_json(region, leader.as_ref()))
                    .collect::<Vec<_>>(),
            }),
            human: regions
                .iter()
                .map(|(region, leader)| region_line(region, leader.as_ref()))
                .collect::<Vec<_>>()
                .join("\n"),
        })
    }

    /// `stores`: every store with its address, state and region counts.
    pub fn stores(&self) -> Result<Output, CtlError> {
        let stores = self.scheduler().get_all_stores()?;
        let json_stores: Vec<Value> = stores
            .iter()
            .map(|info| {
                json!({
                    "id": info.store.id,
                    "address": info.store.address,
                    "state": format!("{:?}", info.store.state()),
                    "region_count": info.region_count,
                    "leader_count": info.leader_count,
                    "last_heartbeat_ms": info.last_heartbeat_ms,
                })
            })
            .collect();
        let human = stores
            .iter()
            .map(|info| {
                format!(
                    "store {} at {} {:?}: {} regions, {} leaders",
                    info.store.id,
                    info.store.address,
                    info.store.state(),
                    info.region_count,
                    info.leader_count
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Output {
            json: json!({ "stores": json_stores }),
            human,
        })
    }

    /// `region KEY`: the region holding a key, with its leader.
    pub fn region(&self, key: &[u8]) -> Result<Output, CtlError> {
        let (region, leader) = self
            .scheduler()
            .get_region(key)?
            .ok_or_else(|| CtlError::NoRegion(text(key)))?;
        Ok(Output {
            json: region_json(&region, leader.as_ref()),
            human: region_line(&region, leader.as_ref()),
        })
    }
}
