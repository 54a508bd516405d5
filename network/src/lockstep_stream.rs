//! [`LockstepStream`]: request/answer pairs over one long-lived
//! bidirectional gRPC stream (the scheduler's `RegionHeartbeat` and `Tso`).
//!
//! The scheduler answers every request of such a stream in order, so a
//! caller that sends one request and reads the next answer while holding
//! the stream's lock gets the answer to its own request. The stream is
//! opened at the first call and reopened at the call after it broke: a
//! broken stream fails the call in progress (the caller retries at its next
//! tick, as with any lost heartbeat).
//!
//! Runs on the tokio runtime (callers on other threads go through
//! [`crate::RemoteScheduler`], which blocks on it).

use std::time::Duration;

use tokio::sync::{mpsc, Mutex};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::errors::{Error, Result};
use crate::grpc_channel::GrpcChannel;

/// One open stream: where requests go, where answers come from.
struct OpenStream<Req, Resp> {
    requests: mpsc::Sender<Req>,
    answers: Streaming<Resp>,
}

/// Request/answer pairs over one bidirectional stream (see the module docs).
pub struct LockstepStream<Req, Resp> {
    channel: GrpcChannel,
    path: &'static str,
    open: Mutex<Option<OpenStream<Req, Resp>>>,
}

impl<Req, Resp> LockstepStream<Req, Resp>
where
    Req: protobuf::Message,
    Resp: protobuf::Message,
{
    /// A stream of method `path` on `channel`, opened at the first call.
    pub fn new(channel: GrpcChannel, path: &'static str) -> LockstepStream<Req, Resp> {
        LockstepStream {
            channel,
            path,
            open: Mutex::new(None),
        }
    }

    /// Sends `request` and returns its answer; fails with `Timeout` after
    /// `timeout` (and the stream is reopened next time: a late answer must
    /// not be taken for the next request's).
    pub async fn call(&self, request: Req, timeout: Duration) -> Result<Resp> {
        let mut open = self.open.lock().await;
        let outcome = tokio::time::timeout(timeout, self.exchange(&mut open, request)).await;
        match outcome {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                *open = None;
                Err(error)
            }
            Err(_elapsed) => {
                *open = None;
                Err(Error::Timeout {
                    what: format!("{} on {}", self.path, self.channel.address()),
                    after: timeout,
                })
            }
        }
    }

    async fn exchange(
        &self,
        open: &mut Option<OpenStream<Req, Resp>>,
        request: Req,
    ) -> Result<Resp> {
        if open.is_none() {
            // One request may wait in the channel: the caller holds the
            // lock until its answer, so there is never a second.
            let (requests, receiver) = mpsc::channel(1);
            let answers = self
                .channel
                .streaming(self.path, ReceiverStream::new(receiver))
                .await?;
            *open = Some(OpenStream { requests, answers });
        }
        let Some(stream) = open.as_mut() else {
            return Err(Error::StreamClosed(format!("{}: not open", self.path)));
        };
        if stream.requests.send(request).await.is_err() {
            return Err(Error::StreamClosed(format!(
                "{}: closed before the request went out",
                self.path
            )));
        }
        match stream.answers.message().await? {
            Some(answer) => Ok(answer),
            None => Err(Error::StreamClosed(format!(
                "{}: ended without an answer",
                self.path
            ))),
        }
    }
}
