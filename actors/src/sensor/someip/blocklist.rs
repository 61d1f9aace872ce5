//! The SOME/IP clients an ECU's block orders currently cover, shared by the enforcer (which
//! writes it) and the guard (which reads it on every request).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One block: a client ECU, optionally narrowed to a service and method, until a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    service: u16,
    method: u16,
    until: Instant,
}

/// 0xFFFF in an order's service or method means "every".
pub const ANY: u16 = 0xFFFF;

#[derive(Debug, Clone, Default)]
pub struct Blocklist {
    blocks: Arc<Mutex<HashMap<u64, (String, Block)>>>,
}

impl Blocklist {
    /// Adds (or renews) the block of one order.
    pub fn insert(
        &self,
        order_id: u64,
        client_ecu: &str,
        service: u16,
        method: u16,
        until: Instant,
    ) {
        let block = Block {
            service,
            method,
            until,
        };
        self.lock().insert(order_id, (client_ecu.to_owned(), block));
    }

    /// Removes the block of one order; false when there was none.
    pub fn remove(&self, order_id: u64) -> bool {
        self.lock().remove(&order_id).is_some()
    }

    /// Whether a request of `client_ecu` for (service, method) is blocked now.
    pub fn blocks(&self, client_ecu: &str, service: u16, method: u16, now: Instant) -> bool {
        self.lock().values().any(|(client, b)| {
            client == client_ecu
                && now < b.until
                && (b.service == ANY || b.service == service)
                && (b.method == ANY || b.method == method)
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (String, Block)>> {
        self.blocks.lock().expect("blocklist lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn blocks_match_client_service_method_and_deadline() {
        let now = Instant::now();
        let list = Blocklist::default();
        list.insert(1, "ivi", ANY, ANY, now + Duration::from_secs(10));
        list.insert(2, "tcu", 0x1101, 0x0002, now + Duration::from_secs(10));
        assert!(list.blocks("ivi", 0x1102, 0x0001, now));
        assert!(list.blocks("tcu", 0x1101, 0x0002, now));
        assert!(!list.blocks("tcu", 0x1101, 0x0001, now));
        assert!(!list.blocks("body-dc", 0x1101, 0x0002, now));
        assert!(!list.blocks("ivi", 0x1101, 0x0001, now + Duration::from_secs(11)));
        assert!(list.remove(1));
        assert!(!list.blocks("ivi", 0x1102, 0x0001, now));
        assert!(!list.remove(1));
    }
}
