//! [`ProtobufCodec`]: carries the project's rust-protobuf 3 messages in
//! gRPC frames.
//!
//! tonic is codec-agnostic: a call names a [`Codec`], which turns one
//! message into the bytes of one gRPC frame and back. tonic ships a codec
//! for prost, a second protobuf library; ours encodes and decodes the
//! `protobuf::Message` types that `proto/` already generates, so every
//! crate keeps one set of message types.
//!
//! Runs on the tokio runtime's threads, inside tonic's encode and decode
//! streams. In: one message (encode) or one frame's bytes (decode). Out:
//! bytes, or a message, or a `Status` the peer sees: a frame that does not
//! decode is `invalid_argument`, a frame above the size limit is
//! `resource_exhausted`; neither panics, and the server goes on serving.

use std::marker::PhantomData;

use bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// The largest message a service or client of this crate sends or accepts,
/// in bytes. A raft append carries at most `raft_max_size_per_msg` (1 MiB)
/// of entries and a snapshot chunk 1 MiB of file bytes; 16 MiB leaves room
/// for large values while bounding what one frame can make a process
/// allocate.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

/// Encodes `Encode` messages and decodes `Decode` messages (a client
/// encodes requests and decodes responses, a server the other way round).
#[derive(Debug)]
pub struct ProtobufCodec<Encode, Decode> {
    max_message_size: usize,
    // `fn() -> ...` keeps the codec Send + Sync whatever the message types.
    _messages: PhantomData<fn() -> (Encode, Decode)>,
}

impl<Encode, Decode> ProtobufCodec<Encode, Decode> {
    /// A codec that refuses frames larger than `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> ProtobufCodec<Encode, Decode> {
        ProtobufCodec {
            max_message_size,
            _messages: PhantomData,
        }
    }
}

impl<Encode, Decode> Default for ProtobufCodec<Encode, Decode> {
    fn default() -> ProtobufCodec<Encode, Decode> {
        ProtobufCodec::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl<Encode, Decode> Codec for ProtobufCodec<Encode, Decode>
where
    Encode: protobuf::Message,
    Decode: protobuf::Message,
{
    type Encode = Encode;
    type Decode = Decode;
    type Encoder = ProtobufEncoder<Encode>;
    type Decoder = ProtobufDecoder<Decode>;

    fn encoder(&mut self) -> Self::Encoder {
        ProtobufEncoder {
            max_message_size: self.max_message_size,
            _message: PhantomData,
        }
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProtobufDecoder {
            max_message_size: self.max_message_size,
            _message: PhantomData,
        }
    }
}

/// The encoding half of [`ProtobufCodec`].
#[derive(Debug)]
pub struct ProtobufEncoder<Message> {
    max_message_size: usize,
    _message: PhantomData<fn() -> Message>,
}

impl<Message: protobuf::Message> Encoder for ProtobufEncoder<Message> {
    type Item = Message;
    type Error = Status;

    fn encode(&mut self, item: Message, destination: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // Checked before writing, so an oversized message is refused here
        // with its type named rather than by tonic after the copy.
        let size = item.compute_size() as usize;
        if size > self.max_message_size {
            return Err(Status::resource_exhausted(format!(
                "{} of {size} bytes is larger than the limit of {} bytes",
                Message::NAME,
                self.max_message_size
            )));
        }
        destination.reserve(size);
        let mut writer = destination.writer();
        item.write_to_writer(&mut writer)
            .map_err(|error| Status::internal(format!("encoding {}: {error}", Message::NAME)))
    }
}

/// The decoding half of [`ProtobufCodec`].
#[derive(Debug)]
pub struct ProtobufDecoder<Message> {
    max_message_size: usize,
    _message: PhantomData<fn() -> Message>,
}

impl<Message: protobuf::Message> Decoder for ProtobufDecoder<Message> {
    type Item = Message;
    type Error = Status;

    fn decode(&mut self, source: &mut DecodeBuf<'_>) -> Result<Option<Message>, Status> {
        // `source` holds exactly one frame's payload (tonic did the framing).
        let size = source.remaining();
        if size > self.max_message_size {
            return Err(Status::resource_exhausted(format!(
                "{} frame of {size} bytes is larger than the limit of {} bytes",
                Message::NAME,
                self.max_message_size
            )));
        }
        let bytes = source.copy_to_bytes(size);
        Message::parse_from_bytes(&bytes)
            .map(Some)
            .map_err(|error| {
                Status::invalid_argument(format!("{} does not decode: {error}", Message::NAME))
            })
    }
}
