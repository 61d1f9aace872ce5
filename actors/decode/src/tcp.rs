//! Bounded TCP stream reassembly for the message protocols carried over TCP (SOME/IP, DoIP):
//! each direction's in-order bytes go to a framing callback, and what it leaves unconsumed (a
//! partial message) waits, within limits, for the next segment.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::collections::{BTreeMap, HashMap};

use super::frame::{FlowKey, TcpFlags};

/// The bounds that keep reassembly memory finite whatever the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Directions tracked at once (0 is taken as 1); past it the least recently used goes.
    pub max_flows: usize,
    /// Unconsumed bytes one direction may keep between segments. While one segment is being
    /// framed the buffer may briefly hold this plus that segment.
    pub max_pending_bytes_per_flow: usize,
    /// A direction with no segment for longer than this is dropped by [`Streams::expire`].
    pub idle_timeout_ns: u64,
}

/// Something that the caller should report as an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamAnomaly {
    /// The bytes from `expected` up to `got` were never seen (lost by the capture, or reordered
    /// beyond what is buffered): the partial message that was pending is dropped and the
    /// stream resumes at `got`, since segments of message protocols usually start a message.
    Gap { expected: u32, got: u32 },
    /// `pending` bytes stayed unconsumed, over the limit: the buffer is dropped and the
    /// direction's data ignored until it ends (FIN, RST, a new SYN, eviction or expiry).
    PendingLimit { pending: usize },
    /// Another direction was dropped, least recently used, to make room for this one.
    FlowEvicted { key: FlowKey },
}

/// The anomalies of one [`Streams::segment`] call: at most an eviction, a gap and an overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegmentReport {
    slots: [Option<StreamAnomaly>; 3],
}

impl SegmentReport {
    pub fn anomalies(self) -> impl Iterator<Item = StreamAnomaly> {
        self.slots.into_iter().flatten()
    }

    fn push(&mut self, anomaly: StreamAnomaly) {
        if let Some(slot) = self.slots.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(anomaly);
        }
    }
}

/// Buffers up to this size are kept for reuse once drained; larger ones are given back, so
/// that one burst does not pin memory for the life of the flow.
const KEEP_CAPACITY: usize = 4096;

/// One direction of a connection.
#[derive(Debug)]
struct Flow {
    /// The sequence number of the next byte expected.
    next_seq: u32,
    /// The initial sequence number, when the SYN was seen (to recognise its retransmission).
    isn: Option<u32>,
    /// Over the pending limit: data is ignored until the flow ends.
    overflowed: bool,
    /// In-order bytes not yet consumed by the framing callback.
    buf: Vec<u8>,
    last_ns: u64,
    /// Position in the LRU order (key of `Streams::lru`).
    tick: u64,
}

impl Flow {
    /// Takes the segment's bytes that follow what was already seen and frames them.
    fn accept(
        &mut self,
        seq: u32,
        payload: &[u8],
        max_pending: usize,
        framing: &mut dyn FnMut(&[u8]) -> usize,
        report: &mut SegmentReport,
    ) {
        // Sequence arithmetic is modulo 2^32 and compares within half the space, so a segment
        // longer than that cannot be placed; no link carries one.
        if i32::try_from(payload.len()).is_err() {
            report.push(self.overflow(payload.len()));
            return;
        }
        // How many of the segment's bytes were already seen; reinterpreting the difference as
        // signed tells "behind" from "ahead" across the wrap. Negative: bytes were skipped.
        let seen = self.next_seq.wrapping_sub(seq) as i32;
        let new = if seen < 0 {
            report.push(StreamAnomaly::Gap {
                expected: self.next_seq,
                got: seq,
            });
            self.buf.clear();
            self.release();
            self.next_seq = seq;
            if payload.is_empty() {
                // A pure ACK past the expected byte: the sender's data went missing.
                return;
            }
            payload
        } else {
            // Retransmitted bytes are ignored: the first copy seen is the one framed.
            match payload.get(seen.unsigned_abs() as usize..) {
                Some(new) if !new.is_empty() => new,
                _ => return,
            }
        };
        // `new` is no longer than `payload`, which fits in an i32.
        self.next_seq = self.next_seq.wrapping_add(new.len() as u32);
        let pending = if self.buf.is_empty() {
            // Zero-copy: frame straight from the segment, keep only the unconsumed tail.
            let consumed = framing(new).min(new.len());
            let rest = new.get(consumed..).unwrap_or_default();
            if rest.len() <= max_pending {
                self.buf.extend_from_slice(rest);
            }
            rest.len()
        } else {
            self.buf.extend_from_slice(new);
            let consumed = framing(&self.buf).min(self.buf.len());
            self.buf.drain(..consumed);
            self.buf.len()
        };
        if pending > max_pending {
            report.push(self.overflow(pending));
        } else {
            self.release();
        }
    }

    fn overflow(&mut self, pending: usize) -> StreamAnomaly {
        self.buf = Vec::new();
        self.overflowed = true;
        StreamAnomaly::PendingLimit { pending }
    }

    /// Gives back a buffer much larger than what it holds.
    fn release(&mut self) {
        let len = self.buf.len();
        if self.buf.capacity() > KEEP_CAPACITY && len.saturating_mul(4) < self.buf.capacity() {
            self.buf.shrink_to(len.max(KEEP_CAPACITY));
        }
    }
}

/// The reassembly state of every tracked direction.
#[derive(Debug)]
pub struct Streams {
    limits: StreamLimits,
    flows: HashMap<FlowKey, Flow>,
    /// Every flow by the tick of its last segment: the first entry is the least recently used.
    lru: BTreeMap<u64, FlowKey>,
    tick: u64,
}

impl Streams {
    pub fn new(limits: StreamLimits) -> Streams {
        Streams {
            limits,
            flows: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Feeds one segment of the direction `key` (as [`super::frame::Frame::flow`] gives it).
    ///
    /// New in-order bytes, after any left unconsumed by earlier calls, go to `framing`, which
    /// returns how many bytes of whole messages it consumed; to discard bytes that cannot be
    /// framed it returns them all. It is not called when the segment brings nothing new. A SYN
    /// sets the initial sequence number (without one the stream starts at the first data
    /// segment), FIN ends the direction after its data, RST ends it at once.
    pub fn segment(
        &mut self,
        key: FlowKey,
        seq: u32,
        flags: TcpFlags,
        payload: &[u8],
        ts_ns: u64,
        framing: &mut dyn FnMut(&[u8]) -> usize,
    ) -> SegmentReport {
        let mut report = SegmentReport::default();
        if flags.contains(TcpFlags::RST) {
            self.remove(&key);
            return report;
        }
        let syn = flags.contains(TcpFlags::SYN);
        // A SYN takes one sequence number; its data (TCP Fast Open) starts after it.
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        self.tick = self.tick.wrapping_add(1);
        let tick = self.tick;
        let Streams {
            limits, flows, lru, ..
        } = self;
        let flow = match flows.get_mut(&key) {
            Some(flow) => {
                lru.remove(&flow.tick);
                flow.tick = tick;
                flow.last_ns = flow.last_ns.max(ts_ns);
                // A new connection on the same ports, unless the SYN is a retransmission.
                if syn && flow.isn != Some(seq) {
                    *flow = Flow {
                        next_seq: data_seq,
                        isn: Some(seq),
                        overflowed: false,
                        buf: Vec::new(),
                        last_ns: flow.last_ns,
                        tick,
                    };
                }
                flow
            }
            None => {
                // Nothing to reassemble yet: a pure ACK or a bare FIN of an unknown direction.
                if payload.is_empty() && !syn {
                    return report;
                }
                if flows.len() >= limits.max_flows.max(1) {
                    if let Some((_, evicted)) = lru.pop_first() {
                        flows.remove(&evicted);
                        report.push(StreamAnomaly::FlowEvicted { key: evicted });
                    }
                }
                flows.entry(key).or_insert(Flow {
                    next_seq: data_seq,
                    isn: syn.then_some(seq),
                    overflowed: false,
                    buf: Vec::new(),
                    last_ns: ts_ns,
                    tick,
                })
            }
        };
        lru.insert(tick, key);
        if !flow.overflowed {
            flow.accept(
                data_seq,
                payload,
                limits.max_pending_bytes_per_flow,
                framing,
                &mut report,
            );
        }
        if flags.contains(TcpFlags::FIN) {
            self.remove(&key);
        }
        report
    }

    /// Drops the directions idle for longer than the limit; returns how many.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        let Streams {
            limits, flows, lru, ..
        } = self;
        let before = flows.len();
        flows.retain(|_, flow| {
            let idle = now_ns.saturating_sub(flow.last_ns) > limits.idle_timeout_ns;
            if idle {
                lru.remove(&flow.tick);
            }
            !idle
        });
        before.saturating_sub(flows.len())
    }

    /// The number of directions tracked.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The bytes reserved by all pending buffers (for the sensor's memory gauge).
    pub fn buffered_capacity(&self) -> usize {
        self.flows
            .values()
            .fold(0, |sum, flow| sum.saturating_add(flow.buf.capacity()))
    }

    fn remove(&mut self, key: &FlowKey) {
        if let Some(flow) = self.flows.remove(key) {
            self.lru.remove(&flow.tick);
        }
    }
}

// Test code: a panic there is a failed test.
#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use super::super::capture_file;
    use super::super::frame::{self, FlowProto, LinkType, Net, Transport};
    use super::*;
    use crate::testing::XorShift;

    const NONE: TcpFlags = TcpFlags(0);
    const LIMITS: StreamLimits = StreamLimits {
        max_flows: 8,
        max_pending_bytes_per_flow: 64,
        idle_timeout_ns: 1_000,
    };

    /// The direction from 10.10.9.100:`port` to the gateway's DoIP port.
    fn key(port: u16) -> FlowKey {
        FlowKey {
            proto: FlowProto::Tcp,
            src: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 10, 9, 100)), port),
            dst: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 10, 9, 1)), 13400),
        }
    }

    /// A test protocol: one length byte, then that many bytes. Collects whole messages.
    #[derive(Default)]
    struct Messages(Vec<Vec<u8>>);

    impl Messages {
        fn frame(&mut self, data: &[u8]) -> usize {
            let mut used = 0;
            while let Some(&len) = data.get(used) {
                let end = used + 1 + usize::from(len);
                let Some(body) = data.get(used + 1..end) else {
                    break;
                };
                self.0.push(body.to_vec());
                used = end;
            }
            used
        }
    }

    /// Feeds one segment and returns its anomalies.
    fn feed(
        streams: &mut Streams,
        messages: &mut Messages,
        key: FlowKey,
        seq: u32,
        flags: TcpFlags,
        payload: &[u8],
    ) -> Vec<StreamAnomaly> {
        streams
            .segment(key, seq, flags, payload, 0, &mut |d| messages.frame(d))
            .anomalies()
            .collect()
    }

    fn msgs(list: &[&[u8]]) -> Vec<Vec<u8>> {
        list.iter().map(|m| m.to_vec()).collect()
    }

    #[test]
    fn in_order_segments_are_framed_without_buffering() {
        let mut s = Streams::new(LIMITS);
        let mut m = Messages::default();
        assert_eq!(feed(&mut s, &mut m, key(1), 100, TcpFlags::SYN, &[]), []);
        assert_eq!(
            feed(&mut s, &mut m, key(1), 101, TcpFlags::ACK, b"\x02ab"),
            []
        );
        assert_eq!(
            feed(&mut s, &mut m, key(1), 104, TcpFlags::ACK, b"\x01c"),
            []
        );
        assert_eq!(m.0, msgs(&[b"ab", b"c"]));
        assert_eq!(s.buffered_capacity(), 0);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn several_messages_in_one_segment() {
        let mut s = Streams::new(LIMITS);
        let mut m = Messages::default();
        feed(
            &mut s,
            &mut m,
            key(1),
            7,
            NONE,
            b"\x01a\x02bc\x00\x03def\x02g",
        );
        assert_eq!(m.0, msgs(&[b"a", b"bc", b"", b"def"]));
        // The start of the fifth waits for its end.
        feed(&mut s, &mut m, key(1), 19, NONE, b"h");
        assert_eq!(m.0.last().unwrap(), b"gh");
    }

    #[test]
    fn a_message_split_across_three_segments() {
        let mut s = Streams::new(LIMITS);
        let mut m = Messages::default();
        feed(&mut s, &mut m, key(1), 0, TcpFlags::SYN, &[]);
        feed(&mut s, &mut m, key(1), 1, NONE, b"\x06ab");
        feed(&mut s, &mut m, key(1), 4, NONE, b"cd");
        assert!(m.0.is_empty());
        feed(&mut s, &mut m, key(1), 6, NONE, b"ef\x01z");
        assert_eq!(m.0, msgs(&[b"abcdef", b"z"]));
        assert!(s.flows[&key(1)].buf.is_empty());
    }

    #[test]
    fn retransmissions_are_ignored_and_overlaps_trimmed() {
        let mut s = Streams::new(LIMITS);
        let mut m = Messages::default();
        feed(&mut s, &mut m, key(1), 10, NONE, b"\x02ab\x03c");
        // The same segment again, then an older part of it, then one that overlaps what was
        // seen: its first bytes differ and are ignored (the first copy wins).
        assert_eq!(feed(&mut s, &mut m, key(1), 10, NONE, b"\x02ab\x03c"), []);
        assert_eq!(feed(&mut s, &mut m, key(1), 11, NONE, b"ab"), []);
        assert_eq!(feed(&mut s, &mut m, key(1), 13, NONE, b"XXde\x01f"), []);
        assert_eq!(m.0, msgs(&[b"ab", b"cde", b"f"]));
        // A keep-alive probe: one byte before the next expected.
        assert_eq!(feed(&mut s, &mut m, key(1), 18, NONE, b"\x00"), []);
        assert_eq!(m.0.len(), 3);
    }

    #[test]
    fn an_out_of_order_segment_is_a_gap_and_the_stream_resumes_there() {
        let mut s = Streams::new(LIMITS);
        let mut m = Messages::default();
        feed(&mut s, &mut m, key(1), 1000, NONE, b"\x01a\x04bc");
        // 1005..1009 ("de\x01x") is lost; the partial "bc" cannot be completed.
        assert_eq!(
            feed(&mut s, &mut m, key(1), 1009, NONE, b"\x02yz"),
            [StreamAnomaly::Gap {
                expected: 1005,
                got: 1009
            }]
        );
        // The missing segment arriving late is behind the stream now.
        assert_eq!(feed(&mut s, &mut m, key(1), 1005, NONE, b"de\x01x"), []);
        assert_eq!(feed(&mut s, &mut m, key(1), 1012, NONE, b"\x01w"), []);
        assert_eq!(m.0, msgs(&[b"a", b"yz", b"w"]));
        // A pure ACK past the expected byte also shows that data went missing.
        assert_eq!(
            feed(&mut s, &mut m, key(1), 1100, TcpFlags::ACK, &[]),
            [StreamAnomaly::Gap {
                expected: 1014,
                got: 1100
            }]
        );
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let mut s = Streams::new(LIMITS);
        let mut m = Messages::default();
        let isn = u32::MAX - 3;
        feed(&mut s, &mut m, key(1), isn, TcpFlags::SYN, &[]);
        // Bytes at u32::MAX-2 ..= u32::MAX, then 0, 1, ...
        assert_eq!(feed(&mut s, &mut m, key(1), isn + 1, NONE, b"\x04ab"), []);
        assert_eq!(feed(&mut s, &mut m, key(1), 0, NONE, b"cd\x01e"), []);
        // A retransmission from before the wrap is still recognised as old.
        assert_eq!(feed(&mut s, &mut m, key(1), u32::MAX, NONE, b"bcd"), []);
        assert_eq!(m.0, msgs(&[b"abcd", b"e"]));
        assert_eq!(
            feed(&mut s, &mut m, key(1), 10, NONE, b"\x00"),
            [StreamAnomaly::Gap {
                expected: 4,
                got: 10
            }]
        );
    }

    #[test]
    fn syn_starts_a_new_connection_and_its_retransmission_does_not() {
        let mut s = Streams::new(LIMITS);
        let mut m = Messages::default();
        feed(&mut s, &mut m, key(1), 50, TcpFlags::SYN, &[]);
        feed(&mut s, &mut m, key(1), 51, NONE, b"\x03ab");
        feed(&mut s, &mut m, key(1), 50, TcpFlags::SYN, &[]);
        feed(&mut s, &mut m, key(1), 54, NONE, b"c");
        assert_eq!(m.0, msgs(&[b"abc"]));
        // Port reuse: the pending partial of the old connection is dropped.
        feed(&mut s, &mut m, key(1), 9000, NONE, b"\x05old");
        assert_eq!(feed(&mut s, &mut m, key(1), 7, TcpFlags::SYN, b"\x01n"), []);
        assert_eq!(m.0, msgs(&[b"abc", b"n"]));
    }

    #[test]
    fn fin_delivers_then_closes_and_rst_closes_at_once() {
        let mut s = Streams::new(LIMITS);
        let mut m = Messages::default();
        feed(&mut s, &mut m, key(1), 0, NONE, b"\x03a");
        feed(
            &mut s,
            &mut m,
            key(1),
            2,
            TcpFlags::FIN | TcpFlags::ACK,
            b"bc",
        );
        assert_eq!(m.0, msgs(&[b"abc"]));
        assert!(s.is_empty());
        feed(&mut s, &mut m, key(2), 0, NONE, b"\x03a");
        feed(&mut s, &mut m, key(2), 2, TcpFlags::RST, b"bc");
        assert_eq!(m.0.len(), 1);
        assert!(s.is_empty());
        // Bare ACKs and FINs of unknown directions create nothing.
        feed(&mut s, &mut m, key(3), 0, TcpFlags::ACK, &[]);
        feed(&mut s, &mut m, key(3), 0, TcpFlags::FIN, &[]);
        assert!(s.is_empty());
    }

    #[test]
    fn pending_limit_drops_the_buffer_and_ignores_the_flow_until_it_restarts() {
        let limits = StreamLimits {
            max_pending_bytes_per_flow: 16,
            ..LIMITS
        };
        let mut s = Streams::new(limits);
        let mut m = Messages::default();
        feed(&mut s, &mut m, key(1), 0, TcpFlags::SYN, &[]);
        // A 200-byte message arrives 10 bytes at a time.
        assert_eq!(feed(&mut s, &mut m, key(1), 1, NONE, &[200; 10]), []);
        assert_eq!(
            feed(&mut s, &mut m, key(1), 11, NONE, &[1; 10]),
            [StreamAnomaly::PendingLimit { pending: 20 }]
        );
        assert_eq!(s.buffered_capacity(), 0);
        // Reported once; the rest of the connection is ignored.
        let mut called = false;
        let report = s.segment(key(1), 21, NONE, &[0; 10], 0, &mut |_| {
            called = true;
            0
        });
        assert_eq!(report.anomalies().count(), 0);
        assert!(!called);
        // A single segment left over the limit, even on a fresh flow.
        assert_eq!(
            feed(&mut s, &mut m, key(2), 0, NONE, &[100; 40]),
            [StreamAnomaly::PendingLimit { pending: 40 }]
        );
        // A new connection on the same ports is reassembled again.
        feed(&mut s, &mut m, key(1), 500, TcpFlags::SYN, &[]);
        feed(&mut s, &mut m, key(1), 501, NONE, b"\x01k");
        assert_eq!(m.0, msgs(&[b"k"]));
        // Whole messages larger than the limit pass when consumed at once.
        let mut big = vec![100u8];
        big.extend_from_slice(&[7; 100]);
        assert_eq!(feed(&mut s, &mut m, key(1), 503, NONE, &big), []);
        assert_eq!(m.0.last().unwrap().len(), 100);
    }

    #[test]
    fn the_least_recently_used_flow_is_evicted() {
        let limits = StreamLimits {
            max_flows: 2,
            ..LIMITS
        };
        let mut s = Streams::new(limits);
        let mut m = Messages::default();
        feed(&mut s, &mut m, key(1), 0, NONE, b"\x02a");
        feed(&mut s, &mut m, key(2), 0, NONE, b"\x02x");
        // key(1) becomes the most recently used.
        feed(&mut s, &mut m, key(1), 2, NONE, &[]);
        assert_eq!(
            feed(&mut s, &mut m, key(3), 0, NONE, b"\x01q"),
            [StreamAnomaly::FlowEvicted { key: key(2) }]
        );
        assert_eq!(s.len(), 2);
        // key(1) kept its partial message.
        feed(&mut s, &mut m, key(1), 2, NONE, b"b");
        assert_eq!(m.0, msgs(&[b"q", b"ab"]));
        assert_eq!(s.lru.len(), s.flows.len());
    }

    #[test]
    fn idle_flows_expire() {
        let mut s = Streams::new(LIMITS);
        let mut m = Messages::default();
        s.segment(key(1), 0, NONE, b"\x02a", 100, &mut |d| m.frame(d));
        s.segment(key(2), 0, NONE, b"\x02a", 900, &mut |d| m.frame(d));
        assert_eq!(s.expire(1100), 0);
        assert_eq!(s.expire(1101), 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s.lru.len(), 1);
        assert_eq!(s.expire(5000), 1);
        assert!(s.is_empty() && s.lru.is_empty());
    }

    #[test]
    fn a_framing_callback_claiming_too_much_is_clamped() {
        let mut s = Streams::new(LIMITS);
        s.segment(key(1), 0, NONE, b"abc", 0, &mut |_| 1000);
        s.segment(key(1), 3, NONE, b"de", 0, &mut |d| {
            assert_eq!(d, b"de");
            0
        });
        s.segment(key(1), 5, NONE, b"f", 0, &mut |d| {
            assert_eq!(d, b"def");
            usize::MAX
        });
        assert!(s.flows[&key(1)].buf.is_empty());
    }

    #[test]
    fn memory_stays_bounded_under_hostile_segments() {
        const MAX_SEGMENT: usize = 1500;
        let limits = StreamLimits {
            max_flows: 32,
            max_pending_bytes_per_flow: 4096,
            idle_timeout_ns: 50_000,
        };
        let mut s = Streams::new(limits);
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let payload: Vec<u8> = (0..MAX_SEGMENT).map(|_| rng.next() as u8).collect();
        let mut next_seq = [0u32; 200];
        let mut anomalies = 0;
        for i in 0..100_000u64 {
            let r = rng.next();
            let flow = (r % 200) as usize;
            let len = ((r >> 8) % MAX_SEGMENT as u64) as usize;
            // Mostly in-order streams, with random sequence numbers and flags mixed in.
            let seq = if (r >> 20) % 8 == 0 {
                (r >> 32) as u32
            } else {
                next_seq[flow]
            };
            next_seq[flow] = seq.wrapping_add(len as u32);
            let flags = TcpFlags(if (r >> 24) % 16 == 0 {
                (r >> 40) as u8
            } else {
                0
            });
            // The framer consumes nothing, a random amount, or everything.
            let take = (r >> 48) as usize % 3;
            let report =
                s.segment(
                    key(flow as u16),
                    seq,
                    flags,
                    &payload[..len],
                    i,
                    &mut |d| match take {
                        0 => 0,
                        1 => d.len() / 2,
                        _ => d.len(),
                    },
                );
            anomalies += report.anomalies().count();
            if i % 1000 == 0 {
                s.expire(i);
            }
            assert!(s.len() <= limits.max_flows);
            assert_eq!(s.lru.len(), s.flows.len());
            for (k, f) in &s.flows {
                assert_eq!(s.lru.get(&f.tick), Some(k));
                assert!(f.buf.len() <= limits.max_pending_bytes_per_flow);
            }
            // Vec growth may double what one pending buffer plus one segment needs.
            assert!(
                s.buffered_capacity()
                    <= limits.max_flows * 2 * (limits.max_pending_bytes_per_flow + MAX_SEGMENT)
            );
        }
        assert!(anomalies > 1000, "{anomalies}");
    }

    /// DoIP over TCP in the independent captures: every segment carries whole messages (or
    /// several), so reassembly must frame exactly the messages tshark shows, with no gap and
    /// nothing left over.
    #[test]
    fn doip_captures_reassemble_into_whole_messages() {
        fn doip(data: &[u8], count: &mut usize) -> usize {
            let mut used = 0;
            while let Some(header) = data.get(used..used + 8) {
                let len = u32::from_be_bytes(header[4..8].try_into().unwrap()) as usize;
                if data.len() < used + 8 + len {
                    break;
                }
                used += 8 + len;
                *count += 1;
            }
            used
        }
        for (name, messages) in [
            ("scapy-doip.pcap", 46),
            ("scapy-doip_functional_request.pcap", 12),
            ("scapy-multiple_doip_layers.pcap", 3),
            ("scapy-doip_ack.pcap", 1),
        ] {
            let path = crate::testing::shared_captures().join(name);
            let mut s = Streams::new(StreamLimits {
                max_flows: 64,
                max_pending_bytes_per_flow: 65536,
                idle_timeout_ns: 60_000_000_000,
            });
            let mut count = 0;
            capture_file::read(&path, &mut |c| {
                let link = LinkType::from_pcap(u32::from(c.link)).unwrap();
                let frame = frame::parse(link, c.data).unwrap();
                let (Some(key), Net::Ip(ip)) = (frame.flow(), frame.net) else {
                    return;
                };
                let Transport::Tcp(tcp) = ip.transport else {
                    return;
                };
                let report = s.segment(key, tcp.seq, tcp.flags, tcp.payload, c.ts_ns, &mut |d| {
                    doip(d, &mut count)
                });
                assert_eq!(report.anomalies().count(), 0, "{name}");
            })
            .unwrap();
            assert_eq!(count, messages, "{name}");
            assert!(s.flows.values().all(|f| f.buf.is_empty()), "{name}");
        }
    }
}
