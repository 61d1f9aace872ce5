//! The fields a rule can test: their names as rules write them, their types, and how each is
//! read from a verified SecurityEvent view (in place, nothing copied) and the vehicle state at
//! the event's time.

use vsiem_schemas::catalog;
use vsiem_schemas::encode::VehicleSnapshot;
use vsiem_schemas::wire;

/// What a field holds, which decides the values and modifiers a rule may use with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// An ECU name (checked against the topology).
    Ecu,
    /// A dotted event type name (checked against the catalog).
    EventType,
    Number,
    Bool,
    /// One of a fixed, ordered list of names (ordered: `gte` compares positions).
    Enum(&'static [&'static str]),
}

/// A field's value in one event: borrowed from the event's buffer where it is text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Text(&'a str),
    Number(f64),
    Bool(bool),
    /// Position in the field's [`Kind::Enum`] list.
    Ordinal(usize),
    /// The event carries no such field (another context, or not set).
    Absent,
}

pub const SEVERITIES: &[&str] = &["informational", "low", "medium", "high", "critical"];
pub const CATEGORIES: &[&str] = &["intrusion", "lateral-movement", "reconnaissance", "health"];
pub const GEARS: &[&str] = &["park", "reverse", "neutral", "drive", "unknown"];
pub const TRANSPORTS: &[&str] = &["udp", "tcp"];
pub const FILE_CHANGES: &[&str] = &["created", "modified", "deleted"];

macro_rules! fields {
    ($($variant:ident = $name:literal, $kind:expr, $doc:literal;)*) => {
        /// Every field a rule can name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Field { $($variant),* }

        /// (name, kind, description) of every field, in the order the documentation lists them.
        pub const ALL: &[(Field, &str, Kind, &str)] = &[$((Field::$variant, $name, $kind, $doc)),*];
    };
}

fields! {
    Type = "type", Kind::EventType, "dotted event type (`someip.unauthorized_client`)";
    EventId = "event_id", Kind::Number, "IdsM external ID (0x8010)";
    Category = "category", Kind::Enum(CATEGORIES), "the type's correlation category";
    Severity = "severity", Kind::Enum(SEVERITIES), "as the sensor reported it";
    Ecu = "ecu", Kind::Ecu, "the reporting ECU";
    Sensor = "sensor", Kind::Text, "the reporting sensor on that ECU";
    Origin = "origin", Kind::Ecu, "the ECU the activity comes from (the reporter when unknown)";
    Count = "count", Kind::Number, "events the sensor folded into this one";
    SomeipService = "someip.service", Kind::Number, "SOME/IP service ID";
    SomeipMethod = "someip.method", Kind::Number, "SOME/IP method or event ID";
    SomeipClient = "someip.client", Kind::Number, "SOME/IP client ID";
    SomeipMessageType = "someip.message_type", Kind::Number, "SOME/IP message type";
    SomeipReturnCode = "someip.return_code", Kind::Number, "SOME/IP return code";
    Src = "src", Kind::Text, "source \"ip:port\" (SOME/IP, flow, DNS)";
    SrcIp = "src.ip", Kind::Text, "source address";
    SrcPort = "src.port", Kind::Number, "source port";
    Dst = "dst", Kind::Text, "destination \"ip:port\" (SOME/IP, flow)";
    DstIp = "dst.ip", Kind::Text, "destination address";
    DstPort = "dst.port", Kind::Number, "destination port";
    FlowTransport = "flow.transport", Kind::Enum(TRANSPORTS), "udp or tcp";
    FlowVlan = "flow.vlan", Kind::Number, "802.1Q VLAN ID, 0 when untagged";
    FilePath = "file.path", Kind::Text, "the changed file, as the ECU names it";
    FileChange = "file.change", Kind::Enum(FILE_CHANGES), "created, modified or deleted";
    FileReadOnly = "file.read_only", Kind::Bool, "under a root the topology declares read-only";
    ProcessName = "process.name", Kind::Text, "the started process";
    ProcessParent = "process.parent", Kind::Text, "its parent's name";
    ProcessCmdline = "process.cmdline", Kind::Text, "its command line";
    DnsName = "dns.name", Kind::Text, "the queried name";
    HealthSubject = "health.subject", Kind::Text, "the part of the SIEM a health event is about";
    HealthReason = "health.reason", Kind::Text, "why";
    VehicleSpeedKmh = "vehicle.speed_kmh", Kind::Number, "speed at the event's time, km/h";
    VehicleMoving = "vehicle.moving", Kind::Bool, "speed above 0 at the event's time";
    VehicleGear = "vehicle.gear", Kind::Enum(GEARS), "gear at the event's time";
    VehicleBrakePct = "vehicle.brake_pct", Kind::Number, "brake pedal, %";
    VehicleAcceleratorPct = "vehicle.accelerator_pct", Kind::Number, "accelerator pedal, %";
    VehicleEngineOn = "vehicle.engine_on", Kind::Bool, "engine running";
}

impl Field {
    pub fn by_name(name: &str) -> Option<(Field, Kind)> {
        ALL.iter()
            .find(|(_, n, _, _)| *n == name)
            .map(|(f, _, k, _)| (*f, *k))
    }

    pub fn name(self) -> &'static str {
        ALL.iter()
            .find(|(f, ..)| *f == self)
            .map_or("?", |(_, n, ..)| n)
    }

    /// This field's value in `event`, with `vehicle` the state at the event's time.
    pub fn read<'a>(self, event: &wire::SecurityEvent<'a>, vehicle: &VehicleSnapshot) -> Value<'a> {
        let text = |s: Option<&'a str>| {
            s.filter(|s| !s.is_empty())
                .map_or(Value::Absent, Value::Text)
        };
        let number = |n: u64| Value::Number(n as f64);
        match self {
            Field::Type => {
                catalog::by_id(event.event_id()).map_or(Value::Absent, |t| Value::Text(t.name))
            }
            Field::EventId => number(event.event_id().into()),
            Field::Category => catalog::by_id(event.event_id()).map_or(Value::Absent, |t| {
                Value::Ordinal(category_ordinal(t.category))
            }),
            Field::Severity => Value::Ordinal(usize::from(event.severity().0.min(4))),
            Field::Ecu => Value::Text(event.ecu()),
            Field::Sensor => Value::Text(event.sensor()),
            Field::Origin => match event.origin() {
                Some(o) if !o.is_empty() => Value::Text(o),
                _ => Value::Text(event.ecu()),
            },
            Field::Count => number(event.count().into()),
            Field::SomeipService => event
                .context_as_someip_call()
                .map_or(Value::Absent, |c| number(c.service().into())),
            Field::SomeipMethod => event
                .context_as_someip_call()
                .map_or(Value::Absent, |c| number(c.method().into())),
            Field::SomeipClient => event
                .context_as_someip_call()
                .map_or(Value::Absent, |c| number(c.client().into())),
            Field::SomeipMessageType => event
                .context_as_someip_call()
                .map_or(Value::Absent, |c| number(c.message_type().into())),
            Field::SomeipReturnCode => event
                .context_as_someip_call()
                .map_or(Value::Absent, |c| number(c.return_code().into())),
            Field::Src => text(endpoints(event).0),
            Field::SrcIp => text(endpoints(event).0.map(|e| split_endpoint(e).0)),
            Field::SrcPort => port(endpoints(event).0),
            Field::Dst => text(endpoints(event).1),
            Field::DstIp => text(endpoints(event).1.map(|e| split_endpoint(e).0)),
            Field::DstPort => port(endpoints(event).1),
            Field::FlowTransport => event.context_as_network_flow().map_or(Value::Absent, |f| {
                Value::Ordinal(usize::from(f.transport() == wire::Transport::Tcp))
            }),
            Field::FlowVlan => event
                .context_as_network_flow()
                .map_or(Value::Absent, |f| number(f.vlan().into())),
            Field::FilePath => text(event.context_as_file_change().and_then(|f| f.path())),
            Field::FileChange => event.context_as_file_change().map_or(Value::Absent, |f| {
                Value::Ordinal(usize::from(f.kind().0.min(2)))
            }),
            Field::FileReadOnly => event
                .context_as_file_change()
                .map_or(Value::Absent, |f| Value::Bool(f.read_only())),
            Field::ProcessName => text(event.context_as_process_start().and_then(|p| p.name())),
            Field::ProcessParent => text(
                event
                    .context_as_process_start()
                    .and_then(|p| p.parent_name()),
            ),
            Field::ProcessCmdline => {
                text(event.context_as_process_start().and_then(|p| p.cmdline()))
            }
            Field::DnsName => text(event.context_as_dns_query().and_then(|d| d.name())),
            Field::HealthSubject => {
                text(event.context_as_sensor_health().and_then(|h| h.subject()))
            }
            Field::HealthReason => text(event.context_as_sensor_health().and_then(|h| h.reason())),
            Field::VehicleSpeedKmh => Value::Number(f64::from(vehicle.speed_centi_kmh) / 100.0),
            Field::VehicleMoving => Value::Bool(vehicle.speed_centi_kmh > 0),
            Field::VehicleGear => Value::Ordinal(gear_ordinal(vehicle.gear)),
            Field::VehicleBrakePct => number(vehicle.brake_pct.into()),
            Field::VehicleAcceleratorPct => number(vehicle.accelerator_pct.into()),
            Field::VehicleEngineOn => Value::Bool(vehicle.engine_on),
        }
    }
}

fn category_ordinal(category: catalog::Category) -> usize {
    CATEGORIES
        .iter()
        .position(|c| *c == category.as_str())
        .unwrap_or(0)
}

fn gear_ordinal(gear: wire::Gear) -> usize {
    match gear {
        wire::Gear::Park => 0,
        wire::Gear::Reverse => 1,
        wire::Gear::Neutral => 2,
        wire::Gear::Drive => 3,
        _ => 4,
    }
}

/// The (src, dst) "ip:port" strings of whichever context the event carries.
fn endpoints<'a>(event: &wire::SecurityEvent<'a>) -> (Option<&'a str>, Option<&'a str>) {
    if let Some(c) = event.context_as_someip_call() {
        (c.src(), c.dst())
    } else if let Some(f) = event.context_as_network_flow() {
        (f.src(), f.dst())
    } else if let Some(d) = event.context_as_dns_query() {
        (d.src(), None)
    } else {
        (None, None)
    }
}

/// "10.10.1.3:30501" -> ("10.10.1.3", Some("30501")); "[::1]:53" -> ("::1", Some("53")).
fn split_endpoint(endpoint: &str) -> (&str, Option<&str>) {
    match endpoint.rsplit_once(':') {
        Some((ip, port)) if ip.starts_with('[') && ip.ends_with(']') => {
            (&ip[1..ip.len() - 1], Some(port))
        }
        Some((ip, port)) if !ip.contains(':') => (ip, Some(port)),
        _ => (endpoint, None),
    }
}

fn port(endpoint: Option<&str>) -> Value<'_> {
    endpoint
        .and_then(|e| split_endpoint(e).1)
        .and_then(|p| p.parse::<u16>().ok())
        .map_or(Value::Absent, |p| Value::Number(p.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_into_address_and_port() {
        let cases = [
            ("10.10.1.3:30501", ("10.10.1.3", Some("30501"))),
            ("[fe80::1]:53", ("fe80::1", Some("53"))),
            ("fe80::1", ("fe80::1", None)),
            ("10.10.1.3", ("10.10.1.3", None)),
        ];
        for (endpoint, want) in cases {
            assert_eq!(split_endpoint(endpoint), want, "{endpoint}");
        }
    }

    /// The fields table of topology/rules/README.md is the documentation: the same rows.
    #[test]
    fn the_documented_fields_are_the_fields() {
        let doc = include_str!("../../../topology/rules/README.md");
        let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
        let kind = |k: &Kind| match k {
            Kind::Text => "text".to_owned(),
            Kind::Ecu => "ECU name".to_owned(),
            Kind::EventType => "event type".to_owned(),
            Kind::Number => "number".to_owned(),
            Kind::Bool => "bool".to_owned(),
            Kind::Enum(names) => format!("one of {}", names.join(", ")),
        };
        let expected: Vec<String> = ALL
            .iter()
            .map(|(_, name, k, doc)| format!("| `{name}` | {} | {doc} |", kind(k)))
            .collect();
        assert_eq!(
            rows, expected,
            "topology/rules/README.md and field.rs disagree"
        );
    }

    #[test]
    fn field_names_are_unique_and_resolve() {
        for (field, name, kind, _) in ALL {
            assert_eq!(Field::by_name(name), Some((*field, *kind)), "{name}");
            assert_eq!(field.name(), *name);
        }
    }
}
