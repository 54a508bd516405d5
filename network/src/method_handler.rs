//! [`MethodHandler`] and the helpers that turn one gRPC method into a
//! future: the hand-written plumbing under [`crate::TinyKvService`] and
//! [`crate::SchedulerGrpcService`].
//!
//! Why by hand: rust-protobuf generates messages, not services, and
//! tonic-build's generators either want prost or (the `manual` builder) a
//! build script that pulls `syn`, `quote` and `prettyplease` into every
//! build. A service here is a `match` on the request path whose arms call
//! one of four helpers ([`unary`], [`client_streaming`],
//! [`server_streaming`], [`streaming`]) with a closure; each helper is the
//! few lines tonic-build would have generated for that method kind,
//! written once. A student reads one
//! `match` and sees every method of the service.
//!
//! Runs on the tokio runtime. In: the HTTP/2 request tonic's server hands
//! to the service. Out: the HTTP/2 response, built by
//! `tonic::server::Grpc` with our [`ProtobufCodec`], so a frame that does
//! not decode or is too large becomes a gRPC status for the caller, never a
//! panic.

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::{http, BoxFuture, BoxStream, Service};
use tonic::server::Grpc;
use tonic::{Request, Response, Status, Streaming};

use crate::codec::ProtobufCodec;

/// What every method of a service returns to tonic's server.
pub type MethodFuture = BoxFuture<http::Response<Body>, Infallible>;

/// A closure as a tower `Service`, which is what `tonic::server::Grpc`
/// calls for each kind of method. tonic calls it once per request.
pub struct MethodHandler<F>(F);

impl<Input, Output, F, Fut> Service<Request<Input>> for MethodHandler<F>
where
    F: FnMut(Request<Input>) -> Fut,
    Fut: Future<Output = Result<Response<Output>, Status>>,
{
    type Response = Response<Output>;
    type Error = Status;
    type Future = Fut;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Status>> {
        // No back-pressure of its own: the runtime and the handler's
        // channels limit the load.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Input>) -> Fut {
        (self.0)(request)
    }
}

fn grpc<Encode, Decode>(max_message_size: usize) -> Grpc<ProtobufCodec<Encode, Decode>>
where
    Encode: protobuf::Message,
    Decode: protobuf::Message,
{
    Grpc::new(ProtobufCodec::new(max_message_size))
        .max_decoding_message_size(max_message_size)
        .max_encoding_message_size(max_message_size)
}

/// A handler of one request as the `MethodHandler` tonic calls: tonic
/// calls it once per request, so `handler` runs once; a second call (a bug
/// in tonic) gets `internal` rather than a panic.
fn once<Input, Output, F, Fut>(
    handler: F,
) -> MethodHandler<impl FnMut(Request<Input>) -> BoxFuture<Response<Output>, Status>>
where
    Input: Send + 'static,
    Output: Send + 'static,
    F: FnOnce(Input) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Output, Status>> + Send + 'static,
{
    let mut handler = Some(handler);
    MethodHandler(move |request: Request<Input>| {
        let handler = handler.take();
        let future: BoxFuture<Response<Output>, Status> = Box::pin(async move {
            match handler {
                Some(handler) => handler(request.into_inner()).await.map(Response::new),
                None => Err(Status::internal("a method handler was called twice")),
            }
        });
        future
    })
}

/// One request, one response: `handler` gets the decoded request.
pub fn unary<Req, Resp, F, Fut>(
    request: http::Request<Body>,
    max_message_size: usize,
    handler: F,
) -> MethodFuture
where
    Req: protobuf::Message,
    Resp: protobuf::Message,
    F: FnOnce(Req) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Resp, Status>> + Send + 'static,
{
    Box::pin(async move {
        Ok(grpc::<Resp, Req>(max_message_size)
            .unary(once(handler), request)
            .await)
    })
}

/// A stream of requests, one response: `handler` reads the stream. A
/// request frame that does not decode ends the stream with its status.
pub fn client_streaming<Req, Resp, F, Fut>(
    request: http::Request<Body>,
    max_message_size: usize,
    handler: F,
) -> MethodFuture
where
    Req: protobuf::Message,
    Resp: protobuf::Message,
    F: FnOnce(Streaming<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Resp, Status>> + Send + 'static,
{
    Box::pin(async move {
        Ok(grpc::<Resp, Req>(max_message_size)
            .client_streaming(once(handler), request)
            .await)
    })
}

/// One request, a stream of responses: `handler` gets the decoded request
/// and returns the stream (or a status, sent instead of any response).
pub fn server_streaming<Req, Resp, F, Fut>(
    request: http::Request<Body>,
    max_message_size: usize,
    handler: F,
) -> MethodFuture
where
    Req: protobuf::Message,
    Resp: protobuf::Message,
    F: FnOnce(Req) -> Fut + Send + 'static,
    Fut: Future<Output = Result<BoxStream<Resp>, Status>> + Send + 'static,
{
    Box::pin(async move {
        Ok(grpc::<Resp, Req>(max_message_size)
            .server_streaming(once(handler), request)
            .await)
    })
}

/// A stream each way: `handler` turns the request stream into a response
/// stream.
pub fn streaming<Req, Resp, F>(
    request: http::Request<Body>,
    max_message_size: usize,
    handler: F,
) -> MethodFuture
where
    Req: protobuf::Message,
    Resp: protobuf::Message,
    F: FnOnce(Streaming<Req>) -> BoxStream<Resp> + Send + 'static,
{
    let handler = move |requests| std::future::ready(Ok(handler(requests)));
    Box::pin(async move {
        Ok(grpc::<Resp, Req>(max_message_size)
            .streaming(once(handler), request)
            .await)
    })
}

/// The answer to a path the service does not have.
pub fn unimplemented(path: &str) -> MethodFuture {
    let status = Status::unimplemented(format!("no method {path}"));
    Box::pin(async move { Ok(status.into_http()) })
}

/// Runs a handler that blocks (a raft command waits for its apply, the
/// scheduler syncs its disk) on tokio's blocking pool, so the runtime's
/// few threads keep serving other calls meanwhile.
pub async fn blocking<T, F>(handler: F) -> Result<T, Status>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(handler)
        .await
        .map_err(|error| Status::internal(format!("handler failed: {error}")))
}

/// How many answers of a bidirectional stream may wait for the client to
/// read them.
const ANSWER_QUEUE: usize = 16;

/// The server side of a bidirectional stream that answers each request in
/// order (`RegionHeartbeat`, `Tso`): `answer` runs on the blocking pool for
/// one request at a time; a request frame that does not decode ends the
/// stream with its status. The stream ends when the client closes its side
/// or stops reading answers.
pub fn answer_each<Req, Resp, F>(mut requests: Streaming<Req>, answer: F) -> BoxStream<Resp>
where
    Req: protobuf::Message,
    Resp: protobuf::Message,
    F: Fn(Req) -> Resp + Send + Sync + 'static,
{
    let (answer_sender, answers) = tokio::sync::mpsc::channel(ANSWER_QUEUE);
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let outcome = match requests.message().await {
                Ok(Some(request)) => {
                    let answer = std::sync::Arc::clone(&answer);
                    blocking(move || answer(request)).await
                }
                Ok(None) => return,
                Err(status) => Err(status),
            };
            let failed = outcome.is_err();
            // A send error: the client stopped reading; nothing to answer.
            if answer_sender.send(outcome).await.is_err() || failed {
                return;
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(answers))
}
