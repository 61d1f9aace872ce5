//! Buffers the gateway drops on arrival, before any actor holds them (on keys of no sensor, or
//! refused by the FlatBuffers verifier): counted where they arrive, reported by ingest.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Arrivals a Zenoh callback dropped: counted, with the latest one's key kept
/// for the report (one string, so the memory is bounded), and reported once per period.
#[derive(Default)]
pub struct Strays {
    count: AtomicU64,
    last_key: Mutex<String>,
    /// The count as last reported (only the actor reads and writes it).
    reported: AtomicU64,
}

impl Strays {
    pub fn note(&self, key: &str) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_key.try_lock() {
            last.clear();
            last.push_str(key);
        }
    }

    pub fn total(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The strays since the last call and the latest key, if there were any.
    pub fn since_reported(&self) -> Option<(u64, String)> {
        let total = self.total();
        let new = total - self.reported.swap(total, Ordering::Relaxed);
        let key = self.last_key.lock().map(|k| k.clone()).unwrap_or_default();
        (new > 0).then_some((new, key))
    }
}
