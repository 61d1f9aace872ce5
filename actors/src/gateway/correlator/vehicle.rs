//! The vehicle's recent states, to judge each event against the state at its own time (an
//! event detected while parked and delivered while driving is a parked event).

use std::collections::VecDeque;

use vsiem_schemas::encode::VehicleSnapshot;

/// Samples kept: 10 s at the signal sensors' 100 ms period.
pub const HISTORY: usize = 100;

#[derive(Debug, Default)]
pub struct VehicleHistory(VecDeque<VehicleSnapshot>);

impl VehicleHistory {
    /// Keeps a sample; samples arrive in time order from one signal sensor per vehicle.
    pub fn push(&mut self, sample: VehicleSnapshot) {
        if self.0.len() == HISTORY {
            self.0.pop_front();
        }
        self.0.push_back(sample);
    }

    /// The latest sample taken at or before `timestamp_ns`; the oldest kept when all are later
    /// (the best knowledge there is), the default (unknown gear, 0 km/h) before any sample.
    pub fn at(&self, timestamp_ns: u64) -> VehicleSnapshot {
        self.0
            .iter()
            .rev()
            .find(|s| s.timestamp_ns <= timestamp_ns)
            .or(self.0.front())
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_speed(timestamp_ns: u64, speed_centi_kmh: u16) -> VehicleSnapshot {
        VehicleSnapshot {
            timestamp_ns,
            speed_centi_kmh,
            ..VehicleSnapshot::default()
        }
    }

    #[test]
    fn the_state_at_an_event_is_the_last_sample_before_it() {
        let mut history = VehicleHistory::default();
        assert_eq!(history.at(5), VehicleSnapshot::default());
        for (t, speed) in [(100, 0), (200, 1_000), (300, 5_000)] {
            history.push(at_speed(t, speed));
        }
        let speeds: Vec<u16> = [50, 100, 199, 200, 250, 999]
            .iter()
            .map(|&t| history.at(t).speed_centi_kmh)
            .collect();
        assert_eq!(speeds, [0, 0, 0, 1_000, 1_000, 5_000]);
        for t in 0..HISTORY as u64 {
            history.push(at_speed(1_000 + t, 7));
        }
        assert_eq!(
            history.at(300),
            at_speed(1_000, 7),
            "older samples are forgotten"
        );
    }
}
