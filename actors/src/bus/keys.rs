//! Every key expression of the backbone, in one place.
//!
//! `vsiem/<vin>/event/<ecu>/<sensor>`  security events (SecurityEvent)
//! `vsiem/<vin>/signal/<ecu>`          vehicle signals (VehicleSignal)
//! `vsiem/<vin>/heartbeat/<ecu>`       sensor agent heartbeats (Heartbeat)
//! `vsiem/<vin>/alive/<ecu>`           liveliness token of each sensor agent
//! `vsiem/<vin>/order/<ecu>`           block orders to an ECU's enforcer (BlockOrder)
//! `vsiem/<vin>/ack/<ecu>`             the enforcer's answers (BlockAck)
//! `vsiem/<vin>/received/<ecu>`        the gateway's receipts of an ECU's events (EventAck)
//! `vsiem/<vin>/incident`              incidents raised by the gateway (Incident)
//! `vsiem/<vin>/escalation`            the V-SOC's receipts, as the gateway got them (IncidentAck)
//! `vsiem/<vin>/metrics/<process>`     queryable: a process's counters as JSON (`gateway`)
//! `vsoc/incident/<vin>`               the V-SOC's queryable taking escalations (Incident)

pub const ROOT: &str = "vsiem";

pub fn event(vin: &str, ecu: &str, sensor: &str) -> String {
    format!("{ROOT}/{vin}/event/{ecu}/{sensor}")
}

pub fn all_events(vin: &str) -> String {
    format!("{ROOT}/{vin}/event/**")
}

pub fn signal(vin: &str, ecu: &str) -> String {
    format!("{ROOT}/{vin}/signal/{ecu}")
}

pub fn all_signals(vin: &str) -> String {
    format!("{ROOT}/{vin}/signal/*")
}

pub fn heartbeat(vin: &str, ecu: &str) -> String {
    format!("{ROOT}/{vin}/heartbeat/{ecu}")
}

pub fn alive(vin: &str, ecu: &str) -> String {
    format!("{ROOT}/{vin}/alive/{ecu}")
}

pub fn all_alive(vin: &str) -> String {
    format!("{ROOT}/{vin}/alive/*")
}

pub fn order(vin: &str, ecu: &str) -> String {
    format!("{ROOT}/{vin}/order/{ecu}")
}

pub fn ack(vin: &str, ecu: &str) -> String {
    format!("{ROOT}/{vin}/ack/{ecu}")
}

pub fn all_acks(vin: &str) -> String {
    format!("{ROOT}/{vin}/ack/*")
}

/// Where the gateway acknowledges `ecu`'s events, cumulatively per sensor.
pub fn received(vin: &str, ecu: &str) -> String {
    format!("{ROOT}/{vin}/received/{ecu}")
}

pub fn incident(vin: &str) -> String {
    format!("{ROOT}/{vin}/incident")
}

pub fn escalation(vin: &str) -> String {
    format!("{ROOT}/{vin}/escalation")
}

/// The queryable answering `process`'s counters as JSON (`gateway`: ingest's).
pub fn metrics(vin: &str, process: &str) -> String {
    format!("{ROOT}/{vin}/metrics/{process}")
}

/// Everything of one vehicle, for monitors.
pub fn vehicle(vin: &str) -> String {
    format!("{ROOT}/{vin}/**")
}

pub fn vsoc_incident(vin: &str) -> String {
    format!("vsoc/incident/{vin}")
}

pub fn vsoc_all_incidents() -> &'static str {
    "vsoc/incident/*"
}

/// The kind of a key of [`vehicle`], and the ECU it names if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    Event { ecu: &'a str, sensor: &'a str },
    Signal { ecu: &'a str },
    Heartbeat { ecu: &'a str },
    Alive { ecu: &'a str },
    Order { ecu: &'a str },
    Ack { ecu: &'a str },
    Received { ecu: &'a str },
    Incident,
    Escalation,
}

/// Parses a key of one vehicle's tree; `None` for keys vsiem does not write.
pub fn parse(key: &str) -> Option<Kind<'_>> {
    let mut parts = key.split('/');
    if parts.next()? != ROOT {
        return None;
    }
    let _vin = parts.next()?;
    let kind = match (parts.next()?, parts.next(), parts.next()) {
        ("event", Some(ecu), Some(sensor)) => Kind::Event { ecu, sensor },
        ("signal", Some(ecu), None) => Kind::Signal { ecu },
        ("heartbeat", Some(ecu), None) => Kind::Heartbeat { ecu },
        ("alive", Some(ecu), None) => Kind::Alive { ecu },
        ("order", Some(ecu), None) => Kind::Order { ecu },
        ("ack", Some(ecu), None) => Kind::Ack { ecu },
        ("received", Some(ecu), None) => Kind::Received { ecu },
        ("incident", None, None) => Kind::Incident,
        ("escalation", None, None) => Kind::Escalation,
        _ => return None,
    };
    parts.next().is_none().then_some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_keys_parse_back() {
        let vin = "5VS1M00REF0000001";
        let cases = [
            (
                event(vin, "ivi", "files"),
                Some(Kind::Event {
                    ecu: "ivi",
                    sensor: "files",
                }),
            ),
            (
                signal(vin, "chassis-dc"),
                Some(Kind::Signal { ecu: "chassis-dc" }),
            ),
            (heartbeat(vin, "tcu"), Some(Kind::Heartbeat { ecu: "tcu" })),
            (alive(vin, "tcu"), Some(Kind::Alive { ecu: "tcu" })),
            (order(vin, "body-dc"), Some(Kind::Order { ecu: "body-dc" })),
            (ack(vin, "body-dc"), Some(Kind::Ack { ecu: "body-dc" })),
            (received(vin, "ivi"), Some(Kind::Received { ecu: "ivi" })),
            (incident(vin), Some(Kind::Incident)),
            (escalation(vin), Some(Kind::Escalation)),
            (format!("{ROOT}/{vin}/event/ivi"), None),
            (format!("{ROOT}/{vin}/order/ivi/extra"), None),
            ("other/x/incident".to_owned(), None),
        ];
        for (key, want) in cases {
            assert_eq!(parse(&key), want, "{key}");
        }
    }
}
