//! Slices one captured frame (Ethernet II with up to two VLAN tags, raw IP, or Linux cooked
//! capture) into a borrowed view from the link layer down to the transport payload, with the
//! anomalies that still let the frame be decoded.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use etherparse::checksum::Sum16BitWords;
use etherparse::err::{ip, tcp, LenError};
use etherparse::{
    ArpPacketSlice, Ethernet2Slice, LaxIpPayloadSlice, LaxIpSlice, LenSource, SingleVlanSlice,
    TcpSlice, UdpSlice,
};

// Test code: a panic there is a failed test.
#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests;

/// How the frames of a capture begin (the pcap link type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// Ethernet II (`LINKTYPE_ETHERNET`, 1), optionally 802.1Q/802.1ad tagged.
    Ethernet,
    /// An IPv4 or IPv6 packet with no link header (`LINKTYPE_RAW`, 101; `DLT_RAW`).
    RawIp,
    /// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`, 113), what `tcpdump -i any` writes.
    LinuxSll,
}

impl LinkType {
    /// The link type of a pcap file header's `network` field, `None` for link types this
    /// decoder does not slice.
    pub fn from_pcap(network: u32) -> Option<LinkType> {
        match network {
            1 => Some(LinkType::Ethernet),
            // 101 is LINKTYPE_RAW; 228 and 229 are the version-specific raw IPv4 and IPv6 link
            // types, which the version nibble disambiguates just as well.
            101 | 228 | 229 => Some(LinkType::RawIp),
            113 => Some(LinkType::LinuxSll),
            _ => None,
        }
    }
}

/// A MAC address, shown as `02:00:0a:0a:01:03`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where the frame's link-layer information came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Ethernet {
        src: Mac,
        dst: Mac,
    },
    /// Linux cooked capture: no destination address is recorded.
    LinuxSll {
        /// 0 addressed to this host, 1 broadcast, 2 multicast, 3 to another host, 4 sent by this
        /// host: `-i any` on a router sees a forwarded packet twice, once in and once out.
        packet_type: u16,
        /// The sender's link address when it is 6 bytes long (Ethernet, loopback).
        src: Option<Mac>,
    },
    RawIp,
}

/// One 802.1Q or 802.1ad tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanTag {
    /// The VLAN identifier (12 bits).
    pub id: u16,
    /// The priority code point (3 bits).
    pub pcp: u8,
}

/// One frame sliced down to its transport payload, borrowing from the captured bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    pub link: Link,
    /// The first tag (the only one on a plain 802.1Q trunk, the service tag on a QinQ one).
    pub outer_vlan: Option<VlanTag>,
    /// The second tag of a double-tagged frame.
    pub inner_vlan: Option<VlanTag>,
    pub net: Net<'a>,
    /// What was wrong but still decodable; empty and unallocated for a well-formed frame.
    pub anomalies: Vec<FrameAnomaly>,
}

/// The network layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net<'a> {
    Arp(Arp),
    Ip(Ip<'a>),
    /// An EtherType this decoder does not slice (gPTP 0x88f7, AVTP 0x22f0, LLDP 0x88cc, ...).
    /// Values up to 1500 are IEEE 802.3 lengths, not EtherTypes (an LLC frame).
    Other {
        ether_type: u16,
    },
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    /// 1 request, 2 reply.
    pub operation: u16,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

/// An IPv4 or IPv6 packet (the version is that of `src` and `dst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The IPv4 TTL or the IPv6 hop limit.
    pub ttl: u8,
    pub transport: Transport<'a>,
}

/// The transport layer of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    Udp(Udp<'a>),
    Tcp(Tcp<'a>),
    /// ICMP over IPv4 or ICMPv6 over IPv6.
    Icmp(Icmp),
    /// Any other protocol, and fragments and packets whose extension headers did not parse,
    /// whose transport is not decoded (`protocol` is then the IP header's next protocol).
    Other {
        protocol: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    /// The datagram's payload, cut to the UDP length when the captured bytes are longer.
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp {
    pub icmp_type: u8,
    pub code: u8,
}

/// The flags byte of a TCP header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 8] = [
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
        ];
        let mut names = NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| name);
        match names.next() {
            None => f.write_str("-"),
            Some(first) => {
                f.write_str(first)?;
                names.try_for_each(|name| write!(f, "|{name}"))
            }
        }
    }
}

/// Something wrong with a frame that still let it be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameAnomaly {
    /// The IPv4 header checksum does not verify: the header was corrupted or forged (senders
    /// offload the TCP and UDP checksums, but the kernel writes the IPv4 one before capture).
    Ipv4Checksum,
    /// The IP packet is a fragment: it is not reassembled here, so its transport is reported as
    /// [`Transport::Other`] with no payload.
    Fragment,
    /// The capture holds fewer bytes than the IP length field announces (snap length, cut
    /// frame): the payloads are what was captured.
    Truncated { expected: usize, captured: usize },
    /// The IPv4 total length is shorter than its own header, or the IPv6 payload length is 0
    /// (a jumbogram, which no vehicle network carries): the captured length was used instead.
    IpLength,
    /// An IPv6 extension header or IPv4 authentication header did not parse, so the transport
    /// behind it is not decoded ([`Transport::Other`]).
    IpExtensions,
    /// The UDP length field disagrees with the IP payload length; the payload is cut to the
    /// shorter of the two (and to the whole IP payload when the UDP length is below 8).
    UdpLength { udp: u16, ip_payload: usize },
}

/// The layer a [`FrameError`] was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Ethernet,
    Vlan,
    LinuxSll,
    Arp,
    Ip,
    Ipv4,
    Ipv6,
    Udp,
    Tcp,
    Icmp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Ethernet => "Ethernet",
            Layer::Vlan => "VLAN",
            Layer::LinuxSll => "Linux cooked capture",
            Layer::Arp => "ARP",
            Layer::Ip => "IP",
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Udp => "UDP",
            Layer::Tcp => "TCP",
            Layer::Icmp => "ICMP",
        })
    }
}

/// Why a frame could not be sliced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum FrameError {
    #[error("{layer} header truncated: {needed} bytes needed, {available} captured")]
    Truncated {
        layer: Layer,
        needed: usize,
        available: usize,
    },
    #[error("more than two VLAN tags")]
    TooManyVlanTags,
    #[error("IP version {0} where the link announced another (or neither 4 nor 6)")]
    IpVersion(u8),
    #[error("IPv4 header length of {0} words is below the minimum of 5")]
    Ipv4HeaderLength(u8),
    #[error("TCP data offset of {0} words is below the minimum of 5")]
    TcpDataOffset(u8),
    #[error(
        "ARP for hardware type {hardware} and protocol 0x{protocol:04x} \
         (address sizes {hardware_size} and {protocol_size}) is not Ethernet/IPv4"
    )]
    ArpNotEthernetIpv4 {
        hardware: u16,
        protocol: u16,
        hardware_size: u8,
        protocol_size: u8,
    },
    #[error("Linux cooked capture of device type {0}, whose protocol field is no EtherType")]
    LinuxSllDevice(u16),
}

/// The transport protocol of a [`FlowKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowProto {
    Udp,
    Tcp,
}

/// One direction of a TCP or UDP conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub proto: FlowProto,
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

impl FlowKey {
    /// The same key for both directions of a conversation (the lower endpoint first).
    pub fn canonical(self) -> FlowKey {
        if self.src <= self.dst {
            self
        } else {
            FlowKey {
                proto: self.proto,
                src: self.dst,
                dst: self.src,
            }
        }
    }
}

impl Frame<'_> {
    /// The directional key of a TCP or UDP frame.
    pub fn flow(&self) -> Option<FlowKey> {
        let Net::Ip(ip) = &self.net else {
            return None;
        };
        let (proto, src_port, dst_port) = match &ip.transport {
            Transport::Udp(udp) => (FlowProto::Udp, udp.src_port, udp.dst_port),
            Transport::Tcp(tcp) => (FlowProto::Tcp, tcp.src_port, tcp.dst_port),
            Transport::Icmp(_) | Transport::Other { .. } => return None,
        };
        Some(FlowKey {
            proto,
            src: SocketAddr::new(ip.src, src_port),
            dst: SocketAddr::new(ip.dst, dst_port),
        })
    }
}

const ETHER_TYPE_IPV4: u16 = 0x0800;
const ETHER_TYPE_ARP: u16 = 0x0806;
const ETHER_TYPE_IPV6: u16 = 0x86dd;
/// 802.1Q customer tag, 802.1ad service tag, and the pre-standard QinQ tag that some switches
/// still send.
const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];

/// Slices one captured frame. Never panics and allocates only when there are anomalies.
pub fn parse(link: LinkType, bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    match link {
        LinkType::Ethernet => {
            let eth = Ethernet2Slice::from_slice_without_fcs(bytes)
                .map_err(|e| truncated(Layer::Ethernet, &e))?;
            let link = Link::Ethernet {
                src: Mac(eth.source()),
                dst: Mac(eth.destination()),
            };
            below_link(link, eth.ether_type().0, eth.payload_slice())
        }
        LinkType::LinuxSll => {
            let (link, protocol, payload) = linux_sll(bytes)?;
            below_link(link, protocol, payload)
        }
        LinkType::RawIp => {
            let mut anomalies = Vec::new();
            let ip = ip(bytes, None, &mut anomalies)?;
            Ok(Frame {
                link: Link::RawIp,
                outer_vlan: None,
                inner_vlan: None,
                net: Net::Ip(ip),
                anomalies,
            })
        }
    }
}

/// The 16-byte SLL header, read by hand: etherparse's slicer rejects the loopback and tunnel
/// device types, and the rootless demo's traffic is loopback traffic.
fn linux_sll(bytes: &[u8]) -> Result<(Link, u16, &[u8]), FrameError> {
    const NETLINK: u16 = 824;
    const FRAD: u16 = 770;
    const IEEE80211_RADIOTAP: u16 = 803;
    let Some((header, payload)) = bytes.split_first_chunk::<16>() else {
        return Err(FrameError::Truncated {
            layer: Layer::LinuxSll,
            needed: 16,
            available: bytes.len(),
        });
    };
    let [p0, p1, d0, d1, l0, l1, a0, a1, a2, a3, a4, a5, _, _, t0, t1] = *header;
    let device = u16::from_be_bytes([d0, d1]);
    if matches!(device, NETLINK | FRAD | IEEE80211_RADIOTAP) {
        return Err(FrameError::LinuxSllDevice(device));
    }
    let src = (u16::from_be_bytes([l0, l1]) == 6).then_some(Mac([a0, a1, a2, a3, a4, a5]));
    let link = Link::LinuxSll {
        packet_type: u16::from_be_bytes([p0, p1]),
        src,
    };
    Ok((link, u16::from_be_bytes([t0, t1]), payload))
}

/// Everything after the link header: the VLAN tags, then the network layer.
fn below_link(link: Link, ether_type: u16, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    let (mut ether_type, mut payload) = (ether_type, payload);
    let (mut outer_vlan, mut inner_vlan) = (None, None);
    while VLAN_TPIDS.contains(&ether_type) {
        let vlan = SingleVlanSlice::from_slice(payload).map_err(|e| truncated(Layer::Vlan, &e))?;
        let tag = Some(VlanTag {
            id: vlan.vlan_identifier().value(),
            pcp: vlan.priority_code_point().value(),
        });
        if outer_vlan.is_none() {
            outer_vlan = tag;
        } else if inner_vlan.is_none() {
            inner_vlan = tag;
        } else {
            return Err(FrameError::TooManyVlanTags);
        }
        ether_type = vlan.ether_type().0;
        payload = vlan.payload_slice();
    }
    let mut anomalies = Vec::new();
    let net = match ether_type {
        ETHER_TYPE_IPV4 => Net::Ip(ip(payload, Some(4), &mut anomalies)?),
        ETHER_TYPE_IPV6 => Net::Ip(ip(payload, Some(6), &mut anomalies)?),
        ETHER_TYPE_ARP => Net::Arp(arp(payload)?),
        ether_type => Net::Other { ether_type },
    };
    Ok(Frame {
        link,
        outer_vlan,
        inner_vlan,
        net,
        anomalies,
    })
}

fn arp(bytes: &[u8]) -> Result<Arp, FrameError> {
    const ETHERNET: u16 = 1;
    let arp = ArpPacketSlice::from_slice(bytes).map_err(|e| truncated(Layer::Arp, &e))?;
    let not_ethernet_ipv4 = || FrameError::ArpNotEthernetIpv4 {
        hardware: arp.hw_addr_type().0,
        protocol: arp.proto_addr_type().0,
        hardware_size: arp.hw_addr_size(),
        protocol_size: arp.proto_addr_size(),
    };
    if arp.hw_addr_type().0 != ETHERNET || arp.proto_addr_type().0 != ETHER_TYPE_IPV4 {
        return Err(not_ethernet_ipv4());
    }
    // The sizes were checked against the slice by etherparse; these conversions fail only
    // when the sizes are not 6 and 4.
    let mac = |b: &[u8]| <[u8; 6]>::try_from(b).map(Mac);
    let ipv4 = |b: &[u8]| <[u8; 4]>::try_from(b).map(Ipv4Addr::from);
    match (
        mac(arp.sender_hw_addr()),
        ipv4(arp.sender_protocol_addr()),
        mac(arp.target_hw_addr()),
        ipv4(arp.target_protocol_addr()),
    ) {
        (Ok(sender_mac), Ok(sender_ip), Ok(target_mac), Ok(target_ip)) => Ok(Arp {
            operation: arp.operation().0,
            sender_mac,
            sender_ip,
            target_mac,
            target_ip,
        }),
        _ => Err(not_ethernet_ipv4()),
    }
}

/// Slices an IP packet; `expected_version` is what the link layer announced.
fn ip<'a>(
    bytes: &'a [u8],
    expected_version: Option<u8>,
    anomalies: &mut Vec<FrameAnomaly>,
) -> Result<Ip<'a>, FrameError> {
    let Some(first) = bytes.first() else {
        return Err(FrameError::Truncated {
            layer: Layer::Ip,
            needed: 1,
            available: 0,
        });
    };
    let version = first >> 4;
    if expected_version.is_some_and(|expected| expected != version) {
        return Err(FrameError::IpVersion(version));
    }
    let layer = if version == 6 {
        Layer::Ipv6
    } else {
        Layer::Ipv4
    };
    let (slice, extension_error) = LaxIpSlice::from_slice(bytes).map_err(|e| match e {
        ip::LaxHeaderSliceError::Len(e) => truncated(layer, &e),
        ip::LaxHeaderSliceError::Content(ip::HeaderError::UnsupportedIpVersion {
            version_number,
        }) => FrameError::IpVersion(version_number),
        ip::LaxHeaderSliceError::Content(ip::HeaderError::Ipv4HeaderLengthSmallerThanHeader {
            ihl,
        }) => FrameError::Ipv4HeaderLength(ihl),
    })?;
    let (ttl, expected_len) = match &slice {
        LaxIpSlice::Ipv4(v4) => {
            let header = v4.header();
            // A header that sums (checksum included) to 0xffff verifies.
            if Sum16BitWords::new()
                .add_slice(header.slice())
                .ones_complement()
                != 0
            {
                anomalies.push(FrameAnomaly::Ipv4Checksum);
            }
            (header.ttl(), usize::from(header.total_len()))
        }
        LaxIpSlice::Ipv6(v6) => {
            let header = v6.header();
            let payload_len = usize::from(header.payload_length());
            (header.hop_limit(), payload_len.saturating_add(40))
        }
    };
    let payload = slice.payload();
    if payload.incomplete {
        anomalies.push(FrameAnomaly::Truncated {
            expected: expected_len,
            captured: bytes.len(),
        });
    } else if payload.len_source == LenSource::Slice {
        anomalies.push(FrameAnomaly::IpLength);
    }
    let protocol = payload.ip_number.0;
    let transport = if extension_error.is_some() {
        anomalies.push(FrameAnomaly::IpExtensions);
        Transport::Other { protocol }
    } else if payload.fragmented {
        anomalies.push(FrameAnomaly::Fragment);
        Transport::Other { protocol }
    } else {
        transport(version == 6, payload, anomalies)?
    };
    Ok(Ip {
        src: slice.source_addr(),
        dst: slice.destination_addr(),
        ttl,
        transport,
    })
}

fn transport<'a>(
    v6: bool,
    ip_payload: &LaxIpPayloadSlice<'a>,
    anomalies: &mut Vec<FrameAnomaly>,
) -> Result<Transport<'a>, FrameError> {
    const ICMP: u8 = 1;
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    const ICMPV6: u8 = 58;
    let bytes = ip_payload.payload;
    Ok(match (v6, ip_payload.ip_number.0) {
        (_, UDP) => {
            let udp = UdpSlice::from_slice_lax(bytes).map_err(|e| truncated(Layer::Udp, &e))?;
            // A cut capture says nothing about the UDP length; only a complete one can
            // contradict it.
            if !ip_payload.incomplete && usize::from(udp.length()) != bytes.len() {
                anomalies.push(FrameAnomaly::UdpLength {
                    udp: udp.length(),
                    ip_payload: bytes.len(),
                });
            }
            Transport::Udp(Udp {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                payload: udp.payload(),
            })
        }
        (_, TCP) => {
            let tcp = TcpSlice::from_slice(bytes).map_err(|e| match e {
                tcp::HeaderSliceError::Len(e) => truncated(Layer::Tcp, &e),
                tcp::HeaderSliceError::Content(tcp::HeaderError::DataOffsetTooSmall {
                    data_offset,
                }) => FrameError::TcpDataOffset(data_offset),
            })?;
            Transport::Tcp(Tcp {
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                // TcpSlice checked that the 20-byte fixed header is there.
                flags: TcpFlags(tcp.header_slice().get(13).copied().unwrap_or_default()),
                window: tcp.window_size(),
                payload: tcp.payload(),
            })
        }
        (false, ICMP) | (true, ICMPV6) => match bytes {
            // Type, code, checksum and the 4 bytes whose meaning the type gives.
            [icmp_type, code, _, _, _, _, _, _, ..] => Transport::Icmp(Icmp {
                icmp_type: *icmp_type,
                code: *code,
            }),
            _ => {
                return Err(FrameError::Truncated {
                    layer: Layer::Icmp,
                    needed: 8,
                    available: bytes.len(),
                })
            }
        },
        (_, protocol) => Transport::Other { protocol },
    })
}

fn truncated(layer: Layer, e: &LenError) -> FrameError {
    FrameError::Truncated {
        layer,
        needed: e.required_len,
        available: e.len,
    }
}
