//! SOME/IP-SD (service discovery) decoding: header flags, entries and the options each entry
//! references, as zero-copy views over a framed [`Message`], on top of `someip_parse::sd`.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use someip_parse::err::{LenSource, SdError, SdOptionSliceError, SdSliceError};
use someip_parse::sd::entries::{EventGroupEntryType, SdServiceEntryType};
use someip_parse::sd::options::TransportProtocol;
use someip_parse::sd::{SdEntrySlice, SdEntryWithOptions, SdOptionSlice, SdSlice};

use super::parser::{Message, SomeipError};

const ENTRY_LEN: usize = 16;

/// Decodes the SOME/IP-SD payload of `message`, checking the header fields SD fixes (client id
/// 0, nonzero session, interface version 1, notification, E_OK) and that every option run an
/// entry references exists.
pub fn sd<'a>(message: &Message<'a>) -> Result<Sd<'a>, SomeipError> {
    if !message.is_sd() {
        return Err(SomeipError::NotSd {
            service_id: message.service_id(),
            method_id: message.method_id(),
        });
    }
    // Unknown option types are kept (as `SdOption::Unknown`, with their discardable flag) rather
    // than failing the whole message: which entries to ignore is the receiver's decision.
    SdSlice::from_someip_with_flag(message.raw(), true)
        .map(|slice| Sd { slice })
        .map_err(|error| sd_error(error, message.payload().len()))
}

fn sd_error(error: SdSliceError, available: usize) -> SomeipError {
    match error {
        SdSliceError::UnexpectedEndOfSlice(needed) => {
            SomeipError::SdTruncated { needed, available }
        }
        SdSliceError::Content(error) => match error {
            SdError::SdMessageIdInvalid(id) => {
                let [s0, s1, m0, m1] = id.to_be_bytes();
                SomeipError::NotSd {
                    service_id: u16::from_be_bytes([s0, s1]),
                    method_id: u16::from_be_bytes([m0, m1]),
                }
            }
            SdError::SdClientIdInvalid(id) => SomeipError::SdClientId(id),
            SdError::SdSessionIdZero => SomeipError::SdSessionIdZero,
            SdError::SdInterfaceVersionInvalid(version) => SomeipError::SdInterfaceVersion(version),
            SdError::SdMessageTypeInvalid(byte) => SomeipError::SdMessageType(byte),
            SdError::SdReturnCodeInvalid(code) => SomeipError::SdReturnCode(code),
            SdError::UnknownSdEventGroupEntryType(byte)
            | SdError::UnknownSdServiceEntryType(byte) => SomeipError::SdEntryType(byte),
            SdError::UnknownSdOptionType(byte) => SomeipError::SdOptionType(byte),
            SdError::SdEntriesArrayLengthTooLarge(len)
            | SdError::SdEntriesArrayLengthInvalid(len) => SomeipError::SdEntriesLength(len),
            SdError::SdOptionsArrayLengthTooLarge(len) => {
                SomeipError::SdOptionsLength(usize::try_from(len).unwrap_or(usize::MAX))
            }
            SdError::SdPayloadLengthTooLarge(len) => SomeipError::SdTooLong(len),
            SdError::SdOptionRunOutOfBounds {
                run,
                start_index,
                number_of_options,
                options_len,
            } => SomeipError::SdOptionIndex {
                run,
                start: start_index,
                count: number_of_options,
                options: options_len,
            },
            SdError::SdPayloadLengthMismatch {
                expected_len,
                actual_len,
            } => SomeipError::SdLengthMismatch {
                expected: expected_len,
                actual: actual_len,
            },
            SdError::SdOptionLengthZero => SomeipError::SdOptionLengthZero,
            SdError::SdOptionUnexpectedLen {
                expected_len,
                actual_len,
                ..
            } => SomeipError::SdOptionLength {
                expected: usize::from(expected_len),
                actual: usize::from(actual_len),
            },
            SdError::SdConfigurationOptionLenTooLarge(len) => {
                SomeipError::SdOptionsLength(usize::from(len))
            }
            SdError::SdOption(error) => option_error(error),
        },
    }
}

fn option_error(error: SdOptionSliceError) -> SomeipError {
    match error {
        // The length field of the option disagrees with the fixed size of its type.
        SdOptionSliceError::Len(len) if len.len_source == LenSource::SdOptionLength => {
            SomeipError::SdOptionLength {
                expected: len.required_len,
                actual: len.len,
            }
        }
        SdOptionSliceError::Len(len) => SomeipError::SdOptionTruncated {
            needed: len.required_len,
            available: len.len,
        },
        SdOptionSliceError::OptionLengthZero => SomeipError::SdOptionLengthZero,
        SdOptionSliceError::OptionsArrayLengthTooLarge { len, .. } => {
            SomeipError::SdOptionsLength(len)
        }
        SdOptionSliceError::ConfigurationString(_) => SomeipError::SdConfigurationString,
    }
}

/// A decoded SOME/IP-SD message.
#[derive(Debug, Clone)]
pub struct Sd<'a> {
    slice: SdSlice<'a>,
}

impl<'a> Sd<'a> {
    /// Set until the sender's session id wraps: a reboot flag appearing again means it rebooted.
    pub fn reboot(&self) -> bool {
        self.slice.flags().reboot
    }

    pub fn unicast(&self) -> bool {
        self.slice.flags().unicast
    }

    /// The entries of known types, in order, with their options.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a, '_>> + '_ {
        // `sd` already checked every entry and option run, so `ok` drops nothing here.
        self.slice
            .entries_with_options()
            .filter_map(Result::ok)
            .map(|inner| Entry { inner })
    }

    /// Entries of unknown types, which the PRS has receivers skip (and `entries` does).
    pub fn unknown_entries(&self) -> usize {
        self.slice
            .entries_slice()
            .chunks_exact(ENTRY_LEN)
            .filter(|entry| !matches!(entry.first(), Some(0x00 | 0x01 | 0x06 | 0x07)))
            .count()
    }
}

/// What an entry asks or announces; the `Stop*` and `Nack` kinds are their type with TTL 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    FindService,
    OfferService,
    StopOfferService,
    SubscribeEventgroup,
    StopSubscribeEventgroup,
    SubscribeEventgroupAck,
    SubscribeEventgroupNack,
}

/// One SD entry, borrowed from its [`Sd`].
#[derive(Debug, Clone)]
pub struct Entry<'a, 's> {
    inner: SdEntryWithOptions<'a, 's>,
}

impl<'a, 's> Entry<'a, 's> {
    pub fn kind(&self) -> EntryKind {
        let stop = self.ttl() == 0;
        match self.inner.entry() {
            SdEntrySlice::Service(entry) => match entry.entry_type() {
                SdServiceEntryType::FindService => EntryKind::FindService,
                SdServiceEntryType::OfferService if stop => EntryKind::StopOfferService,
                SdServiceEntryType::OfferService => EntryKind::OfferService,
            },
            SdEntrySlice::Eventgroup(entry) => match entry.entry_type() {
                EventGroupEntryType::SubscribeOrStop if stop => EntryKind::StopSubscribeEventgroup,
                EventGroupEntryType::SubscribeOrStop => EntryKind::SubscribeEventgroup,
                EventGroupEntryType::SubscribeAckOrNack if stop => {
                    EntryKind::SubscribeEventgroupNack
                }
                EventGroupEntryType::SubscribeAckOrNack => EntryKind::SubscribeEventgroupAck,
            },
        }
    }

    pub fn service_id(&self) -> u16 {
        self.inner.entry().service_id()
    }

    pub fn instance_id(&self) -> u16 {
        self.inner.entry().instance_id()
    }

    pub fn major_version(&self) -> u8 {
        self.inner.entry().major_version()
    }

    /// Seconds (24 bits; 0xFFFFFF means until the next reboot).
    pub fn ttl(&self) -> u32 {
        self.inner.entry().ttl().value()
    }

    /// For service entries (find, offer).
    pub fn minor_version(&self) -> Option<u32> {
        match self.inner.entry() {
            SdEntrySlice::Service(entry) => Some(entry.minor_version()),
            SdEntrySlice::Eventgroup(_) => None,
        }
    }

    /// For eventgroup entries (subscribe, ack).
    pub fn eventgroup_id(&self) -> Option<u16> {
        match self.inner.entry() {
            SdEntrySlice::Service(_) => None,
            SdEntrySlice::Eventgroup(entry) => Some(entry.eventgroup_id()),
        }
    }

    /// The options of both option runs, in order.
    pub fn options(&self) -> impl Iterator<Item = SdOption<'a>> + 's {
        self.inner
            .options_run_1()
            .chain(self.inner.options_run_2())
            .map(SdOption::from_slice)
    }
}

/// Transport protocol of an endpoint option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4Proto {
    Tcp,
    Udp,
    Other(u8),
}

/// Where a service or eventgroup is reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub address: IpAddr,
    pub proto: L4Proto,
    pub port: u16,
}

impl Endpoint {
    fn new(address: impl Into<IpAddr>, proto: TransportProtocol, port: u16) -> Self {
        let proto = match proto {
            TransportProtocol::Tcp => L4Proto::Tcp,
            TransportProtocol::Udp => L4Proto::Udp,
            TransportProtocol::Generic(byte) => L4Proto::Other(byte),
        };
        Self {
            address: address.into(),
            proto,
            port,
        }
    }
}

/// An SD option as referenced by an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdOption<'a> {
    /// IPv4 or IPv6 unicast endpoint of a service or subscriber.
    Endpoint(Endpoint),
    /// Multicast address events are sent to.
    Multicast(Endpoint),
    /// Endpoint of the sender's SD itself.
    SdEndpoint(Endpoint),
    /// DNS-SD TXT style key/value items, not interpreted here.
    Configuration(&'a [u8]),
    LoadBalancing {
        priority: u16,
        weight: u16,
    },
    Unknown {
        option_type: u8,
        discardable: bool,
    },
}

impl<'a> SdOption<'a> {
    fn from_slice(option: SdOptionSlice<'a>) -> Self {
        match option {
            SdOptionSlice::Ipv4Endpoint(o) => Self::Endpoint(Endpoint::new(
                Ipv4Addr::from(o.ipv4_address()),
                o.transport_protocol(),
                o.port(),
            )),
            SdOptionSlice::Ipv6Endpoint(o) => Self::Endpoint(Endpoint::new(
                Ipv6Addr::from(o.ipv6_address()),
                o.transport_protocol(),
                o.port(),
            )),
            SdOptionSlice::Ipv4Multicast(o) => Self::Multicast(Endpoint::new(
                Ipv4Addr::from(o.ipv4_address()),
                o.transport_protocol(),
                o.port(),
            )),
            SdOptionSlice::Ipv6Multicast(o) => Self::Multicast(Endpoint::new(
                Ipv6Addr::from(o.ipv6_address()),
                o.transport_protocol(),
                o.port(),
            )),
            SdOptionSlice::Ipv4SdEndpoint(o) => Self::SdEndpoint(Endpoint::new(
                Ipv4Addr::from(o.ipv4_address()),
                o.transport_protocol(),
                o.port(),
            )),
            SdOptionSlice::Ipv6SdEndpoint(o) => Self::SdEndpoint(Endpoint::new(
                Ipv6Addr::from(o.ipv6_address()),
                o.transport_protocol(),
                o.port(),
            )),
            SdOptionSlice::Configuration(o) => Self::Configuration(o.configuration_string()),
            SdOptionSlice::LoadBalancing(o) => Self::LoadBalancing {
                priority: o.priority(),
                weight: o.weight(),
            },
            SdOptionSlice::Unknown(o) => Self::Unknown {
                option_type: o.option_type(),
                discardable: o.discardable(),
            },
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        reason = "tests index and unwrap freely"
    )]

    use super::super::messages;
    use super::*;
    use crate::testing::XorShift;

    /// Drives every accessor of a decoded SD message (for the fuzz loops and the captures).
    pub(in super::super) fn exercise(message: &Message<'_>) {
        if let Ok(sd) = sd(message) {
            let _ = (sd.reboot(), sd.unicast(), sd.unknown_entries());
            for entry in sd.entries() {
                let _ = (
                    entry.kind(),
                    entry.service_id(),
                    entry.instance_id(),
                    entry.major_version(),
                    entry.ttl(),
                    entry.minor_version(),
                    entry.eventgroup_id(),
                );
                for option in entry.options() {
                    let _ = format!("{option:?}");
                }
            }
        }
    }

    /// body-dc (10.10.2.2) offers DoorLock 0x1101 instance 1 v1.0 on UDP 30501 for 3 s, and
    /// ivi (10.10.1.3) subscribes to its eventgroup 1 at UDP 40001, over SD from body-dc.
    #[rustfmt::skip]
    const OFFER_AND_SUBSCRIBE: &[u8] = &[
        // SOME/IP header: 0xFFFF/0x8100, length 8 + 12 + 32 + 24, client 0, session 1,
        // protocol 1, interface 1, notification, E_OK.
        0xFF, 0xFF, 0x81, 0x00, 0x00, 0x00, 0x00, 0x4C, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x02, 0x00,
        // flags reboot + unicast, reserved, entries array length 32
        0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20,
        // OfferService, option run 1 = option 0 (one option), 0x1101 inst 1 major 1 ttl 3 minor 0
        0x01, 0x00, 0x00, 0x10, 0x11, 0x01, 0x00, 0x01, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
        // SubscribeEventgroup, option run 1 = option 1, 0x1101 inst 1 major 1 ttl 3, counter 0,
        // eventgroup 0x0001
        0x06, 0x01, 0x00, 0x10, 0x11, 0x01, 0x00, 0x01, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,
        // options array length 24
        0x00, 0x00, 0x00, 0x18,
        // IPv4 endpoint 10.10.2.2 UDP 30501
        0x00, 0x09, 0x04, 0x00, 10, 10, 2, 2, 0x00, 0x11, 0x77, 0x25,
        // IPv4 endpoint 10.10.1.3 UDP 40001
        0x00, 0x09, 0x04, 0x00, 10, 10, 1, 3, 0x00, 0x11, 0x9C, 0x41,
    ];

    fn udp(a: u8, b: u8, c: u8, d: u8, port: u16) -> SdOption<'static> {
        SdOption::Endpoint(Endpoint {
            address: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            proto: L4Proto::Udp,
            port,
        })
    }

    fn first_message(bytes: &[u8]) -> Message<'_> {
        messages(bytes).next().unwrap().unwrap()
    }

    #[test]
    fn decodes_offer_and_subscribe() {
        let message = first_message(OFFER_AND_SUBSCRIBE);
        assert!(message.is_sd());
        let sd = sd(&message).unwrap();
        assert!(sd.reboot());
        assert!(sd.unicast());
        assert_eq!(sd.unknown_entries(), 0);
        let entries: Vec<_> = sd.entries().collect();
        assert_eq!(entries.len(), 2);

        let offer = &entries[0];
        assert_eq!(offer.kind(), EntryKind::OfferService);
        assert_eq!(
            (
                offer.service_id(),
                offer.instance_id(),
                offer.major_version()
            ),
            (0x1101, 1, 1)
        );
        assert_eq!(
            (offer.ttl(), offer.minor_version(), offer.eventgroup_id()),
            (3, Some(0), None)
        );
        assert_eq!(
            offer.options().collect::<Vec<_>>(),
            [udp(10, 10, 2, 2, 30501)]
        );

        let subscribe = &entries[1];
        assert_eq!(subscribe.kind(), EntryKind::SubscribeEventgroup);
        assert_eq!(
            (subscribe.minor_version(), subscribe.eventgroup_id()),
            (None, Some(1))
        );
        assert_eq!(
            subscribe.options().collect::<Vec<_>>(),
            [udp(10, 10, 1, 3, 40001)]
        );
    }

    /// An SD message around `entries` and `options` (each option with its length and type).
    fn sd_message(entries: &[[u8; 16]], options: &[&[u8]]) -> Vec<u8> {
        let options: Vec<u8> = options.concat();
        let mut payload = vec![0x40, 0, 0, 0];
        payload.extend_from_slice(&((entries.len() * 16) as u32).to_be_bytes());
        payload.extend(entries.iter().flatten());
        payload.extend_from_slice(&(options.len() as u32).to_be_bytes());
        payload.extend_from_slice(&options);
        let mut bytes = vec![0xFF, 0xFF, 0x81, 0x00];
        bytes.extend_from_slice(&(8 + payload.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&[0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x02, 0x00]);
        bytes.extend_from_slice(&payload);
        bytes
    }

    /// An entry of `entry_type` for 0x2101 instance 2 major 3 with `ttl` and one option run.
    fn entry(entry_type: u8, ttl: u8, first_option: u8, options: u8) -> [u8; 16] {
        [
            entry_type,
            first_option,
            0,
            options << 4,
            0x21,
            0x01,
            0x00,
            0x02,
            0x03,
            0,
            0,
            ttl,
            0x00,
            0x00,
            0x00,
            0x05,
        ]
    }

    #[test]
    fn decodes_each_entry_kind() {
        let cases = [
            (0x00, 3, EntryKind::FindService),
            (0x01, 3, EntryKind::OfferService),
            (0x01, 0, EntryKind::StopOfferService),
            (0x06, 3, EntryKind::SubscribeEventgroup),
            (0x06, 0, EntryKind::StopSubscribeEventgroup),
            (0x07, 3, EntryKind::SubscribeEventgroupAck),
            (0x07, 0, EntryKind::SubscribeEventgroupNack),
        ];
        let entries: Vec<[u8; 16]> = cases
            .iter()
            .map(|&(t, ttl, _)| entry(t, ttl, 0, 0))
            .collect();
        let bytes = sd_message(&entries, &[]);
        let message = first_message(&bytes);
        let sd = sd(&message).unwrap();
        assert!(!sd.reboot());
        assert!(sd.unicast());
        let decoded: Vec<_> = sd.entries().collect();
        assert_eq!(decoded.len(), cases.len());
        for (entry, (entry_type, ttl, kind)) in decoded.iter().zip(cases) {
            assert_eq!(entry.kind(), kind);
            assert_eq!(entry.ttl(), u32::from(ttl));
            assert_eq!(
                (
                    entry.service_id(),
                    entry.instance_id(),
                    entry.major_version()
                ),
                (0x2101, 2, 3)
            );
            if entry_type < 0x06 {
                assert_eq!(
                    (entry.minor_version(), entry.eventgroup_id()),
                    (Some(5), None)
                );
            } else {
                assert_eq!(
                    (entry.minor_version(), entry.eventgroup_id()),
                    (None, Some(5))
                );
            }
            assert_eq!(entry.options().count(), 0);
        }
    }

    #[test]
    fn decodes_each_option_type() {
        let mut v6 = vec![0x00, 0x15, 0x06, 0x00];
        v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        v6.extend_from_slice(&[0x00, 0x06, 0x75, 0x30]);
        #[rustfmt::skip]
        let options: [&[u8]; 6] = [
            // IPv4 multicast 224.224.224.245 UDP 30490
            &[0x00, 0x09, 0x14, 0x00, 224, 224, 224, 245, 0x00, 0x11, 0x77, 0x1A],
            // IPv4 SD endpoint 10.10.2.2 UDP 30490
            &[0x00, 0x09, 0x24, 0x00, 10, 10, 2, 2, 0x00, 0x11, 0x77, 0x1A],
            // IPv6 endpoint ::1 TCP 30000
            &v6,
            // configuration "a=1"
            &[0x00, 0x06, 0x01, 0x00, 3, b'a', b'=', b'1', 0],
            // load balancing priority 1 weight 2
            &[0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00, 0x02],
            // unknown type 0x7F, discardable, with 2 bytes
            &[0x00, 0x03, 0x7F, 0x80, 0xAB, 0xCD],
        ];
        let entries = [entry(0x01, 3, 0, 6)];
        let bytes = sd_message(&entries, &options);
        let message = first_message(&bytes);
        let sd = sd(&message).unwrap();
        let entry = sd.entries().next().unwrap();
        let expected = [
            SdOption::Multicast(Endpoint {
                address: IpAddr::V4(Ipv4Addr::new(224, 224, 224, 245)),
                proto: L4Proto::Udp,
                port: 30490,
            }),
            SdOption::SdEndpoint(Endpoint {
                address: IpAddr::V4(Ipv4Addr::new(10, 10, 2, 2)),
                proto: L4Proto::Udp,
                port: 30490,
            }),
            SdOption::Endpoint(Endpoint {
                address: IpAddr::V6(Ipv6Addr::LOCALHOST),
                proto: L4Proto::Tcp,
                port: 30000,
            }),
            SdOption::Configuration(&[3, b'a', b'=', b'1', 0]),
            SdOption::LoadBalancing {
                priority: 1,
                weight: 2,
            },
            SdOption::Unknown {
                option_type: 0x7F,
                discardable: true,
            },
        ];
        assert_eq!(entry.options().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn both_option_runs_are_resolved() {
        let mut two_runs = entry(0x06, 3, 1, 1);
        two_runs[2] = 0; // second run starts at option 0
        two_runs[3] = 0x11; // one option in each run
        let a: &[u8] = &[0x00, 0x09, 0x04, 0x00, 10, 10, 1, 3, 0x00, 0x11, 0x9C, 0x41];
        let b: &[u8] = &[0x00, 0x09, 0x04, 0x00, 10, 10, 1, 3, 0x00, 0x06, 0x9C, 0x42];
        let bytes = sd_message(&[two_runs], &[a, b]);
        let message = first_message(&bytes);
        let sd = sd(&message).unwrap();
        let ports: Vec<_> = sd
            .entries()
            .next()
            .unwrap()
            .options()
            .map(|option| match option {
                SdOption::Endpoint(endpoint) => (endpoint.proto, endpoint.port),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ports, [(L4Proto::Tcp, 40002), (L4Proto::Udp, 40001)]);
    }

    #[test]
    fn unknown_non_discardable_option_is_kept_for_the_receiver() {
        let bytes = sd_message(
            &[entry(0x01, 3, 0, 1)],
            &[&[0x00, 0x03, 0x7F, 0x00, 0xAB, 0xCD]],
        );
        let message = first_message(&bytes);
        let sd = sd(&message).unwrap();
        let options: Vec<_> = sd.entries().next().unwrap().options().collect();
        assert_eq!(
            options,
            [SdOption::Unknown {
                option_type: 0x7F,
                discardable: false
            }]
        );
    }

    #[test]
    fn unknown_entry_types_are_skipped_and_counted() {
        let bytes = sd_message(&[entry(0x01, 3, 0, 0), entry(0x42, 3, 0, 0)], &[]);
        let message = first_message(&bytes);
        let sd = sd(&message).unwrap();
        assert_eq!(sd.entries().count(), 1);
        assert_eq!(sd.unknown_entries(), 1);
    }

    #[test]
    fn hostile_sd_is_an_error() {
        let endpoint: &[u8] = &[0x00, 0x09, 0x04, 0x00, 10, 10, 1, 3, 0x00, 0x11, 0x9C, 0x41];
        let patched = |bytes: Vec<u8>, at: usize, value: &[u8]| {
            let mut bytes = bytes;
            bytes[at..at + value.len()].copy_from_slice(value);
            bytes
        };
        let valid = || sd_message(&[entry(0x01, 3, 0, 1)], &[endpoint]);
        let cases: Vec<(Vec<u8>, SomeipError)> = vec![
            (
                sd_message(&[entry(0x01, 3, 0, 2)], &[endpoint]),
                SomeipError::SdOptionIndex {
                    run: 1,
                    start: 0,
                    count: 2,
                    options: 1,
                },
            ),
            (
                sd_message(&[entry(0x01, 3, 200, 15)], &[endpoint]),
                SomeipError::SdOptionIndex {
                    run: 1,
                    start: 200,
                    count: 15,
                    options: 1,
                },
            ),
            (patched(valid(), 8, &[0, 1]), SomeipError::SdClientId(1)),
            (patched(valid(), 10, &[0, 0]), SomeipError::SdSessionIdZero),
            (
                patched(valid(), 13, &[2]),
                SomeipError::SdInterfaceVersion(2),
            ),
            (
                patched(valid(), 14, &[0x80]),
                SomeipError::SdMessageType(0x80),
            ),
            (patched(valid(), 15, &[1]), SomeipError::SdReturnCode(1)),
            // entries length: huge, not a multiple of 16, past the end
            (
                patched(valid(), 20, &[0xFF, 0xFF, 0xFF, 0xFF]),
                SomeipError::SdEntriesLength(u32::MAX),
            ),
            (
                patched(valid(), 20, &[0, 0, 0, 17]),
                SomeipError::SdEntriesLength(17),
            ),
            (
                patched(valid(), 20, &[0, 0, 0, 64]),
                SomeipError::SdTruncated {
                    needed: 76,
                    available: 40,
                },
            ),
            // options length: huge, past the end, short of the end
            (
                patched(valid(), 40, &[0xFF, 0xFF, 0xFF, 0xFF]),
                SomeipError::SdOptionsLength(u32::MAX as usize),
            ),
            (
                patched(valid(), 40, &[0, 0, 0, 13]),
                SomeipError::SdTruncated {
                    needed: 41,
                    available: 40,
                },
            ),
            (
                patched(valid(), 40, &[0, 0, 0, 11]),
                SomeipError::SdLengthMismatch {
                    expected: 39,
                    actual: 40,
                },
            ),
            // option length: zero, past the array, wrong for the type
            (
                patched(valid(), 44, &[0, 0]),
                SomeipError::SdOptionLengthZero,
            ),
            (
                patched(valid(), 44, &[0xFF, 0xFF]),
                SomeipError::SdOptionTruncated {
                    needed: 0x1_0002,
                    available: 12,
                },
            ),
            (
                sd_message(&[entry(0x01, 3, 0, 1)], &[&[0x00, 0x02, 0x04, 0x00, 0x00]]),
                SomeipError::SdOptionLength {
                    expected: 9,
                    actual: 2,
                },
            ),
            (
                sd_message(&[], &[&[0x00, 0x03, 0x01, 0x00, 5, b'a']]),
                SomeipError::SdConfigurationString,
            ),
        ];
        for (bytes, expected) in cases {
            let message = first_message(&bytes);
            assert_eq!(
                sd(&message).map(|_| ()),
                Err(expected.clone()),
                "{expected}"
            );
        }
    }

    #[test]
    fn sd_on_other_messages_is_an_error() {
        let bytes = [0x11, 0x01, 0x00, 0x01, 0, 0, 0, 8, 0, 3, 0, 1, 1, 1, 0, 0];
        let message = first_message(&bytes);
        assert_eq!(
            sd(&message).map(|_| ()),
            Err(SomeipError::NotSd {
                service_id: 0x1101,
                method_id: 0x0001
            })
        );
    }

    /// Every prefix of the SD payload, in a header whose length matches it, is an error.
    #[test]
    fn every_sd_prefix_is_an_error() {
        let payload = &OFFER_AND_SUBSCRIBE[16..];
        for cut in 0..payload.len() {
            let mut bytes = OFFER_AND_SUBSCRIBE[..16].to_vec();
            bytes[4..8].copy_from_slice(&(8 + cut as u32).to_be_bytes());
            bytes.extend_from_slice(&payload[..cut]);
            let message = first_message(&bytes);
            assert!(sd(&message).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn fuzz_never_panics() {
        let with_options = sd_message(
            &[
                entry(0x01, 3, 0, 2),
                entry(0x06, 0, 1, 1),
                entry(0x00, 3, 0, 0),
            ],
            &[
                &[
                    0x00, 0x09, 0x14, 0x00, 224, 224, 224, 245, 0x00, 0x11, 0x77, 0x1A,
                ],
                &[0x00, 0x06, 0x01, 0x00, 3, b'a', b'=', b'1', 0],
            ],
        );
        let seeds = vec![OFFER_AND_SUBSCRIBE.to_vec(), with_options];
        let mut rng = XorShift(0xD15C_0FE2);
        let mut decoded = 0;
        for _ in 0..100_000 {
            let bytes = rng.mutate(&seeds);
            for message in messages(&bytes).flatten() {
                decoded += usize::from(sd(&message).is_ok());
                exercise(&message);
            }
        }
        assert!(decoded > 1_000, "too few mutations stayed valid: {decoded}");
    }
}
