//! Capture files: pcap and pcapng (told apart by their magic number), read frame by frame with
//! their capture time in nanoseconds and their link type. Replay takes its time from here, so
//! its output is deterministic.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CaptureFileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a pcap or pcapng file (magic {magic:08x})")]
    Magic { path: String, magic: u32 },
    #[error("{path}: {source}")]
    Format {
        path: String,
        source: pcap_file::PcapError,
    },
}

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Captured<'a> {
    pub ts_ns: u64,
    pub link: DataLink,
    pub data: &'a [u8],
}

const PCAPNG_MAGIC: u32 = 0x0A0D_0D0A;

/// Calls `frame` for every frame of the capture at `path`, in file order; returns their count.
pub fn read(path: &Path, frame: &mut dyn FnMut(Captured<'_>)) -> Result<u64, CaptureFileError> {
    let name = path.display().to_string();
    let io = |source| CaptureFileError::Io {
        path: name.clone(),
        source,
    };
    let format = |source| CaptureFileError::Format {
        path: name.clone(),
        source,
    };
    let mut file = BufReader::new(File::open(path).map_err(io)?);
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic).map_err(io)?;
    let magic = u32::from_le_bytes(magic);
    // Put the magic back: both readers parse their header from the start.
    let file = std::io::Cursor::new(magic.to_le_bytes()).chain(file);
    let mut count = 0;
    match magic {
        PCAPNG_MAGIC => {
            let mut reader = PcapNgReader::new(file).map_err(format)?;
            // Per interface: link type and timestamp units in nanoseconds.
            let mut interfaces: Vec<(DataLink, u64)> = Vec::new();
            while let Some(block) = reader.next_block() {
                match block.map_err(format)? {
                    Block::InterfaceDescription(idb) => {
                        let resolution = idb.options.iter().find_map(|o| match o {
                            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
                            _ => None,
                        });
                        interfaces.push((idb.linktype, ns_per_unit(resolution)));
                    }
                    Block::EnhancedPacket(epb) => {
                        let Some(&(link, unit_ns)) = usize::try_from(epb.interface_id)
                            .ok()
                            .and_then(|i| interfaces.get(i))
                        else {
                            continue;
                        };
                        // pcap-file hands the raw timestamp over as if it counted nanoseconds.
                        let raw = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
                        frame(Captured {
                            ts_ns: raw.saturating_mul(unit_ns),
                            link,
                            data: &epb.data,
                        });
                        count += 1;
                    }
                    Block::SimplePacket(spb) => {
                        if let Some(&(link, _)) = interfaces.first() {
                            frame(Captured {
                                ts_ns: 0,
                                link,
                                data: &spb.data,
                            });
                            count += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
        0xA1B2_C3D4 | 0xD4C3_B2A1 | 0xA1B2_3C4D | 0x4D3C_B2A1 => {
            let mut reader = PcapReader::new(file).map_err(format)?;
            let link = reader.header().datalink;
            while let Some(packet) = reader.next_packet() {
                let packet = packet.map_err(format)?;
                let ts_ns = u64::try_from(packet.timestamp.as_nanos()).unwrap_or(u64::MAX);
                frame(Captured {
                    ts_ns,
                    link,
                    data: &packet.data,
                });
                count += 1;
            }
        }
        magic => return Err(CaptureFileError::Magic { path: name, magic }),
    }
    Ok(count)
}

/// Nanoseconds per timestamp unit for a pcapng `if_tsresol` (default: microseconds).
fn ns_per_unit(resolution: Option<u8>) -> u64 {
    match resolution {
        None => 1_000,
        // Most significant bit set: a negative power of two; finer than a nanosecond rounds up.
        Some(r) if r & 0x80 != 0 => 1,
        Some(r) => 10u64.pow(9u32.saturating_sub(u32::from(r))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn shared(name: &str) -> PathBuf {
        crate::testing::shared_captures().join(name)
    }

    #[test]
    fn independent_pcaps_are_read_whole_with_their_time() {
        for (file, frames) in [
            ("scapy-doip.pcap", 172),
            ("someip-firewall-normal_dataset.pcap", 5284),
        ] {
            let path = shared(file);
            let mut seen = Vec::new();
            let count = read(&path, &mut |c| seen.push((c.ts_ns, c.link, c.data.len()))).unwrap();
            assert_eq!((count, seen.len()), (frames, frames as usize), "{file}");
            assert!(
                seen.iter()
                    .all(|(ts, link, len)| *ts > 1_000_000_000_000_000_000
                        && *link == DataLink::ETHERNET
                        && *len >= 14),
                "{file}"
            );
        }
    }

    #[test]
    fn pcapng_time_follows_the_interface_resolution() {
        assert_eq!(ns_per_unit(None), 1_000);
        assert_eq!(ns_per_unit(Some(9)), 1);
        assert_eq!(ns_per_unit(Some(3)), 1_000_000);
        assert_eq!(ns_per_unit(Some(0x80 | 20)), 1);
    }

    #[test]
    fn a_pcapng_file_is_read() {
        // The real pcap rewritten as pcapng by pcap-file's writer, with microsecond units.
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
        use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
        use pcap_file::pcapng::PcapNgWriter;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.pcapng");
        let mut writer = PcapNgWriter::new(File::create(&path).unwrap()).unwrap();
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options: vec![],
        };
        writer.write_pcapng_block(idb).unwrap();
        let frame = [0u8; 60];
        let epb = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: std::time::Duration::from_nanos(1_700_000_000_000_000), // raw units: microseconds
            original_len: 60,
            data: std::borrow::Cow::Borrowed(&frame[..]),
            options: vec![],
        };
        writer.write_pcapng_block(epb).unwrap();
        drop(writer);
        let mut seen = Vec::new();
        assert_eq!(
            read(&path, &mut |c| seen.push((c.ts_ns, c.data.len()))).unwrap(),
            1
        );
        assert_eq!(seen, [(1_700_000_000_000_000_000, 60)]);
    }

    #[test]
    fn a_file_of_another_format_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "not a capture").unwrap();
        let err = read(&path, &mut |_| {}).unwrap_err();
        assert!(
            err.to_string().contains("not a pcap or pcapng file"),
            "{err}"
        );
    }
}
