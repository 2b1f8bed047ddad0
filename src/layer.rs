//! The layer language: one table, used by every subcommand.
//!
//! Each [`Layer`] knows its OSI number and name, the TCP/IP layer it belongs to,
//! what netdojo shows there, and its colour. Nothing else in the crate hard-codes a
//! layer's name or colour: a reporter asks the layer.

use colored::Color;
use serde::{Serialize, Serializer};

/// A layer of the OSI model, mapped onto the four layers of TCP/IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    Physical = 1,
    DataLink = 2,
    Network = 3,
    Transport = 4,
    Session = 5,
    Presentation = 6,
    Application = 7,
}

impl Layer {
    /// All seven layers, top (7, Application) to bottom (1, Physical): the order a
    /// sender's data goes down and a textbook draws them.
    pub const ALL: [Layer; 7] = [
        Layer::Application,
        Layer::Presentation,
        Layer::Session,
        Layer::Transport,
        Layer::Network,
        Layer::DataLink,
        Layer::Physical,
    ];

    /// The OSI layer number, 1 (Physical) to 7 (Application).
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The layer for an OSI number, if there is one.
    pub fn from_number(n: u8) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.number() == n)
    }

    /// The OSI name of the layer.
    pub fn osi_name(self) -> &'static str {
        match self {
            Layer::Physical => "Physical",
            Layer::DataLink => "Data link",
            Layer::Network => "Network",
            Layer::Transport => "Transport",
            Layer::Session => "Session",
            Layer::Presentation => "Presentation",
            Layer::Application => "Application",
        }
    }

    /// The TCP/IP (internet model) layer this OSI layer belongs to.
    pub fn tcpip_name(self) -> &'static str {
        match self {
            Layer::Physical | Layer::DataLink => "Link",
            Layer::Network => "Internet",
            Layer::Transport => "Transport",
            Layer::Session | Layer::Presentation | Layer::Application => "Application",
        }
    }

    /// What netdojo shows at this layer.
    pub fn shows(self) -> &'static str {
        match self {
            Layer::Application => "chat events, queue messages, HTTP upgrade, DNS",
            Layer::Presentation => "encodings: UTF-8 text, JSON, WebSocket masking",
            Layer::Session => "WebSocket session, resume tokens, heartbeats",
            Layer::Transport => "ports, TCP handshake/seq/ack/flags, UDP length",
            Layer::Network => "IPv4/IPv6 addresses, TTL, fragments, ICMP",
            Layer::DataLink => "Ethernet MACs, EtherType, VLAN, ARP",
            Layer::Physical => "bytes on the wire, link impairments in the lab",
        }
    }

    /// The colour every view uses for this layer.
    pub fn color(self) -> Color {
        match self {
            Layer::Application | Layer::Presentation | Layer::Session => Color::Magenta,
            Layer::Transport => Color::Yellow,
            Layer::Network => Color::Green,
            Layer::DataLink => Color::Cyan,
            Layer::Physical => Color::Blue,
        }
    }

    /// The short badge narration starts with, e.g. `[L4 Transport]`.
    pub fn badge(self) -> String {
        format!("[L{} {}]", self.number(), self.osi_name())
    }

    /// The badge with the TCP/IP layer too, e.g. `[L3 Network · Internet]`.
    pub fn long_badge(self) -> String {
        format!(
            "[L{} {} · {}]",
            self.number(),
            self.osi_name(),
            self.tcpip_name()
        )
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "L{} {}", self.number(), self.osi_name())
    }
}

/// Layers serialize as their OSI number: `"layer": 4`.
impl Serialize for Layer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_are_ordered_top_down() {
        for (i, layer) in Layer::ALL.iter().enumerate() {
            assert_eq!(layer.number() as usize, 7 - i);
            assert_eq!(Layer::from_number(layer.number()), Some(*layer));
        }
        assert_eq!(Layer::from_number(0), None);
        assert_eq!(Layer::from_number(8), None);
    }

    #[test]
    fn osi_layers_fold_into_four_tcpip_layers() {
        let mut tcpip: Vec<&str> = Layer::ALL.iter().map(|l| l.tcpip_name()).collect();
        tcpip.dedup();
        assert_eq!(tcpip, ["Application", "Transport", "Internet", "Link"]);
    }

    #[test]
    fn badges_name_number_and_layer() {
        assert_eq!(Layer::Transport.badge(), "[L4 Transport]");
        assert_eq!(Layer::Network.long_badge(), "[L3 Network · Internet]");
    }
}
