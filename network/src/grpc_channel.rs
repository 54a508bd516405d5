//! [`GrpcChannel`]: the client side of the hand-written plumbing — one
//! HTTP/2 connection to one address, and the three ways of calling a
//! method on it with our [`ProtobufCodec`].
//!
//! Used by every client of this crate ([`crate::TinyKvClient`],
//! [`crate::SchedulerGrpcClient`], [`crate::GrpcTransport`]) on the tokio
//! runtime. The connection is made lazily at the first call and remade by
//! tonic after it breaks; a call on a broken connection fails with
//! `unavailable` and the caller decides whether to retry.

use std::time::Duration;

use tokio_stream::Stream;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Streaming};

use crate::codec::ProtobufCodec;
use crate::errors::{Error, Result};

/// How long making a TCP connection may take before a call fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The connection settings shared by lazy and eager channels.
fn endpoint(address: &str) -> Result<Endpoint> {
    Ok(Endpoint::from_shared(format!("http://{address}"))
        .map_err(|error| Error::Connect {
            address: address.to_string(),
            reason: error.to_string(),
        })?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        // Notices a peer that vanished without closing (kill -9, a cut
        // cable) while a stream is idle.
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_while_idle(true))
}

/// A connection to one address (cheap to clone: clones share it).
#[derive(Clone, Debug)]
pub struct GrpcChannel {
    address: String,
    channel: Channel,
    max_message_size: usize,
}

impl GrpcChannel {
    /// A channel to `address` (`host:port`), connected at its first call.
    /// Must be called on the runtime (tonic spawns the connection's task).
    pub fn lazy(address: &str, max_message_size: usize) -> Result<GrpcChannel> {
        Ok(GrpcChannel {
            address: address.to_string(),
            channel: endpoint(address)?.connect_lazy(),
            max_message_size,
        })
    }

    /// A channel to `address`, connected now: fails if nothing answers
    /// within [`CONNECT_TIMEOUT`]. For callers that must know whether the
    /// peer is reachable (the raft transport).
    pub async fn connect(address: &str, max_message_size: usize) -> Result<GrpcChannel> {
        let channel = endpoint(address)?
            .connect()
            .await
            .map_err(|error| Error::Connect {
                address: address.to_string(),
                reason: error.to_string(),
            })?;
        Ok(GrpcChannel {
            address: address.to_string(),
            channel,
            max_message_size,
        })
    }

    /// The address this channel connects to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A call's client, once the connection is ready for it.
    async fn ready_grpc(&self) -> Result<Grpc<Channel>> {
        let mut grpc = Grpc::new(self.channel.clone())
            .max_decoding_message_size(self.max_message_size)
            .max_encoding_message_size(self.max_message_size);
        grpc.ready().await.map_err(|error| Error::Connect {
            address: self.address.clone(),
            reason: error.to_string(),
        })?;
        Ok(grpc)
    }

    fn codec<Req, Resp>(&self) -> ProtobufCodec<Req, Resp> {
        ProtobufCodec::new(self.max_message_size)
    }

    /// Calls a unary method (on the wire, a client stream of one message,
    /// as tonic sends it); fails with `Timeout` after `timeout`.
    pub async fn unary<Req, Resp>(
        &self,
        path: &'static str,
        request: Req,
        timeout: Duration,
    ) -> Result<Resp>
    where
        Req: protobuf::Message,
        Resp: protobuf::Message,
    {
        let call = self.client_streaming(path, tokio_stream::once(request));
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| Error::Timeout {
                what: format!("{path} on {}", self.address),
                after: timeout,
            })?
    }

    /// Calls a client-streaming method: sends every message of `requests`,
    /// then waits for the one response (no deadline of its own: a raft
    /// stream lives as long as the connection; callers that need one wrap
    /// the future in a timeout).
    pub async fn client_streaming<Req, Resp, S>(
        &self,
        path: &'static str,
        requests: S,
    ) -> Result<Resp>
    where
        Req: protobuf::Message,
        Resp: protobuf::Message,
        S: Stream<Item = Req> + Send + 'static,
    {
        // The server side of a client stream sends one message, then the
        // status; a refusal comes as the status alone (read as an error).
        let mut answers = self.streaming(path, requests).await?;
        match answers.message().await? {
            Some(response) => Ok(response),
            None => Err(Error::InvalidResponse(format!(
                "{path} on {}: the call ended without a response",
                self.address
            ))),
        }
    }

    /// Opens a bidirectional stream: `requests` go out as they come, the
    /// answers arrive on the returned stream.
    pub async fn streaming<Req, Resp, S>(
        &self,
        path: &'static str,
        requests: S,
    ) -> Result<Streaming<Resp>>
    where
        Req: protobuf::Message,
        Resp: protobuf::Message,
        S: Stream<Item = Req> + Send + 'static,
    {
        let response = self
            .ready_grpc()
            .await?
            .streaming(
                Request::new(requests),
                PathAndQuery::from_static(path),
                self.codec(),
            )
            .await?;
        Ok(response.into_inner())
    }
}
