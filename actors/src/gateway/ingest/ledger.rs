//! Ingest's ledger: what the gateway recorded of each sensor (its epoch, the last sequence
//! number accepted, how many events it accepted in all, the holes still open below it), kept in
//! the gateway's store, so that replay protection and exactly-once survive a gateway crash or
//! restart. A sensor resending an event the gateway recorded before it was killed meets a
//! duplicate, not a stranger; one resending an event of a hole still fills it.
//!
//! Ingest saves the records a serving round changed in one transaction, and only then sends the
//! sensors their receipts: an event is acknowledged only once its record is in the store.

use std::collections::HashMap;
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use super::holes::Hole;
use super::sequence::Track;
use crate::store::{self, StoreError};

/// "ecu/sensor" to (boot epoch, last sequence number accepted, events accepted in all).
const RECORDS: TableDefinition<&str, (u64, u64, u64)> = TableDefinition::new("ingest_records");
/// ("ecu/sensor", first number of an open hole) to (its last number, the gateway's refusals).
const HOLES: TableDefinition<(&str, u64), (u64, u64)> = TableDefinition::new("ingest_holes");

/// What the gateway recorded of one sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub track: Track,
    /// Events of the sensor accepted since the gateway's store was made, each counted once.
    pub recorded: u64,
    /// The holes open below `track.last_seq`, in order.
    pub holes: Vec<Hole>,
}

pub struct Ledger {
    db: Arc<Database>,
}

impl Ledger {
    /// Opens the ledger in `db` and returns it with every sensor's record, by "ecu/sensor".
    pub fn open(db: Arc<Database>) -> Result<(Self, HashMap<String, Record>), StoreError> {
        let txn = store::begin(&db)?;
        let mut records = HashMap::new();
        for row in txn.open_table(RECORDS)?.iter()? {
            let (name, value) = row?;
            let (boot_ns, last_seq, recorded) = value.value();
            records.insert(
                name.value().to_owned(),
                Record {
                    track: Track { boot_ns, last_seq },
                    recorded,
                    holes: Vec::new(),
                },
            );
        }
        for row in txn.open_table(HOLES)?.iter()? {
            let (key, value) = row?;
            let ((name, first), (last, refused)) = (key.value(), value.value());
            if let Some(record) = records.get_mut(name) {
                record.holes.push(Hole {
                    first,
                    last,
                    refused,
                });
            }
        }
        txn.commit()?;
        Ok((Self { db }, records))
    }

    /// Saves `records` (by "ecu/sensor") in one transaction, each replacing the sensor's last.
    pub fn save<'a>(
        &self,
        records: impl IntoIterator<Item = (&'a str, Record)>,
    ) -> Result<(), StoreError> {
        let txn = store::begin(&self.db)?;
        {
            let mut table = txn.open_table(RECORDS)?;
            let mut holes = txn.open_table(HOLES)?;
            for (name, r) in records {
                table.insert(name, (r.track.boot_ns, r.track.last_seq, r.recorded))?;
                holes.retain_in((name, 0)..=(name, u64::MAX), |_, _| false)?;
                for h in r.holes {
                    holes.insert((name, h.first), (h.last, h.refused))?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(boot_ns: u64, last_seq: u64, recorded: u64, holes: &[(u64, u64)]) -> Record {
        Record {
            track: Track { boot_ns, last_seq },
            recorded,
            holes: holes
                .iter()
                .map(|&(first, last)| Hole {
                    first,
                    last,
                    refused: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn records_and_holes_survive_reopening_and_later_saves_replace_earlier_ones() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (ledger, records) = Ledger::open(store::open(dir.path(), "gw").unwrap()).unwrap();
            assert!(records.is_empty());
            ledger
                .save([
                    ("ivi/files", record(7, 3, 3, &[])),
                    ("tcu/net", record(9, 9, 6, &[(2, 3), (6, 6)])),
                ])
                .unwrap();
            ledger
                .save([("ivi/files", record(7, 8, 6, &[(4, 5)]))])
                .unwrap();
            ledger
                .save([("tcu/net", record(9, 9, 7, &[(6, 6)]))])
                .unwrap();
        }
        let (_, records) = Ledger::open(store::open(dir.path(), "gw").unwrap()).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records["ivi/files"], record(7, 8, 6, &[(4, 5)]));
        assert_eq!(records["tcu/net"], record(9, 9, 7, &[(6, 6)]));
    }
}
