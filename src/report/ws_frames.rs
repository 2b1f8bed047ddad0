//! How the WebSocket tap's facts read: the HTTP upgrade at L7, frames at L5
//! (the session: message boundaries, ping, pong, close), masking and
//! encodings at L6, JSON events at L7.
//!
//! ```text
//! [L7 Application]  #1 client → server  GET /ws asks to upgrade to websocket: Sec-WebSocket-Key dGhl…
//! [L5 Session]      #1 client → server  text frame, FIN=1, masked (key 37 fa 21 3d), 5 bytes (7-bit length), 6-byte header
//! [L7 Application]  #1 client → server  JSON event "say": {"type":"say","room":"lobby","text":"hi"}
//! ```

use serde_json::Value;

use crate::layer::Layer;
use crate::report::{Observation, thousands};
use crate::ws::frames::{Decoded, FRAME_PREVIEW_BYTES, Opcode, WireFrame, WireMessage};
use crate::ws::tap::{Direction, HttpHead};

/// Characters of text shown in one line; the JSON has the same cut.
const TEXT_PREVIEW_CHARS: usize = 120;

/// Bytes shown as hex in one line.
const HEX_PREVIEW_BYTES: usize = 16;

/// The bytes as hex, `48 65 6c 6c 6f`, with `…` when there are more.
pub fn hex(bytes: &[u8], max: usize) -> String {
    let mut out: Vec<String> = bytes.iter().take(max).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > max {
        out.push("…".into());
    }
    out.join(" ")
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// What a close code means (RFC 6455 §7.4.1).
pub fn close_meaning(code: u16) -> &'static str {
    match code {
        1000 => "normal closure",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "data of a type it cannot accept",
        1005 | 1006 | 1015 => "a code that must never be sent on the wire",
        1007 => "invalid data: not UTF-8 in a text message",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "a required extension is missing",
        1011 => "the server hit an unexpected condition",
        1012 => "service restart",
        1013 => "try again later",
        3000..=3999 => "a code registered by a library or framework",
        4000..=4999 => "a code private to this application",
        _ => "not a valid close code",
    }
}

fn prefix(id: u64, dir: Direction) -> String {
    format!("#{id} {}", dir.arrow())
}

fn base(layer: Layer, event: &'static str, id: u64, dir: Direction, text: String) -> Observation {
    Observation::new(layer, event, format!("{} {text}", prefix(id, dir)))
        .field("id", id)
        .field("direction", dir.name())
}

/// A request that is not an upgrade (the page, an asset).
pub fn http_request(id: u64, head: &HttpHead) -> Observation {
    let (method, path) = head.request_line();
    base(
        Layer::Application,
        "http_request",
        id,
        Direction::ClientToServer,
        format!(
            "{method} {path} HTTP/1.{}: a plain HTTP request on the same port; the tap passes it through",
            head.version
        ),
    )
    .field("method", method)
    .field("path", path)
    .field("content_length", head.content_length())
}

/// An HTTP request asking to become a WebSocket.
pub fn upgrade_request(id: u64, head: &HttpHead) -> Observation {
    let (method, path) = head.request_line();
    let key = head.header("sec-websocket-key").unwrap_or("(none)");
    let mut text = format!(
        "{method} {path} asks to upgrade this TCP connection to {:?} (Connection: {}): Sec-WebSocket-Key {key}, a random nonce, version {}",
        head.header("upgrade").unwrap_or(""),
        head.header("connection").unwrap_or(""),
        head.header("sec-websocket-version").unwrap_or("(none)"),
    );
    if let Some(p) = head.header("sec-websocket-protocol") {
        text.push_str(&format!("; subprotocols offered: {p}"));
    }
    if let Some(e) = head.header("sec-websocket-extensions") {
        text.push_str(&format!("; extensions offered: {e}"));
    }
    base(
        Layer::Application,
        "upgrade_request",
        id,
        Direction::ClientToServer,
        text,
    )
    .field("method", method)
    .field("path", path)
    .field("upgrade", head.header("upgrade"))
    .field("connection", head.header("connection"))
    .field("sec_websocket_key", head.header("sec-websocket-key"))
    .field(
        "sec_websocket_version",
        head.header("sec-websocket-version"),
    )
    .field(
        "sec_websocket_protocol",
        head.header("sec-websocket-protocol"),
    )
    .field(
        "sec_websocket_extensions",
        head.header("sec-websocket-extensions"),
    )
}

/// The server's 101, with the accept key checked against the request's key.
pub fn upgrade_response(id: u64, head: &HttpHead, expected: Option<&str>) -> Observation {
    let accept = head.header("sec-websocket-accept");
    let matches = accept.is_some() && accept == expected;
    let mut text = format!(
        "{} {}: Sec-WebSocket-Accept {} ",
        head.status(),
        head.reason(),
        accept.unwrap_or("(none)")
    );
    text.push_str(match (matches, expected) {
        (true, _) => "= base64(SHA-1(key + \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")), as expected: the server proved it read this handshake",
        (false, Some(_)) => "does not match base64(SHA-1(key + GUID)): a real client would refuse this upgrade",
        (false, None) => "cannot be checked: the tap did not see the request's key",
    });
    if let Some(p) = head.header("sec-websocket-protocol") {
        text.push_str(&format!("; subprotocol: {p}"));
    }
    if let Some(e) = head.header("sec-websocket-extensions") {
        text.push_str(&format!("; extensions: {e}"));
    }
    text.push_str(". From here on both directions speak WebSocket frames, not HTTP");
    base(
        Layer::Application,
        "upgrade_response",
        id,
        Direction::ServerToClient,
        text,
    )
    .field("status", head.status())
    .field("sec_websocket_accept", accept)
    .field("expected_accept", expected)
    .field("accept_matches", matches)
    .field(
        "sec_websocket_protocol",
        head.header("sec-websocket-protocol"),
    )
    .field(
        "sec_websocket_extensions",
        head.header("sec-websocket-extensions"),
    )
}

/// Any other response, with the request it answers when known.
pub fn http_response(id: u64, head: &HttpHead, request: Option<(&str, &str, bool)>) -> Observation {
    let mut text = format!("{} {}", head.status(), head.reason());
    if let Some(len) = head.content_length() {
        text.push_str(&format!(", {} bytes", thousands(len)));
    }
    if let Some(t) = head.header("content-type") {
        text.push_str(&format!(" of {t}"));
    }
    if let Some((method, path, upgrade)) = request {
        text.push_str(&format!(" for {method} {path}"));
        if upgrade {
            text.push_str(
                ": the server refused the upgrade, so no WebSocket exists on this connection",
            );
        }
    }
    let mut obs = base(
        Layer::Application,
        "http_response",
        id,
        Direction::ServerToClient,
        text,
    )
    .field("status", head.status())
    .field("reason", head.reason())
    .field("content_length", head.content_length())
    .field("content_type", head.header("content-type"));
    if let Some((method, path, _)) = request {
        obs = obs.field("method", method).field("path", path);
    }
    obs
}

/// Bytes that are not HTTP where HTTP was expected.
pub fn not_http(id: u64, dir: Direction, reason: &str, bytes: &[u8]) -> Observation {
    base(
        Layer::Application,
        "not_http",
        id,
        dir,
        format!(
            "these bytes are not HTTP ({reason}; first bytes {}): the tap forwards the rest of this direction unread",
            hex(bytes, HEX_PREVIEW_BYTES)
        ),
    )
    .field("reason", reason)
    .field("first_bytes", hex(bytes, HEX_PREVIEW_BYTES))
}

/// A body the tap cannot measure (chunked or up to the close).
pub fn http_body_unmeasured(id: u64, dir: Direction, why: &str) -> Observation {
    base(
        Layer::Application,
        "http_body_unmeasured",
        id,
        dir,
        format!("{why}: the tap forwards the rest of this direction without reading it as HTTP"),
    )
    .detail()
}

fn frame_shape(f: &WireFrame) -> String {
    let mut text = format!("{} frame, FIN={}", f.opcode.name(), u8::from(f.fin));
    if f.rsv.iter().any(|b| *b) {
        text.push_str(&format!(
            ", RSV={}{}{}",
            u8::from(f.rsv[0]),
            u8::from(f.rsv[1]),
            u8::from(f.rsv[2])
        ));
    }
    match f.mask {
        Some(key) => text.push_str(&format!(", masked (key {})", hex(&key, 4))),
        None => text.push_str(", not masked"),
    }
    text.push_str(&format!(
        ", {} bytes ({} length), {}-byte header",
        thousands(f.payload_len),
        f.length_encoding.name(),
        f.header_len
    ));
    text
}

fn frame_fields(obs: Observation, f: &WireFrame) -> Observation {
    obs.field("index", f.index)
        .field("fin", f.fin)
        .field("rsv1", f.rsv[0])
        .field("rsv2", f.rsv[1])
        .field("rsv3", f.rsv[2])
        .field("opcode", f.opcode.name())
        .field("opcode_value", f.opcode.code())
        .field("masked", f.mask.is_some())
        .field("mask_key", f.mask.map(|k| hex(&k, 4).replace(' ', "")))
        .field("payload_len", f.payload_len)
        .field("length_encoding", f.length_encoding.name())
        .field("header_len", f.header_len)
}

/// What the payload of a control frame says, quoted.
fn control_data(f: &WireFrame) -> String {
    if f.preview.is_empty() {
        return "no data".into();
    }
    match std::str::from_utf8(&f.preview) {
        Ok(s) => format!("{:?}", clip(s, TEXT_PREVIEW_CHARS)),
        Err(_) => hex(&f.preview, HEX_PREVIEW_BYTES),
    }
}

/// One frame, at L5; `problem` is a direction rule it broke, if any;
/// `answers_close` when the other side has already sent its close.
pub fn frame(
    id: u64,
    dir: Direction,
    f: &WireFrame,
    problem: Option<&str>,
    answers_close: bool,
) -> Observation {
    let mut text = frame_shape(f);
    match f.opcode {
        Opcode::Text | Opcode::Binary if !f.fin => {
            text.push_str(": the first fragment of a message; more frames follow")
        }
        Opcode::Continuation if f.fin => text.push_str(": the last fragment of the message"),
        Opcode::Continuation => text.push_str(": more of the message; more frames follow"),
        Opcode::Ping => text.push_str(&format!(
            ": {}: a heartbeat; the other side must answer with a pong carrying the same data",
            control_data(f)
        )),
        Opcode::Pong => text.push_str(&format!(": {}: the answer to a ping", control_data(f))),
        Opcode::Close => {
            match f.close() {
                Some((code, reason)) => text.push_str(&format!(
                    ": code {code} ({}){}",
                    close_meaning(code),
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(", reason {reason:?}")
                    },
                )),
                None => text.push_str(": no code"),
            }
            text.push_str(&if answers_close {
                format!(
                    ": the {} answers the close; the session is over, and the server closes the TCP connection",
                    dir.sender()
                )
            } else {
                format!(
                    ": the {} ends the session; the other side answers with its own close",
                    dir.sender()
                )
            });
        }
        _ => {}
    }
    let problems: Vec<&str> = f.problem.into_iter().chain(problem).collect();
    if !problems.is_empty() {
        text.push_str(&format!(" — against RFC 6455: {}", problems.join("; ")));
    }
    let mut obs = frame_fields(base(Layer::Session, "ws_frame", id, dir, text), f);
    match f.opcode {
        Opcode::Close => {
            let close = f.close();
            obs = obs
                .field("close_code", close.as_ref().map(|(c, _)| *c))
                .field("close_reason", close.map(|(_, r)| r));
        }
        Opcode::Ping | Opcode::Pong => {
            obs = obs.field("data", String::from_utf8_lossy(&f.preview).into_owned());
        }
        _ => {}
    }
    if !problems.is_empty() {
        obs = obs.field("problem", problems.join("; "));
    }
    obs
}

/// The first frame of a direction, at L6: what masking does, or that there is none.
pub fn masking(id: u64, dir: Direction, f: &WireFrame) -> Observation {
    let shown = f.wire_preview.len();
    let text = match f.mask {
        Some(key) => format!(
            "masking: the payload's first bytes on the wire are {}; XOR with the key {} repeated gives {}{}. Every client frame is masked with a fresh random key, so what a browser sends can never look like HTTP to a proxy in between; it hides nothing, the key travels with the frame",
            hex(&f.wire_preview, HEX_PREVIEW_BYTES),
            hex(&key, 4),
            hex(&f.preview[..shown.min(f.preview.len())], HEX_PREVIEW_BYTES),
            readable(&f.preview[..shown.min(f.preview.len())])
        ),
        None => format!(
            "no mask: the server's payload bytes on the wire, {}, are the data itself{}. Only client-to-server frames are masked",
            hex(&f.wire_preview, HEX_PREVIEW_BYTES),
            readable(&f.wire_preview)
        ),
    };
    base(Layer::Presentation, "ws_masking", id, dir, text)
        .field("masked", f.mask.is_some())
        .field("mask_key", f.mask.map(|k| hex(&k, 4).replace(' ', "")))
        .field("wire_bytes", hex(&f.wire_preview, HEX_PREVIEW_BYTES))
        .field(
            "unmasked_bytes",
            hex(&f.preview[..shown.min(f.preview.len())], HEX_PREVIEW_BYTES),
        )
}

/// ` ("Hello")` when the bytes are printable text, else nothing.
fn readable(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.is_empty() && s.chars().all(|c| !c.is_control()) => format!(" ({s:?})"),
        _ => String::new(),
    }
}

/// A complete message: JSON at L7, other text and bytes at L6.
pub fn message(id: u64, dir: Direction, m: &WireMessage) -> Observation {
    let frames = if m.frames == 1 {
        String::new()
    } else {
        format!(", reassembled from {} frames", m.frames)
    };
    if m.compressed {
        return base(
            Layer::Presentation,
            "ws_message",
            id,
            dir,
            format!(
                "{} message of {} bytes{frames}, compressed (RSV1, permessage-deflate): {}, readable only once inflated (the tap does not inflate)",
                m.opcode.name(),
                thousands(m.len),
                hex(&m.kept, HEX_PREVIEW_BYTES)
            ),
        )
        .field("kind", m.opcode.name())
        .field("frames", m.frames)
        .field("len", m.len)
        .field("compressed", true)
        .field("hex", hex(&m.kept, HEX_PREVIEW_BYTES));
    }
    let cut = if m.is_whole() {
        String::new()
    } else {
        format!(" (first {} bytes kept)", thousands(m.kept.len() as u64))
    };
    let obs = match (m.opcode, std::str::from_utf8(&m.kept)) {
        (Opcode::Text, Ok(text)) => {
            let json = if m.is_whole() {
                serde_json::from_str::<Value>(text).ok()
            } else {
                None
            };
            match json {
                Some(value) => {
                    let kind = value.get("type").and_then(Value::as_str).map(str::to_string);
                    let said = match &kind {
                        Some(k) => format!("JSON event {k:?}"),
                        None => "JSON".to_string(),
                    };
                    base(
                        Layer::Application,
                        "ws_message",
                        id,
                        dir,
                        format!(
                            "{said}{frames}: {}",
                            clip(&value.to_string(), TEXT_PREVIEW_CHARS)
                        ),
                    )
                    .field("kind", "text")
                    .field("json", true)
                    .field("event_type", kind)
                    .field("payload_text", clip(text, TEXT_PREVIEW_CHARS))
                }
                None => base(
                    Layer::Presentation,
                    "ws_message",
                    id,
                    dir,
                    format!(
                        "text message, {} bytes of valid UTF-8{frames}{cut}: {:?}",
                        thousands(m.len),
                        clip(text, TEXT_PREVIEW_CHARS)
                    ),
                )
                .field("kind", "text")
                .field("json", false)
                .field("payload_text", clip(text, TEXT_PREVIEW_CHARS)),
            }
        }
        (Opcode::Text, Err(e)) if !m.is_whole() && e.error_len().is_none() => base(
            Layer::Presentation,
            "ws_message",
            id,
            dir,
            format!(
                "text message, {} bytes{frames}{cut}: {:?}",
                thousands(m.len),
                clip(&String::from_utf8_lossy(&m.kept), TEXT_PREVIEW_CHARS)
            ),
        )
        .field("kind", "text")
        .field("json", false),
        (Opcode::Text, Err(e)) => base(
            Layer::Presentation,
            "ws_message",
            id,
            dir,
            format!(
                "text message{frames} that is not valid UTF-8 (at byte {}): a receiver must close with 1007",
                e.valid_up_to()
            ),
        )
        .field("kind", "text")
        .field("utf8", false)
        .field("hex", hex(&m.kept, HEX_PREVIEW_BYTES)),
        _ => base(
            Layer::Presentation,
            "ws_message",
            id,
            dir,
            format!(
                "binary message, {} bytes{frames}{cut}: {}",
                thousands(m.len),
                hex(&m.kept, HEX_PREVIEW_BYTES)
            ),
        )
        .field("kind", "binary")
        .field("hex", hex(&m.kept, HEX_PREVIEW_BYTES)),
    };
    obs.field("frames", m.frames)
        .field("len", m.len)
        .field("compressed", false)
}

/// The other decoder findings: a large frame begun, garbage, a cut frame.
pub fn decoder_finding(id: u64, dir: Direction, d: &Decoded) -> Option<Observation> {
    Some(match d {
        Decoded::LargeFrameStarted(f) => frame_fields(
            base(
                Layer::Session,
                "ws_large_frame",
                id,
                dir,
                format!(
                    "{}: a large frame begins; the tap forwards its payload as it comes and keeps only the first {} bytes",
                    frame_shape(f),
                    FRAME_PREVIEW_BYTES
                ),
            ),
            f,
        ),
        Decoded::NotWebSocket {
            offset,
            reason,
            bytes,
        } => base(
            Layer::Session,
            "not_websocket",
            id,
            dir,
            format!(
                "byte {offset} of the WebSocket stream cannot start a frame ({reason}; bytes {}): this is not WebSocket framing. The tap forwards the rest unread",
                hex(bytes, HEX_PREVIEW_BYTES)
            ),
        )
        .field("offset", *offset)
        .field("reason", reason.as_str())
        .field("first_bytes", hex(bytes, HEX_PREVIEW_BYTES)),
        Decoded::Truncated { frame, received } => frame_fields(
            base(
                Layer::Session,
                "ws_truncated",
                id,
                dir,
                format!(
                    "the connection ended {} bytes into a {}-byte {} frame",
                    thousands(*received),
                    thousands(frame.payload_len),
                    frame.opcode.name()
                ),
            ),
            frame,
        )
        .field("received", *received),
        Decoded::Frame(_) | Decoded::Message(_) => return None,
    })
}
