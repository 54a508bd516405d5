//! [`GrpcServer`]: one gRPC service served on a bound listener, as a task
//! on the runtime, and how it stops.
//!
//! Each process serves one service value ([`crate::StoreServices`] in a
//! store, which tells `TinyKv` from `Debug` paths itself;
//! [`crate::SchedulerGrpcService`] in the scheduler), so tonic's server
//! takes the service directly, without a router. Started by the nodes;
//! `stop` (also on drop) asks the server to stop, lets in-flight calls
//! finish for a short grace, then cuts what is left: peers' raft streams
//! and heartbeat streams never finish on their own.

use std::convert::Infallible;
use std::time::Duration;

use log::warn;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::body::Body;
use tonic::codegen::{http, Service};
use tonic::transport::server::TcpIncoming;

/// How long a stopping server lets in-flight calls finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A running gRPC server task (see the module docs).
pub struct GrpcServer {
    /// Names the process in logs ("store 4", "scheduler").
    name: String,
    runtime: Handle,
    /// Dropping it tells the server to stop.
    shutdown: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl GrpcServer {
    /// Serves `service` on `listener` from a task on `runtime`.
    pub fn spawn<S>(runtime: &Handle, name: &str, listener: TcpListener, service: S) -> GrpcServer
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let (shutdown, shutdown_signal) = oneshot::channel::<()>();
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let serving = runtime.spawn(
            tonic::transport::Server::builder().serve_with_incoming_shutdown(
                service,
                incoming,
                async {
                    // The sender sends nothing: its drop is the signal.
                    let _ = shutdown_signal.await;
                },
            ),
        );
        GrpcServer {
            name: name.to_string(),
            runtime: runtime.clone(),
            shutdown: Some(shutdown),
            serving: Some(serving),
        }
    }

    /// Stops serving (see the module docs); does nothing the second time.
    /// Blocks: never call it on a runtime thread.
    pub fn stop(&mut self) {
        drop(self.shutdown.take());
        let Some(serving) = self.serving.take() else {
            return;
        };
        let abort = serving.abort_handle();
        let name = &self.name;
        match self
            .runtime
            .block_on(async { tokio::time::timeout(SHUTDOWN_GRACE, serving).await })
        {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => warn!("{name}: gRPC server failed: {error}"),
            Ok(Err(join_error)) => warn!("{name}: gRPC server task failed: {join_error}"),
            Err(_elapsed) => abort.abort(),
        }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.stop();
    }
}
