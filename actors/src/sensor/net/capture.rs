//! Live capture: pnet's datalink channel (AF_PACKET) on a named interface, promiscuous, read on
//! a thread of its own. Frames reach the decoding thread through a bounded queue; when decoding
//! falls behind, frames are dropped and counted (the sensor reports the count), never buffered
//! without bound and never lost silently.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use pnet::datalink::{self, Channel, Config};
use thiserror::Error;

/// How often the reader looks at the stop flag when no frame comes.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("no interface {name} (interfaces here: {available})")]
    NoInterface { name: String, available: String },
    #[error("cannot capture on {name}: {source}{hint}")]
    Open {
        name: String,
        source: io::Error,
        hint: &'static str,
    },
    #[error("{name} is not an Ethernet interface")]
    NotEthernet { name: String },
}

/// A running capture; dropping it stops its threads.
pub struct Capture {
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Capture {
    /// Captures on `interface`, handing each frame and its capture time (ns since the epoch)
    /// to `on_frame` on the decoding thread; at most `queue` frames wait between the two.
    pub fn start(
        interface: &str,
        queue: usize,
        mut on_frame: impl FnMut(u64, &[u8]) + Send + 'static,
    ) -> Result<Self, CaptureError> {
        let interfaces = datalink::interfaces();
        let Some(found) = interfaces.iter().find(|i| i.name == interface) else {
            let available = interfaces
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(CaptureError::NoInterface {
                name: interface.to_owned(),
                available,
            });
        };
        let config = Config {
            read_timeout: Some(READ_TIMEOUT),
            promiscuous: true,
            ..Config::default()
        };
        let mut rx = match datalink::channel(found, config) {
            Ok(Channel::Ethernet(_, rx)) => rx,
            Ok(_) => {
                return Err(CaptureError::NotEthernet {
                    name: interface.to_owned(),
                })
            }
            Err(source) => {
                let hint = if source.kind() == io::ErrorKind::PermissionDenied {
                    " (live capture needs CAP_NET_RAW: run as root or grant the capability)"
                } else {
                    ""
                };
                return Err(CaptureError::Open {
                    name: interface.to_owned(),
                    source,
                    hint,
                });
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (tx, frames) = sync_channel::<(u64, Vec<u8>)>(queue);
        let reader = {
            let (stop, dropped) = (Arc::clone(&stop), Arc::clone(&dropped));
            std::thread::Builder::new()
                .name(format!("capture-{interface}"))
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match rx.next() {
                            Ok(frame) => {
                                match tx.try_send((vsiem_schemas::now_ns(), frame.to_vec())) {
                                    Ok(()) => {}
                                    Err(TrySendError::Full(_)) => {
                                        dropped.fetch_add(1, Ordering::Relaxed);
                                    }
                                    Err(TrySendError::Disconnected(_)) => return,
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "Capture read failed; capture stops.");
                                return;
                            }
                        }
                    }
                })
                .map_err(|source| CaptureError::Open {
                    name: interface.to_owned(),
                    source,
                    hint: "",
                })?
        };
        let decoder = std::thread::Builder::new()
            .name(format!("decode-{interface}"))
            .spawn(move || {
                for (ts_ns, frame) in frames {
                    on_frame(ts_ns, &frame);
                }
            })
            .map_err(|source| CaptureError::Open {
                name: interface.to_owned(),
                source,
                hint: "",
            })?;
        Ok(Self {
            stop,
            dropped,
            threads: vec![reader, decoder],
        })
    }

    /// Frames dropped because decoding fell behind, in all.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Whether both threads still run (a failed read ends the capture).
    pub fn running(&self) -> bool {
        self.threads.iter().all(|t| !t.is_finished())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
