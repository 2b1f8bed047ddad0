//! `--filter`: a small expression language over [`Facts`].
//!
//! A filter keeps the frames a question is about: `tcp and port 80`,
//! `host 10.0.0.1 and not arp`, `(dns or icmp) and src host 192.0.2.1`.
//! It reads only the cheap [`Facts`], so filtering a million-frame capture
//! costs no more than reading it.
//!
//! # Grammar
//!
//! ```text
//! expr    := or
//! or      := and ( ("or" | "||") and )*
//! and     := unary ( ("and" | "&&")? unary )*     two terms side by side mean "and"
//! unary   := ("not" | "!") unary | primary
//! primary := "(" expr ")"
//!          | PROTOCOL                              eth sll vlan arp ip ipv6 frag icmp
//!                                                  icmpv6 tcp udp dns http websocket tls
//!          | "port" N | "src" "port" N | "dst" "port" N       N in 0..=65535
//!          | "host" ADDR | "src" "host" ADDR | "dst" "host" ADDR   IPv4 or IPv6
//!          | "vlan" N                              802.1Q VLAN id N in 0..=4095
//!          | "syn" | "fin" | "rst" | "psh" | "ack" | "urg"     TCP with that flag set
//! ```
//!
//! - `not` binds tightest, then `and`, then `or`: `not arp and tcp or udp`
//!   is `((not arp) and tcp) or udp`. Parentheses say otherwise.
//! - Words are case-insensitive. `ipv4` and `ip4` mean `ip`; `ip6` means `ipv6`.
//! - `port N` matches a TCP or UDP frame with N as either port; `src port N`
//!   only the source port, `dst port N` only the destination. `host ADDR`
//!   likewise matches either IP address (for ARP, the sender and target
//!   protocol addresses).
//! - Side by side means `and`, as in tcpdump: `tcp port 80` is `tcp and port 80`.
//!
//! A bad expression is a usage error (exit code 2) naming the word and its
//! position, counted in characters from 1:
//!
//! ```text
//! bad filter: unknown word "prot" at position 5 (expected a protocol, port N, host ADDR, not, or "(")
//! ```
//!
//! Parsing builds a small tree (a `Vec` of nodes that point at each other by
//! index); [`Filter::matches`] walks it without allocating.

use std::net::IpAddr;

use super::model::{Facts, Protocols, TcpFlags, TransportFacts};
use crate::error::UsageError;

/// At most this many terms and operators: a filter is a question typed by a
/// person, and a bound keeps evaluation (which recurses over the tree) shallow.
const MAX_NODES: usize = 256;

/// At most this many nested `(` or `not`: parsing recurses once per level,
/// and a string of ten thousand `(` must be an error, not a stack overflow.
const MAX_NESTING: usize = 32;

/// VLAN ids are 12 bits (802.1Q).
const MAX_VLAN_ID: u16 = 4095;

/// What a term may be, for error messages.
const EXPECTED_TERM: &str = r#"expected a protocol, port N, host ADDR, not, or "(""#;

/// Extra protocol names people type, beside [`Protocols::NAMES`].
const PROTOCOL_ALIASES: [(&str, u32); 3] = [
    ("ipv4", Protocols::IPV4),
    ("ip4", Protocols::IPV4),
    ("ip6", Protocols::IPV6),
];

/// TCP flag words.
const TCP_FLAG_WORDS: [(&str, u8); 6] = [
    ("syn", TcpFlags::SYN),
    ("fin", TcpFlags::FIN),
    ("rst", TcpFlags::RST),
    ("psh", TcpFlags::PSH),
    ("ack", TcpFlags::ACK),
    ("urg", TcpFlags::URG),
];

/// Which side of a conversation a `port` or `host` test looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Either,
    Src,
    Dst,
}

/// One node of the parsed expression; operands are indices into
/// [`Filter::nodes`], always smaller than the node's own index.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    /// The frame contains this protocol (a [`Protocols`] bit).
    Protocol(u32),
    Port(Side, u16),
    Host(Side, IpAddr),
    VlanId(u16),
    /// TCP with this flag set.
    TcpFlag(u8),
    Not(usize),
    And(usize, usize),
    Or(usize, usize),
}

/// A parsed filter expression.
#[derive(Clone, Debug)]
pub struct Filter {
    nodes: Vec<Node>,
    root: usize,
}

impl Filter {
    /// Parses an expression; a bad one is a usage error naming the word.
    pub fn parse(text: &str) -> Result<Filter, UsageError> {
        let tokens = tokenize(text);
        if tokens.is_empty() {
            return Err(bad("the expression is empty".into()));
        }
        let mut parser = Parser {
            tokens: &tokens,
            next: 0,
            nodes: Vec::new(),
            nesting: 0,
        };
        let root = parser.or()?;
        if let Some(tok) = parser.peek() {
            // Side by side means "and", so only an unmatched ")" can be left.
            return Err(bad(format!(
                "{:?} at position {} has no matching \"(\"",
                tok.text, tok.pos
            )));
        }
        Ok(Filter {
            nodes: parser.nodes,
            root,
        })
    }

    /// Whether a frame's facts match.
    pub fn matches(&self, facts: &Facts) -> bool {
        self.eval(self.root, facts)
    }

    fn eval(&self, node: usize, facts: &Facts) -> bool {
        let Some(node) = self.nodes.get(node) else {
            return false;
        };
        match *node {
            Node::Protocol(bit) => facts.protocols.has(bit),
            Node::Port(side, port) => facts.ports().is_some_and(|(src, dst)| match side {
                Side::Either => src == port || dst == port,
                Side::Src => src == port,
                Side::Dst => dst == port,
            }),
            Node::Host(side, addr) => {
                let src = facts.src_ip == Some(addr);
                let dst = facts.dst_ip == Some(addr);
                match side {
                    Side::Either => src || dst,
                    Side::Src => src,
                    Side::Dst => dst,
                }
            }
            Node::VlanId(id) => facts.vlan_id == Some(id),
            Node::TcpFlag(bit) => {
                matches!(facts.transport, Some(TransportFacts::Tcp { flags, .. }) if flags.has(bit))
            }
            Node::Not(a) => !self.eval(a, facts),
            Node::And(a, b) => self.eval(a, facts) && self.eval(b, facts),
            Node::Or(a, b) => self.eval(a, facts) || self.eval(b, facts),
        }
    }
}

fn bad(message: String) -> UsageError {
    UsageError(format!("bad filter: {message}"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Open,
    Close,
    Not,
    And,
    Or,
    Word,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    /// Position of the first character, counted in characters from 1.
    pos: usize,
}

/// Characters that end a word even without a space: `(tcp)`, `!arp`, `a&&b`.
fn is_punctuation(c: char) -> bool {
    matches!(c, '(' | ')' | '!' | '&' | '|')
}

fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().enumerate().peekable();
    while let Some((index, (start, c))) = chars.next() {
        let pos = index + 1;
        if c.is_whitespace() {
            continue;
        }
        let doubled = |c: char, next: Option<&(usize, (usize, char))>| {
            next.is_some_and(|&(_, (_, n))| n == c)
        };
        let (kind, len) = match c {
            '(' => (Kind::Open, 1),
            ')' => (Kind::Close, 1),
            '!' => (Kind::Not, 1),
            '&' if doubled('&', chars.peek()) => (Kind::And, 2),
            '|' if doubled('|', chars.peek()) => (Kind::Or, 2),
            // A lone `&` or `|` is a word nobody knows, reported as such.
            '&' | '|' => (Kind::Word, 1),
            _ => {
                let mut end = start + c.len_utf8();
                while let Some(&(_, (i, n))) = chars.peek() {
                    if n.is_whitespace() || is_punctuation(n) {
                        break;
                    }
                    end = i + n.len_utf8();
                    chars.next();
                }
                let word = &text[start..end];
                let kind = if word.eq_ignore_ascii_case("not") {
                    Kind::Not
                } else if word.eq_ignore_ascii_case("and") {
                    Kind::And
                } else if word.eq_ignore_ascii_case("or") {
                    Kind::Or
                } else {
                    Kind::Word
                };
                tokens.push(Token {
                    kind,
                    text: word,
                    pos,
                });
                continue;
            }
        };
        if len == 2 {
            chars.next();
        }
        tokens.push(Token {
            kind,
            text: &text[start..start + len],
            pos,
        });
    }
    tokens
}

struct Parser<'t, 'a> {
    tokens: &'t [Token<'a>],
    next: usize,
    nodes: Vec<Node>,
    nesting: usize,
}

impl<'a> Parser<'_, 'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.next).copied()
    }

    fn bump(&mut self) -> Option<Token<'a>> {
        let tok = self.peek()?;
        self.next += 1;
        Some(tok)
    }

    /// The token before the next one, for "needs something after it".
    fn previous(&self) -> Option<Token<'a>> {
        self.next
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .copied()
    }

    fn push(&mut self, node: Node, at: Token<'_>) -> Result<usize, UsageError> {
        if self.nodes.len() >= MAX_NODES {
            return Err(bad(format!(
                "too long at position {}: at most {MAX_NODES} terms and operators",
                at.pos
            )));
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn or(&mut self) -> Result<usize, UsageError> {
        let mut left = self.and()?;
        while let Some(tok) = self.peek().filter(|t| t.kind == Kind::Or) {
            self.bump();
            let right = self.and()?;
            left = self.push(Node::Or(left, right), tok)?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<usize, UsageError> {
        let mut left = self.unary()?;
        while let Some(tok) = self.peek() {
            match tok.kind {
                Kind::And => {
                    self.bump();
                }
                // Side by side: an implicit "and", as in tcpdump's `tcp port 80`.
                Kind::Word | Kind::Not | Kind::Open => {}
                Kind::Or | Kind::Close => break,
            }
            let right = self.unary()?;
            left = self.push(Node::And(left, right), tok)?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<usize, UsageError> {
        match self.peek() {
            Some(tok) if tok.kind == Kind::Not => {
                self.bump();
                self.enter(tok)?;
                let operand = self.unary();
                self.nesting -= 1;
                let operand = operand?;
                self.push(Node::Not(operand), tok)
            }
            _ => self.primary(),
        }
    }

    fn enter(&mut self, tok: Token<'_>) -> Result<(), UsageError> {
        if self.nesting >= MAX_NESTING {
            return Err(bad(format!(
                "{:?} at position {} is nested too deeply (at most {MAX_NESTING} levels of \"(\" and \"not\")",
                tok.text, tok.pos
            )));
        }
        self.nesting += 1;
        Ok(())
    }

    fn primary(&mut self) -> Result<usize, UsageError> {
        let Some(tok) = self.bump() else {
            return Err(match self.previous() {
                Some(prev) => needs_after(prev),
                None => bad("the expression is empty".into()),
            });
        };
        match tok.kind {
            Kind::Open => {
                self.enter(tok)?;
                let inner = self.group(tok);
                self.nesting -= 1;
                inner
            }
            Kind::Close => Err(match self.before_last() {
                Some(prev) if prev.kind == Kind::Open => bad(format!(
                    "empty parentheses at position {} ({EXPECTED_TERM} inside)",
                    prev.pos
                )),
                Some(prev) if prev.kind != Kind::Word && prev.kind != Kind::Close => {
                    needs_after(prev)
                }
                _ => bad(format!(
                    "{:?} at position {} has no matching \"(\"",
                    tok.text, tok.pos
                )),
            }),
            Kind::And | Kind::Or => Err(match self.before_last() {
                Some(prev) if prev.kind != Kind::Word && prev.kind != Kind::Close => {
                    needs_after(prev)
                }
                _ => bad(format!(
                    "{:?} at position {} needs something before it ({EXPECTED_TERM})",
                    tok.text, tok.pos
                )),
            }),
            // `unary` takes every `not` before `primary` runs; kept total anyway.
            Kind::Not => Err(needs_after(tok)),
            Kind::Word => self.word(tok),
        }
    }

    /// The token before the one just consumed.
    fn before_last(&self) -> Option<Token<'a>> {
        self.next
            .checked_sub(2)
            .and_then(|i| self.tokens.get(i))
            .copied()
    }

    /// The inside of `( ... )`, after the `(`.
    fn group(&mut self, open: Token<'_>) -> Result<usize, UsageError> {
        let inner = self.or()?;
        match self.bump() {
            Some(t) if t.kind == Kind::Close => Ok(inner),
            _ => Err(bad(format!(
                "\"(\" at position {} is never closed",
                open.pos
            ))),
        }
    }

    fn word(&mut self, tok: Token<'a>) -> Result<usize, UsageError> {
        let word = tok.text;
        let is = |k: &str| word.eq_ignore_ascii_case(k);
        if is("src") || is("dst") {
            let side = if is("src") { Side::Src } else { Side::Dst };
            return match self.peek() {
                Some(next) if next.kind == Kind::Word && next.text.eq_ignore_ascii_case("port") => {
                    self.bump();
                    let port = self.port(next)?;
                    self.push(Node::Port(side, port), tok)
                }
                Some(next) if next.kind == Kind::Word && next.text.eq_ignore_ascii_case("host") => {
                    self.bump();
                    let addr = self.address(next)?;
                    self.push(Node::Host(side, addr), tok)
                }
                _ => Err(bad(format!(
                    "{:?} at position {} must be followed by \"port N\" or \"host ADDR\"",
                    tok.text, tok.pos
                ))),
            };
        }
        if is("port") {
            let port = self.port(tok)?;
            return self.push(Node::Port(Side::Either, port), tok);
        }
        if is("host") {
            let addr = self.address(tok)?;
            return self.push(Node::Host(Side::Either, addr), tok);
        }
        if is("vlan") {
            // `vlan` alone is the protocol; `vlan N` is one VLAN.
            if let Some(next) = self.peek().filter(|t| {
                t.kind == Kind::Word && t.text.starts_with(|c: char| c.is_ascii_digit())
            }) {
                self.bump();
                let id = number(next, u32::from(MAX_VLAN_ID), "VLAN id")?;
                return self.push(Node::VlanId(id), tok);
            }
            return self.push(Node::Protocol(Protocols::VLAN), tok);
        }
        if let Some(&(bit, _)) = Protocols::NAMES.iter().find(|(_, name)| is(name)) {
            return self.push(Node::Protocol(bit), tok);
        }
        if let Some(&(_, bit)) = PROTOCOL_ALIASES.iter().find(|(name, _)| is(name)) {
            return self.push(Node::Protocol(bit), tok);
        }
        if let Some(&(_, bit)) = TCP_FLAG_WORDS.iter().find(|(name, _)| is(name)) {
            return self.push(Node::TcpFlag(bit), tok);
        }
        Err(bad(format!(
            "unknown word {:?} at position {} ({EXPECTED_TERM})",
            tok.text, tok.pos
        )))
    }

    /// The number after `port`.
    fn port(&mut self, keyword: Token<'_>) -> Result<u16, UsageError> {
        match self.peek().filter(|t| t.kind == Kind::Word) {
            Some(next) => {
                self.bump();
                number(next, u16::MAX.into(), "port")
            }
            None => Err(bad(format!(
                "{:?} at position {} needs a port number after it (0-65535)",
                keyword.text, keyword.pos
            ))),
        }
    }

    /// The address after `host`.
    fn address(&mut self, keyword: Token<'_>) -> Result<IpAddr, UsageError> {
        match self.peek().filter(|t| t.kind == Kind::Word) {
            Some(next) => {
                self.bump();
                next.text.parse().map_err(|_| {
                    bad(format!(
                        "{:?} at position {} is not an IPv4 or IPv6 address",
                        next.text, next.pos
                    ))
                })
            }
            None => Err(bad(format!(
                "{:?} at position {} needs an address after it (like 192.0.2.1 or 2001:db8::1)",
                keyword.text, keyword.pos
            ))),
        }
    }
}

fn needs_after(tok: Token<'_>) -> UsageError {
    bad(format!(
        "{:?} at position {} needs something after it ({EXPECTED_TERM})",
        tok.text, tok.pos
    ))
}

/// A decimal number up to `max`, for `what` ("port", "VLAN id").
fn number(tok: Token<'_>, max: u32, what: &str) -> Result<u16, UsageError> {
    if tok.text.is_empty() || !tok.text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "{what} {:?} at position {} is not a number (0-{max})",
            tok.text, tok.pos
        )));
    }
    match tok.text.parse::<u32>() {
        Ok(n) if n <= max => u16::try_from(n).map_err(|_| out_of_range(tok, max, what)),
        _ => Err(out_of_range(tok, max, what)),
    }
}

fn out_of_range(tok: Token<'_>, max: u32, what: &str) -> UsageError {
    bad(format!(
        "{what} {} at position {} is out of range (0-{max})",
        tok.text, tok.pos
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tcp(src: u16, dst: u16, flags: u8) -> Facts {
        Facts {
            protocols: Protocols(Protocols::ETHERNET | Protocols::IPV4 | Protocols::TCP),
            src_ip: Some("192.0.2.1".parse().unwrap()),
            dst_ip: Some("198.51.100.7".parse().unwrap()),
            transport: Some(TransportFacts::Tcp {
                src_port: src,
                dst_port: dst,
                seq: 1,
                ack: 0,
                flags: TcpFlags(flags),
                window: 64240,
                payload: (54, 54),
            }),
            ..Facts::default()
        }
    }

    fn udp6(src: u16, dst: u16) -> Facts {
        Facts {
            protocols: Protocols(
                Protocols::ETHERNET | Protocols::IPV6 | Protocols::UDP | Protocols::DNS,
            ),
            src_ip: Some("2001:db8::1".parse().unwrap()),
            dst_ip: Some("2001:db8::53".parse().unwrap()),
            transport: Some(TransportFacts::Udp {
                src_port: src,
                dst_port: dst,
                length: 40,
                payload: (62, 94),
            }),
            ..Facts::default()
        }
    }

    fn arp() -> Facts {
        Facts {
            protocols: Protocols(Protocols::ETHERNET | Protocols::VLAN | Protocols::ARP),
            vlan_id: Some(42),
            src_ip: Some("192.0.2.1".parse().unwrap()),
            dst_ip: Some("192.0.2.7".parse().unwrap()),
            arp_op: Some(1),
            ..Facts::default()
        }
    }

    fn keeps(expr: &str, facts: &Facts) -> bool {
        Filter::parse(expr)
            .unwrap_or_else(|e| panic!("{expr:?}: {e}"))
            .matches(facts)
    }

    fn error(expr: &str) -> String {
        match Filter::parse(expr) {
            Ok(f) => panic!("{expr:?} parsed: {f:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn protocol_names_match_their_bits() {
        let syn = tcp(51000, 80, TcpFlags::SYN);
        assert!(keeps("tcp", &syn));
        assert!(keeps("ip", &syn));
        assert!(keeps("IPv4", &syn));
        assert!(keeps("eth", &syn));
        assert!(!keeps("udp", &syn));
        assert!(!keeps("ipv6", &syn));
        assert!(keeps("ip6 and udp and dns", &udp6(5353, 53)));
        for (_, name) in Protocols::NAMES {
            Filter::parse(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn ports_by_side() {
        let f = tcp(51000, 80, TcpFlags::SYN);
        assert!(keeps("port 80", &f));
        assert!(keeps("port 51000", &f));
        assert!(keeps("dst port 80", &f));
        assert!(!keeps("src port 80", &f));
        assert!(keeps("src port 51000", &f));
        assert!(!keeps("port 81", &f));
        assert!(keeps("port 53", &udp6(40000, 53)));
        assert!(!keeps("port 0", &arp()), "no ports, no match");
    }

    #[test]
    fn hosts_by_side_v4_and_v6() {
        let f = tcp(1, 2, 0);
        assert!(keeps("host 192.0.2.1", &f));
        assert!(keeps("host 198.51.100.7", &f));
        assert!(keeps("src host 192.0.2.1", &f));
        assert!(!keeps("dst host 192.0.2.1", &f));
        assert!(!keeps("host 192.0.2.2", &f));
        let u = udp6(1, 53);
        assert!(keeps("host 2001:db8::53", &u));
        assert!(keeps("dst host 2001:DB8:0::53", &u));
        assert!(!keeps("src host 2001:db8::53", &u));
        assert!(keeps("host 192.0.2.7", &arp()), "ARP's target address");
    }

    #[test]
    fn vlan_alone_or_with_an_id() {
        assert!(keeps("vlan", &arp()));
        assert!(keeps("vlan 42", &arp()));
        assert!(!keeps("vlan 43", &arp()));
        assert!(!keeps("vlan", &tcp(1, 2, 0)));
        assert!(keeps("vlan and arp", &arp()));
    }

    #[test]
    fn tcp_flag_words() {
        let syn_ack = tcp(80, 51000, TcpFlags::SYN | TcpFlags::ACK);
        assert!(keeps("syn", &syn_ack));
        assert!(keeps("syn and ack", &syn_ack));
        assert!(!keeps("fin or rst", &syn_ack));
        assert!(keeps("rst", &tcp(1, 2, TcpFlags::RST)));
        assert!(!keeps("syn", &udp6(1, 2)));
    }

    #[test]
    fn precedence_not_then_and_then_or() {
        let a = arp();
        let t = tcp(1, 80, 0);
        let u = udp6(1, 53);
        // `not arp and tcp or udp` = ((not arp) and tcp) or udp
        assert!(keeps("not arp and tcp or udp", &t));
        assert!(keeps("not arp and tcp or udp", &u));
        assert!(!keeps("not arp and tcp or udp", &a));
        // `tcp or udp and arp` = tcp or (udp and arp)
        assert!(keeps("tcp or udp and arp", &t));
        assert!(!keeps("tcp or udp and arp", &u));
        assert!(!keeps("(tcp or udp) and arp", &t));
        assert!(keeps("not not tcp", &t));
        assert!(!keeps("not (tcp or udp)", &u));
        assert!(keeps("!(arp) && (port 80 || port 53)", &t));
        assert!(keeps("!arp&&port 53", &u));
    }

    #[test]
    fn side_by_side_means_and() {
        let t = tcp(1, 80, TcpFlags::SYN);
        assert!(keeps("tcp port 80", &t));
        assert!(!keeps("udp port 80", &t));
        assert!(keeps("tcp port 80 syn", &t));
        assert!(keeps("tcp (port 80 or port 443)", &t));
        assert!(keeps("ip not arp", &t));
    }

    #[test]
    fn unknown_words_are_pointed_at() {
        assert_eq!(
            error("tcp prot 80"),
            r#"bad filter: unknown word "prot" at position 5 (expected a protocol, port N, host ADDR, not, or "(")"#
        );
        assert!(error("tcp and bogus").contains(r#""bogus" at position 9"#));
        assert!(error("tcp & udp").contains(r#"unknown word "&" at position 5"#));
        // Positions count characters, not bytes.
        assert!(error("é tcp").contains(r#""é" at position 1"#));
        assert!(error("tcp and ü").contains("position 9"));
    }

    #[test]
    fn missing_operands() {
        assert_eq!(
            error("tcp and"),
            r#"bad filter: "and" at position 5 needs something after it (expected a protocol, port N, host ADDR, not, or "(")"#
        );
        assert!(error("tcp or").contains(r#""or" at position 5 needs something after it"#));
        assert!(error("not").contains(r#""not" at position 1 needs something after it"#));
        assert!(error("and tcp").contains(r#""and" at position 1 needs something before it"#));
        assert!(
            error("tcp and or udp").contains(r#""and" at position 5 needs something after it"#)
        );
        assert!(error("tcp and )").contains(r#""and" at position 5 needs something after it"#));
        assert!(error("(or tcp)").contains(r#""(" at position 1 needs something after it"#));
        assert_eq!(error(""), "bad filter: the expression is empty");
        assert_eq!(error("   "), "bad filter: the expression is empty");
    }

    #[test]
    fn unbalanced_parentheses() {
        assert_eq!(
            error("(tcp or udp"),
            r#"bad filter: "(" at position 1 is never closed"#
        );
        assert_eq!(
            error("tcp)"),
            r#"bad filter: ")" at position 4 has no matching "(""#
        );
        assert!(error(")").contains(r#"")" at position 1 has no matching "(""#));
        assert!(error("tcp ())").contains("empty parentheses at position 5"));
        assert!(error("((tcp)").contains(r#""(" at position 1 is never closed"#));
    }

    #[test]
    fn ports_and_vlans_out_of_range_or_missing() {
        assert_eq!(
            error("port 70000"),
            "bad filter: port 70000 at position 6 is out of range (0-65535)"
        );
        assert!(error("port 99999999999999999999").contains("out of range"));
        assert!(error("port http").contains(r#"port "http" at position 6 is not a number"#));
        assert!(error("port -1").contains("is not a number"));
        assert!(error("port").contains(r#""port" at position 1 needs a port number"#));
        assert!(error("src port (").contains(r#""port" at position 5 needs a port number"#));
        assert!(error("vlan 4096").contains("VLAN id 4096 at position 6 is out of range (0-4095)"));
        assert!(error("vlan 1x").contains(r#"VLAN id "1x" at position 6 is not a number"#));
        assert!(keeps("port 0 or port 65535", &tcp(0, 9, 0)));
    }

    #[test]
    fn bad_addresses_and_sides() {
        assert_eq!(
            error("host 10.0.0.300"),
            r#"bad filter: "10.0.0.300" at position 6 is not an IPv4 or IPv6 address"#
        );
        assert!(error("host").contains(r#""host" at position 1 needs an address"#));
        assert!(error("dst host ::g").contains(r#""::g" at position 10 is not an IPv4 or IPv6"#));
        assert!(
            error("src 10.0.0.1")
                .contains(r#""src" at position 1 must be followed by "port N" or "host ADDR""#)
        );
        assert!(error("dst").contains("must be followed by"));
    }

    #[test]
    fn limits_are_errors_not_crashes() {
        let deep = "(".repeat(10_000) + "tcp" + &")".repeat(10_000);
        assert!(error(&deep).contains("nested too deeply"));
        let nots = "not ".repeat(10_000) + "tcp";
        assert!(error(&nots).contains("nested too deeply"));
        let long = vec!["tcp"; 10_000].join(" or ");
        assert!(error(&long).contains("too long"));
        let fine = vec!["tcp"; 100].join(" or ");
        assert!(keeps(&fine, &tcp(1, 2, 0)));
        let nested_ok = "(".repeat(MAX_NESTING) + "tcp" + &")".repeat(MAX_NESTING);
        assert!(keeps(&nested_ok, &tcp(1, 2, 0)));
    }

    proptest! {
        #[test]
        fn random_strings_never_panic(text in "\\PC{0,60}") {
            if let Ok(f) = Filter::parse(&text) {
                let _ = f.matches(&tcp(1, 2, 0));
                let _ = f.matches(&Facts::default());
            }
        }

        #[test]
        fn random_word_soups_never_panic(words in proptest::collection::vec(
            prop_oneof![
                Just("tcp"), Just("udp"), Just("and"), Just("or"), Just("not"), Just("("),
                Just(")"), Just("!"), Just("&&"), Just("||"), Just("port"), Just("80"),
                Just("host"), Just("::1"), Just("src"), Just("dst"), Just("vlan"), Just("7"),
                Just("syn"), Just("&"), Just("70000"),
            ], 0..24)) {
            let text = words.join(" ");
            match Filter::parse(&text) {
                Ok(f) => { let _ = f.matches(&arp()); }
                Err(e) => prop_assert!(e.to_string().starts_with("bad filter: ")),
            }
            let squeezed = words.concat();
            let _ = Filter::parse(&squeezed);
        }
    }
}
