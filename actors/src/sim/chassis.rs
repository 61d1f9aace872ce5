//! The chassis' drive: what speed, gear and pedals read at each instant of a scenario.

use std::time::Duration;

use vsiem_schemas::encode::VehicleSnapshot;
use vsiem_schemas::wire::Gear;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Drive {
    /// Parked and off: where a thief finds the car.
    #[default]
    Parked,
    /// City driving: speed between 0 and 50 km/h over a 20 s cycle, in drive.
    City,
}

impl Drive {
    pub fn snapshot(self, elapsed: Duration, timestamp_ns: u64) -> VehicleSnapshot {
        match self {
            Drive::Parked => VehicleSnapshot {
                timestamp_ns,
                gear: Gear::Park,
                ..VehicleSnapshot::default()
            },
            Drive::City => {
                // A triangle wave: accelerate for 10 s, brake for 10 s.
                let phase = elapsed.as_millis() % 20_000;
                let accelerating = phase < 10_000;
                let ramp = if accelerating { phase } else { 20_000 - phase };
                VehicleSnapshot {
                    timestamp_ns,
                    speed_centi_kmh: u16::try_from(ramp / 2).unwrap_or(u16::MAX),
                    gear: Gear::Drive,
                    brake_pct: if accelerating { 0 } else { 30 },
                    accelerator_pct: if accelerating { 40 } else { 0 },
                    engine_on: true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drives_read_as_their_scenario_says() {
        let parked = Drive::Parked.snapshot(Duration::from_secs(3), 1);
        assert!(parked.is_stationary());
        let cruising = Drive::City.snapshot(Duration::from_secs(10), 1);
        assert_eq!(
            (cruising.speed_centi_kmh, cruising.gear),
            (5_000, Gear::Drive)
        );
        let braking = Drive::City.snapshot(Duration::from_secs(15), 1);
        assert_eq!((braking.speed_centi_kmh, braking.brake_pct), (2_500, 30));
        assert!(!braking.is_stationary());
    }
}
