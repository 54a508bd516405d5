//! [`StoreServices`]: what a store serves on its one port — the `TinyKv`
//! service and the `Debug` service — told apart by the method path.
//!
//! Runs on the store process's tokio runtime. In: every HTTP/2 request
//! tonic's server accepts on the store's port. Out: the answer of
//! [`DebugService`] for paths under `/debugpb.Debug/`, of
//! [`TinyKvService`] for the rest (which answers an unknown path with
//! `unimplemented`). Two services, one listener: a tool needs one address
//! per store, as with TiKV, whose debug service shares the store's port.

use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::{http, Service};

use crate::debug_service::{DebugService, DEBUG_SERVICE_PREFIX};
use crate::method_handler::MethodFuture;
use crate::tinykv_service::TinyKvService;

/// Both services of a store (cheap to clone: tonic clones it per connection).
#[derive(Clone)]
pub struct StoreServices {
    tinykv: TinyKvService,
    debug: DebugService,
}

impl StoreServices {
    /// The store's two services, served together.
    pub fn new(tinykv: TinyKvService, debug: DebugService) -> StoreServices {
        StoreServices { tinykv, debug }
    }
}

impl Service<http::Request<Body>> for StoreServices {
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = MethodFuture;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> MethodFuture {
        if request.uri().path().starts_with(DEBUG_SERVICE_PREFIX) {
            self.debug.call(request)
        } else {
            self.tinykv.call(request)
        }
    }
}
