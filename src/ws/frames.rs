//! WebSocket frames as they cross the wire, read incrementally from one
//! direction of a TCP stream (RFC 6455 §5.2).
//!
//! ```text
//!  0               1               2               3
//!  F R R R opcode  M length(7)     extended length (0, 2 or 8 bytes)
//!  I S S S         A               masking key (0 or 4 bytes)
//!  N V V V         S               payload ...
//!    1 2 3         K
//! ```
//!
//! A [`FrameDecoder`] is fed whatever `read()` returned, however the stream
//! was cut, and yields each frame's header facts (FIN, RSV, opcode, mask and
//! key, length and how it was encoded) with the start of its payload
//! unmasked, then each complete message. tungstenite's
//! [`FrameHeader::parse`] reads the header; the decoder adds the bookkeeping
//! a tap needs: payloads are streamed, never buffered whole, so a frame that
//! claims 2^63 bytes costs nothing but a counter. Bytes that cannot be
//! frames end the decoding: the rest of the stream is only counted.

use std::io::Cursor;

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// Payload bytes of each message kept to show it and to read it as JSON:
/// the chat's largest message, so every chat event can be read whole. The
/// rest of a longer message is counted and forwarded, not kept.
pub const KEPT_MESSAGE_BYTES: usize = super::limits::MAX_MESSAGE_BYTES;

/// Payload bytes of each frame kept for its own line: 125 is the largest a
/// control frame may carry, so a ping's data and a close's reason are whole.
pub const FRAME_PREVIEW_BYTES: usize = 125;

/// Payload bytes kept as they were on the wire (still masked), to show what
/// masking does to them.
pub const WIRE_PREVIEW_BYTES: usize = 16;

/// A frame announcing more payload than this is reported as soon as its
/// header arrives: its end may be far off, or never come.
pub const LARGE_FRAME_BYTES: u64 = 64 * 1024;

/// The longest header: 2 bytes, 8 of extended length, 4 of masking key.
const MAX_HEADER_BYTES: usize = 14;

/// What a frame is, from its 4-bit opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// 0x0: more of the message the previous frame started.
    Continuation,
    /// 0x1: a message of UTF-8 text.
    Text,
    /// 0x2: a message of bytes.
    Binary,
    /// 0x8: ends the session, with a code and a reason.
    Close,
    /// 0x9: a heartbeat; the other side must answer with a pong.
    Ping,
    /// 0xA: the answer to a ping.
    Pong,
}

impl Opcode {
    fn from_tungstenite(op: OpCode) -> Option<Opcode> {
        Some(match op {
            OpCode::Data(Data::Continue) => Opcode::Continuation,
            OpCode::Data(Data::Text) => Opcode::Text,
            OpCode::Data(Data::Binary) => Opcode::Binary,
            OpCode::Control(Control::Close) => Opcode::Close,
            OpCode::Control(Control::Ping) => Opcode::Ping,
            OpCode::Control(Control::Pong) => Opcode::Pong,
            OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
                return None;
            }
        })
    }

    /// The name used in narration and JSON (`text`, `ping`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Opcode::Continuation => "continuation",
            Opcode::Text => "text",
            Opcode::Binary => "binary",
            Opcode::Close => "close",
            Opcode::Ping => "ping",
            Opcode::Pong => "pong",
        }
    }

    /// The 4-bit value on the wire.
    pub fn code(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong: they may arrive between the frames of a message.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// How the payload length was written: small frames pay a small header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthEncoding {
    /// 0 to 125, in the 7 bits of the second byte.
    Bits7,
    /// 126, then 2 bytes: up to 65,535.
    Bits16,
    /// 127, then 8 bytes: anything larger.
    Bits64,
}

impl LengthEncoding {
    fn from_second_byte(b: u8) -> LengthEncoding {
        match b & 0x7F {
            126 => LengthEncoding::Bits16,
            127 => LengthEncoding::Bits64,
            _ => LengthEncoding::Bits7,
        }
    }

    /// `7-bit`, `16-bit` or `64-bit`.
    pub fn name(self) -> &'static str {
        match self {
            LengthEncoding::Bits7 => "7-bit",
            LengthEncoding::Bits16 => "16-bit",
            LengthEncoding::Bits64 => "64-bit",
        }
    }

    /// The shortest encoding for `len`, which RFC 6455 requires.
    pub fn minimal_for(len: u64) -> LengthEncoding {
        match len {
            0..=125 => LengthEncoding::Bits7,
            126..=0xFFFF => LengthEncoding::Bits16,
            _ => LengthEncoding::Bits64,
        }
    }
}

/// One frame, as it was on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    /// 1 for the first frame in this direction.
    pub index: u64,
    /// Where its header starts, counting from the first frame byte.
    pub offset: u64,
    /// Whether this frame ends its message.
    pub fin: bool,
    /// RSV1, RSV2, RSV3: RSV1 marks a compressed message (permessage-deflate).
    pub rsv: [bool; 3],
    pub opcode: Opcode,
    /// The masking key, when the mask bit is set (every client frame).
    pub mask: Option<[u8; 4]>,
    /// The payload length the header announces.
    pub payload_len: u64,
    pub length_encoding: LengthEncoding,
    /// 2 to 14 bytes.
    pub header_len: usize,
    /// The payload's first bytes as sent (masked if a key is set).
    pub wire_preview: Vec<u8>,
    /// The payload's first bytes unmasked, up to [`FRAME_PREVIEW_BYTES`].
    pub preview: Vec<u8>,
    /// Something the protocol forbids that did not stop the decoding.
    pub problem: Option<&'static str>,
}

impl WireFrame {
    /// Whether `preview` holds the whole payload.
    pub fn preview_is_whole(&self) -> bool {
        self.preview.len() as u64 == self.payload_len
    }

    /// A close frame's status code and reason, if it has them.
    pub fn close(&self) -> Option<(u16, String)> {
        if self.opcode != Opcode::Close || self.preview.len() < 2 {
            return None;
        }
        let code = u16::from_be_bytes([self.preview[0], self.preview[1]]);
        Some((
            code,
            String::from_utf8_lossy(&self.preview[2..]).into_owned(),
        ))
    }
}

/// One message: a text or binary frame and its continuations, FIN last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireMessage {
    /// Text or binary.
    pub opcode: Opcode,
    /// How many frames carried it.
    pub frames: u64,
    /// Its length, all frames together.
    pub len: u64,
    /// Its first bytes, unmasked, up to [`KEPT_MESSAGE_BYTES`].
    pub kept: Vec<u8>,
    /// RSV1 on its first frame: the payload is compressed and reads as noise.
    pub compressed: bool,
}

impl WireMessage {
    /// Whether `kept` holds the whole message.
    pub fn is_whole(&self) -> bool {
        self.kept.len() as u64 == self.len
    }
}

/// What the decoder found in the bytes it was fed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A frame whose header announces more than [`LARGE_FRAME_BYTES`]: shown
    /// now (its payload preview is empty), and again as `Frame` if it ends.
    LargeFrameStarted(WireFrame),
    /// A complete frame.
    Frame(WireFrame),
    /// A complete message (after its last frame).
    Message(WireMessage),
    /// These bytes cannot be WebSocket frames; from here on the stream is
    /// only counted.
    NotWebSocket {
        offset: u64,
        reason: String,
        /// The first bytes that did not parse.
        bytes: Vec<u8>,
    },
    /// The stream ended inside a frame (from [`FrameDecoder::finish`]).
    Truncated { frame: WireFrame, received: u64 },
}

enum State {
    /// Collecting a header: at most [`MAX_HEADER_BYTES`].
    Header,
    /// Inside a payload.
    Payload {
        frame: WireFrame,
        /// Payload bytes seen so far.
        received: u64,
    },
    /// Not WebSocket framing: count, do not parse.
    Raw,
}

/// Reads frames from one direction of a connection, whatever the reads'
/// sizes. Memory is bounded: a header, one frame's preview, one message's
/// kept bytes.
pub struct FrameDecoder {
    header: Vec<u8>,
    state: State,
    /// Bytes fed so far.
    offset: u64,
    /// Frames completed or started.
    frames: u64,
    /// The message being assembled from fragments.
    message: Option<WireMessage>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new()
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        FrameDecoder {
            header: Vec::with_capacity(MAX_HEADER_BYTES),
            state: State::Header,
            offset: 0,
            frames: 0,
            message: None,
        }
    }

    /// Whether the stream turned out not to be WebSocket framing.
    pub fn is_raw(&self) -> bool {
        matches!(self.state, State::Raw)
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.offset
    }

    /// Reads `bytes`, the next piece of the stream, appending what it
    /// completes to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Decoded>) {
        while !bytes.is_empty() {
            let used = match &mut self.state {
                State::Raw => bytes.len(),
                State::Header => self.read_header(bytes, out),
                State::Payload { .. } => self.read_payload(bytes, out),
            };
            self.offset += used as u64;
            bytes = &bytes[used..];
        }
    }

    /// Says whether the stream ended inside a frame. Call once, at EOF.
    pub fn finish(&mut self) -> Option<Decoded> {
        match std::mem::replace(&mut self.state, State::Raw) {
            State::Payload { frame, received } => Some(Decoded::Truncated { frame, received }),
            State::Header if !self.header.is_empty() => Some(Decoded::NotWebSocket {
                offset: self.offset - self.header.len() as u64,
                reason: format!(
                    "the stream ended {} bytes into a frame header",
                    self.header.len()
                ),
                bytes: std::mem::take(&mut self.header),
            }),
            _ => None,
        }
    }

    /// Takes header bytes; returns how many of `bytes` it used.
    fn read_header(&mut self, bytes: &[u8], out: &mut Vec<Decoded>) -> usize {
        let before = self.header.len();
        let take = bytes.len().min(MAX_HEADER_BYTES - before);
        self.header.extend_from_slice(&bytes[..take]);
        let mut cursor = Cursor::new(&self.header[..]);
        let parsed = FrameHeader::parse(&mut cursor);
        let header_len = cursor.position() as usize;
        match parsed {
            Ok(None) => take,
            Err(e) => {
                let start = self.offset - before as u64;
                self.not_websocket(
                    start,
                    format!("tungstenite's frame parser refused it: {e}"),
                    out,
                );
                take
            }
            Ok(Some((header, payload_len))) => {
                let used = header_len - before;
                let start = self.offset - before as u64;
                match self.check(&header, payload_len) {
                    Err(reason) => {
                        self.not_websocket(start, reason.to_string(), out);
                        take
                    }
                    Ok(opcode) => {
                        self.frames += 1;
                        let mut frame = WireFrame {
                            index: self.frames,
                            offset: start,
                            fin: header.is_final,
                            rsv: [header.rsv1, header.rsv2, header.rsv3],
                            opcode,
                            mask: header.mask,
                            payload_len,
                            length_encoding: LengthEncoding::from_second_byte(self.header[1]),
                            header_len,
                            wire_preview: Vec::new(),
                            preview: Vec::new(),
                            problem: None,
                        };
                        self.header.clear();
                        self.start_frame(&mut frame);
                        if payload_len > LARGE_FRAME_BYTES {
                            out.push(Decoded::LargeFrameStarted(frame.clone()));
                        }
                        self.state = State::Payload { frame, received: 0 };
                        if payload_len == 0 {
                            self.end_frame(out);
                        }
                        used
                    }
                }
            }
        }
    }

    /// What makes a parsed header impossible rather than merely wrong.
    fn check(&self, header: &FrameHeader, len: u64) -> Result<Opcode, &'static str> {
        let opcode = Opcode::from_tungstenite(header.opcode).ok_or("a reserved opcode")?;
        if header.rsv2 || header.rsv3 {
            return Err("RSV2 or RSV3 is set, and no extension uses them");
        }
        if opcode.is_control() && (!header.is_final || len > 125) {
            return Err("a control frame that is fragmented or longer than 125 bytes");
        }
        if len >> 63 != 0 {
            return Err("a 64-bit length with its top bit set");
        }
        Ok(opcode)
    }

    /// Message bookkeeping when a frame's header is complete.
    fn start_frame(&mut self, frame: &mut WireFrame) {
        if LengthEncoding::minimal_for(frame.payload_len) != frame.length_encoding {
            frame.problem = Some("the length is not in its shortest encoding");
        }
        match frame.opcode {
            Opcode::Text | Opcode::Binary => {
                if self.message.is_some() {
                    frame.problem = Some("a new message began before the previous one ended");
                }
                self.message = Some(WireMessage {
                    opcode: frame.opcode,
                    frames: 1,
                    len: frame.payload_len,
                    kept: Vec::new(),
                    compressed: frame.rsv[0],
                });
            }
            Opcode::Continuation => match &mut self.message {
                Some(m) => {
                    m.frames += 1;
                    m.len = m.len.saturating_add(frame.payload_len);
                }
                None => frame.problem = Some("a continuation frame with no message to continue"),
            },
            Opcode::Close | Opcode::Ping | Opcode::Pong => {}
        }
    }

    /// Takes payload bytes; returns how many of `bytes` it used.
    fn read_payload(&mut self, bytes: &[u8], out: &mut Vec<Decoded>) -> usize {
        let State::Payload { frame, received } = &mut self.state else {
            return 0;
        };
        let left = frame.payload_len - *received;
        let take = usize::try_from(left).map_or(bytes.len(), |l| l.min(bytes.len()));
        let chunk = &bytes[..take];
        let keep_message = !frame.opcode.is_control();
        // Only the bytes that are kept are unmasked; the rest are counted.
        for (i, &b) in chunk.iter().enumerate() {
            let at = *received + i as u64;
            let wanted_wire = frame.wire_preview.len() < WIRE_PREVIEW_BYTES;
            let wanted_preview = frame.preview.len() < FRAME_PREVIEW_BYTES;
            let wanted_message = keep_message
                && self
                    .message
                    .as_ref()
                    .is_some_and(|m| m.kept.len() < KEPT_MESSAGE_BYTES);
            if !(wanted_wire || wanted_preview || wanted_message) {
                break;
            }
            let plain = match frame.mask {
                Some(key) => b ^ key[(at % 4) as usize],
                None => b,
            };
            if wanted_wire {
                frame.wire_preview.push(b);
            }
            if wanted_preview {
                frame.preview.push(plain);
            }
            if wanted_message && let Some(m) = &mut self.message {
                m.kept.push(plain);
            }
        }
        *received += take as u64;
        if *received == frame.payload_len {
            self.end_frame(out);
        }
        take
    }

    /// A frame's last byte arrived.
    fn end_frame(&mut self, out: &mut Vec<Decoded>) {
        let State::Payload { frame, .. } = std::mem::replace(&mut self.state, State::Header) else {
            return;
        };
        let ends_message = frame.fin && !frame.opcode.is_control();
        out.push(Decoded::Frame(frame));
        if ends_message && let Some(message) = self.message.take() {
            out.push(Decoded::Message(message));
        }
    }

    fn not_websocket(&mut self, offset: u64, reason: String, out: &mut Vec<Decoded>) {
        out.push(Decoded::NotWebSocket {
            offset,
            reason,
            bytes: std::mem::take(&mut self.header),
        });
        self.message = None;
        self.state = State::Raw;
    }
}

/// Masks (or unmasks: it is the same XOR) `payload` with `key`, for tests
/// and for showing what masking does.
pub fn apply_mask(payload: &mut [u8], key: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as a client (with `key`) or a server (without) would send it.
    fn frame(fin: bool, opcode: u8, key: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let m = if key.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n @ 0..=125 => out.push(m | n as u8),
            n @ 126..=0xFFFF => {
                out.push(m | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(m | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mut body = payload.to_vec();
        if let Some(k) = key {
            out.extend_from_slice(&k);
            apply_mask(&mut body, k);
        }
        out.extend_from_slice(&body);
        out
    }

    fn decode_in_pieces(bytes: &[u8], piece: usize) -> Vec<Decoded> {
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        for chunk in bytes.chunks(piece) {
            d.feed(chunk, &mut out);
        }
        out
    }

    #[test]
    fn a_masked_text_frame_reads_the_same_whatever_the_reads() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let wire = frame(true, 1, Some(key), b"Hello");
        for piece in [1, 2, 3, 7, 100] {
            let out = decode_in_pieces(&wire, piece);
            assert_eq!(out.len(), 2, "piece {piece}: {out:?}");
            let Decoded::Frame(f) = &out[0] else {
                panic!("{out:?}")
            };
            assert!(f.fin);
            assert_eq!(f.opcode, Opcode::Text);
            assert_eq!(f.mask, Some(key));
            assert_eq!(f.payload_len, 5);
            assert_eq!(f.header_len, 6);
            assert_eq!(f.length_encoding, LengthEncoding::Bits7);
            assert_eq!(f.preview, b"Hello");
            assert_eq!(f.wire_preview, &wire[6..]);
            assert!(f.problem.is_none());
            let Decoded::Message(m) = &out[1] else {
                panic!("{out:?}")
            };
            assert_eq!(m.kept, b"Hello");
            assert!(m.is_whole());
        }
    }

    #[test]
    fn lengths_use_7_16_and_64_bits() {
        let mut wire = frame(true, 2, None, &[7; 125]);
        wire.extend(frame(true, 2, None, &[7; 126]));
        wire.extend(frame(true, 2, None, &[7; 70_000]));
        let frames: Vec<WireFrame> = decode_in_pieces(&wire, 4096)
            .into_iter()
            .filter_map(|d| match d {
                Decoded::Frame(f) => Some(f),
                _ => None,
            })
            .collect();
        let seen: Vec<_> = frames
            .iter()
            .map(|f| (f.payload_len, f.length_encoding, f.header_len))
            .collect();
        assert_eq!(
            seen,
            [
                (125, LengthEncoding::Bits7, 2),
                (126, LengthEncoding::Bits16, 4),
                (70_000, LengthEncoding::Bits64, 10)
            ]
        );
        assert_eq!(frames[2].preview.len(), FRAME_PREVIEW_BYTES);
    }

    #[test]
    fn fragments_make_one_message_and_controls_may_come_between() {
        let key = Some([1, 2, 3, 4]);
        let mut wire = frame(false, 1, key, b"frag");
        wire.extend(frame(true, 9, key, b"ping?"));
        wire.extend(frame(false, 0, key, b"men"));
        wire.extend(frame(true, 0, key, b"ted"));
        let out = decode_in_pieces(&wire, 5);
        let messages: Vec<&WireMessage> = out
            .iter()
            .filter_map(|d| match d {
                Decoded::Message(m) => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].kept, b"fragmented");
        assert_eq!(messages[0].frames, 3);
        assert_eq!(messages[0].opcode, Opcode::Text);
        let ping = out
            .iter()
            .find_map(|d| match d {
                Decoded::Frame(f) if f.opcode == Opcode::Ping => Some(f),
                _ => None,
            })
            .unwrap();
        assert_eq!(ping.preview, b"ping?");
    }

    #[test]
    fn close_has_a_code_and_reason() {
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        let out = decode_in_pieces(&frame(true, 8, None, &payload), 1);
        let Decoded::Frame(f) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(f.close(), Some((1000, "bye".into())));
        assert_eq!(out.len(), 1, "a close is not a message");
    }

    #[test]
    fn a_huge_claimed_length_is_reported_at_once_and_not_buffered() {
        let mut wire = vec![0x82, 127];
        wire.extend_from_slice(&(1u64 << 62).to_be_bytes());
        wire.extend(std::iter::repeat_n(0u8, 200_000));
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        d.feed(&wire, &mut out);
        let [Decoded::LargeFrameStarted(f)] = &out[..] else {
            panic!("{out:?}")
        };
        assert_eq!(f.payload_len, 1 << 62);
        let State::Payload { frame, received } = &d.state else {
            panic!("in the payload")
        };
        assert_eq!(*received, 200_000);
        assert_eq!(frame.preview.len(), FRAME_PREVIEW_BYTES);
        assert_eq!(d.message.as_ref().unwrap().kept.len(), KEPT_MESSAGE_BYTES);
        let Some(Decoded::Truncated { received, .. }) = d.finish() else {
            panic!("truncated")
        };
        assert_eq!(received, 200_000);
    }

    #[test]
    fn garbage_is_not_websocket_and_then_only_counted() {
        let mut out = Vec::new();
        let mut d = FrameDecoder::new();
        d.feed(b"hello there\n", &mut out);
        assert!(
            matches!(&out[..], [Decoded::NotWebSocket { offset: 0, .. }]),
            "{out:?}"
        );
        assert!(d.is_raw());
        d.feed(&frame(true, 1, None, b"late"), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(d.bytes(), 12 + 6);
    }

    #[test]
    fn protocol_slips_are_flagged_but_decoding_goes_on() {
        let mut wire = frame(true, 0, None, b"x");
        // 5 bytes announced with the 16-bit form.
        wire.extend([0x81, 126, 0, 5]);
        wire.extend(b"hello");
        let out = decode_in_pieces(&wire, 3);
        let problems: Vec<_> = out
            .iter()
            .filter_map(|d| match d {
                Decoded::Frame(f) => f.problem,
                _ => None,
            })
            .collect();
        assert_eq!(problems.len(), 2, "{out:?}");
    }

    #[test]
    fn anything_fed_in_any_pieces_never_panics() {
        let mut seed = 0x2545F4914F6CDD1Du64;
        for _ in 0..2_000 {
            let mut bytes = Vec::new();
            for _ in 0..(seed % 64) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push(seed as u8);
            }
            let piece = (seed % 7 + 1) as usize;
            let mut d = FrameDecoder::new();
            let mut out = Vec::new();
            for chunk in bytes.chunks(piece) {
                d.feed(chunk, &mut out);
            }
            let _ = d.finish();
            assert_eq!(d.bytes(), bytes.len() as u64);
        }
    }
}
