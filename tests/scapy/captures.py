"""Captures of the reference vehicle's traffic, made with Scapy (an independent tool) for
tests/scapy_replay.rs: one attack capture per detection of the network sensor and one capture
of normal traffic.

Usage: python3 captures.py OUTDIR   (writes OUTDIR/<scenario>.pcap, prints their names)

Addresses, VLANs, MACs, services and IDs are those of the contract (reference-vehicle.md,
topology/reference.toml). The vantage point is the central gateway's zonal trunks, as the
zonal switches send them, 802.1Q-tagged: a packet between two zones is seen twice, on the
source zone's trunk (to the gateway's MAC there) and, once routed, on the destination zone's
trunk (from the gateway's MAC there). Attack captures show the attacker's trunk only, so that
each detection is expected exactly once.

Needs scapy 2.6.1 (`pip install scapy==2.6.1`); SOME/IP, SOME/IP-SD, DoIP and UDS are built
with scapy.contrib.automotive's layers, DNS and TLS with scapy's own.
"""

import sys
import warnings
from pathlib import Path

from scapy.all import ARP, DNS, DNSQR, DNSRR, ICMP, IP, TCP, UDP, Dot1Q, Ether, load_layer, raw
from scapy.contrib.automotive.doip import DoIP
from scapy.contrib.automotive.someip import (
    SD,
    SDEntry_EventGroup,
    SDEntry_Service,
    SDOption_IP4_EndPoint,
    SOMEIP,
)
from scapy.contrib.automotive.uds import (
    UDS,
    UDS_DSC,
    UDS_DSCPR,
    UDS_ER,
    UDS_ERPR,
    UDS_NR,
    UDS_RC,
    UDS_RCPR,
    UDS_RDBI,
    UDS_RDBIPR,
    UDS_SA,
    UDS_SAPR,
    UDS_TP,
    UDS_TPPR,
)
from scapy.utils import RawPcapWriter

# scapy's TLS layer imports ciphers that cryptography deprecates; not used here.
warnings.filterwarnings("ignore", module="scapy.layers.tls")
load_layer("tls")
from scapy.layers.tls.extensions import ServerName, TLS_Ext_ServerName  # noqa: E402
from scapy.layers.tls.handshake import TLSClientHello  # noqa: E402
from scapy.layers.tls.record import TLS  # noqa: E402

# The contract's hosts: name -> (address, VLAN of its zone).
HOSTS = {
    "tcu": ("10.10.1.2", 10),
    "ivi": ("10.10.1.3", 10),
    "body-dc": ("10.10.2.2", 20),
    "powertrain-dc": ("10.10.3.2", 30),
    "chassis-dc": ("10.10.3.3", 30),
    "adas-dc": ("10.10.4.2", 40),
    "tester": ("10.10.9.100", 90),
}
# The gateway's interface on each zone's VLAN.
GATEWAY = {10: "10.10.1.1", 20: "10.10.2.1", 30: "10.10.3.1", 40: "10.10.4.1", 90: "10.10.9.1"}
# Traffic to and from outside the vehicle goes through the TCU, on its zone.
UPLINK = "tcu"
SD_GROUP = "224.224.224.245"
SD_PORT = 30490
DOIP_PORT = 13400
CLIENT = {"gateway": 0x0001, "tcu": 0x0002, "ivi": 0x0003, "adas-dc": 0x0040}
TESTER, GATEWAY_DOIP, POWERTRAIN_DOIP = 0x0E00, 0x1000, 0x1001
# Services of the contract: (service, provider, port).
DOOR_LOCK = (0x1101, "body-dc", 30501)
IMMOBILIZER = (0x1102, "body-dc", 30502)
CLIMATE = (0x1201, "body-dc", 30503)
VEHICLE_DYNAMICS = (0x2101, "chassis-dc", 30511)
ENGINE = (0x2201, "powertrain-dc", 30521)
ADAS_STATUS = (0x3101, "adas-dc", 30531)
SPEED, GEAR_STATE, LOCK_STATE = 0x8001, 0x8001, 0x8001
C2_ADDRESS, WEB_ADDRESS = "203.0.113.66", "93.184.216.34"


def mac(ip):
    """The contract's MAC rule: 02:00 then the four octets of the container address."""
    return "02:00:" + ":".join(f"{int(o):02x}" for o in ip.split("."))


def multicast_mac(ip):
    o = [int(x) for x in ip.split(".")]
    return f"01:00:5e:{o[1] & 0x7F:02x}:{o[2]:02x}:{o[3]:02x}"


def address(host):
    return HOSTS[host][0] if host in HOSTS else host


def vlan_of(ip):
    """The VLAN of a vehicle address, None outside the vehicle."""
    for zone_ip, vlan in HOSTS.values():
        if zone_ip.rsplit(".", 1)[0] == ip.rsplit(".", 1)[0]:
            return vlan
    return None


class Capture:
    """Frames in capture order, with their times (seconds)."""

    def __init__(self):
        self.t = 1_767_225_600.0  # 2026-01-01T00:00:00Z
        self.frames = []

    def wait(self, seconds):
        self.t += seconds

    def frame(self, frame):
        self.frames.append((self.t, raw(frame)))
        self.t += 0.0001

    def packet(self, src, dst, l4, vlan=None, legs="both"):
        """One IP packet from `src` to `dst` (host names or addresses) on the trunks. `vlan`
        overrides the source's tag (an attacker's); `legs="ingress"` shows only the source
        trunk."""
        src_ip, dst_ip = address(src), address(dst)
        src_vlan, dst_vlan = vlan_of(src_ip), vlan_of(dst_ip)
        src_mac = mac(src_ip)
        if src_vlan is None:  # from outside, forwarded into the vehicle by the TCU
            src_mac, src_vlan = mac(address(UPLINK)), HOSTS[UPLINK][1]
        ip = IP(src=src_ip, dst=dst_ip, ttl=64) / l4
        if dst_ip.startswith("224."):
            first_hop = multicast_mac(dst_ip)
        elif dst_vlan is None:
            first_hop = mac(address(UPLINK))
        elif dst_vlan == src_vlan:
            first_hop = mac(dst_ip)
        else:
            first_hop = mac(GATEWAY[src_vlan])
        tag = src_vlan if vlan is None else vlan
        self.frame(Ether(src=src_mac, dst=first_hop) / Dot1Q(vlan=tag) / ip)
        routed = dst_vlan is not None and dst_vlan != src_vlan and not dst_ip.startswith("224.")
        if routed and legs == "both":
            gw = mac(GATEWAY[dst_vlan])
            hop = IP(raw(ip))
            hop.ttl -= 1
            del hop.chksum
            self.frame(Ether(src=gw, dst=mac(dst_ip)) / Dot1Q(vlan=dst_vlan) / hop)

    def write(self, path):
        writer = RawPcapWriter(str(path), linktype=1, sync=False)
        writer.write_header(None)
        for t, frame in self.frames:
            sec = int(t)
            writer.write_packet(frame, sec=sec, usec=int(round((t - sec) * 1e6)))
        writer.close()


class Connection:
    """A TCP connection between two hosts, with its sequence numbers."""

    def __init__(self, cap, client, client_port, server, server_port, legs="both"):
        self.cap, self.legs = cap, legs
        self.ends = {client: (client_port, server, server_port), server: (server_port, client, client_port)}
        self.next = {client: 1_000, server: 50_000}
        self.client, self.server = client, server

    def _segment(self, sender, flags, payload=b""):
        sport, peer, dport = self.ends[sender]
        ack = 0 if flags == "S" else self.next[peer]
        seg = TCP(sport=sport, dport=dport, flags=flags, seq=self.next[sender], ack=ack, window=64_240)
        self.cap.packet(sender, peer, seg / payload if payload else seg, legs=self.legs)
        self.next[sender] += len(payload) + (1 if "S" in flags or "F" in flags else 0)

    def open(self):
        self._segment(self.client, "S")
        self._segment(self.server, "SA")
        self._segment(self.client, "A")

    def send(self, sender, payload):
        self._segment(sender, "PA", raw(payload))

    def ack(self, sender):
        self._segment(sender, "A")


def someip(service, method, client=0, session=1, msg_type=SOMEIP.TYPE_REQUEST, payload=b""):
    return SOMEIP(srv_id=service, sub_id=method, client_id=client, session_id=session, msg_type=msg_type) / payload


def call(cap, caller, service, method, client, session, port=40_000, answer=b"", legs="both"):
    """A SOME/IP request from `caller` and, when `answer` is given, the provider's response."""
    number, provider, service_port = service
    cap.packet(caller, provider, UDP(sport=port, dport=service_port) / someip(number, method, client, session), legs=legs)
    if answer is not None and legs == "both":
        response = someip(number, method, client, session, SOMEIP.TYPE_RESPONSE, answer)
        cap.packet(provider, caller, UDP(sport=service_port, dport=port) / response)


def notify(cap, service, event, subscriber, payload, session=1):
    number, provider, port = service
    message = someip(number, event, 0, session, SOMEIP.TYPE_NOTIFICATION, payload)
    cap.packet(provider, subscriber, UDP(sport=port, dport=port) / message)


def sd_entries(sender, entries, options=(), dst=SD_GROUP, vlan=None):
    sd = SD(flags=0xC0, entry_array=list(entries), option_array=list(options))
    return (sender, dst, UDP(sport=SD_PORT, dport=SD_PORT) / SOMEIP() / sd, vlan)


def sd_send(cap, message):
    sender, dst, l4, vlan = message
    cap.packet(sender, dst, l4, vlan=vlan, legs="ingress")


def offer(service, options_index=0):
    number, _, _ = service
    return SDEntry_Service(type=0x01, index_1=options_index, n_opt_1=1, srv_id=number, inst_id=1, major_ver=1, ttl=3, minor_ver=0)


def find(number):
    return SDEntry_Service(type=0x00, srv_id=number, inst_id=0xFFFF, major_ver=0xFF, ttl=3, minor_ver=0xFFFFFFFF)


def endpoint(host, port):
    return SDOption_IP4_EndPoint(addr=address(host), l4_proto=0x11, port=port)


def drive(cap, speed_centi_kmh, gear, subscribers=("gateway",)):
    """The chassis' Speed and the engine's GearState, as their controllers publish them."""
    for sub in subscribers:
        target = GATEWAY[30] if sub == "gateway" else sub
        notify(cap, VEHICLE_DYNAMICS, SPEED, target, speed_centi_kmh.to_bytes(2, "big"))
        notify(cap, ENGINE, GEAR_STATE, target, bytes([gear]))


def doip_session(cap, tester_port=50_000):
    """The tester's DoIP connection to the gateway, routing activated."""
    conn = Connection(cap, "tester", tester_port, GATEWAY[90], DOIP_PORT)
    conn.open()
    conn.send("tester", DoIP(payload_type=0x0005, source_address=TESTER, activation_type=0))
    conn.send(
        GATEWAY[90],
        DoIP(
            payload_type=0x0006,
            logical_address_tester=TESTER,
            logical_address_doip_entity=GATEWAY_DOIP,
            routing_activation_response=0x10,
        ),
    )
    return conn


def diagnose(conn, request, answer):
    """One UDS exchange with the powertrain controller through the gateway: the request, the
    gateway's DoIP acknowledgement, and the ECU's answer."""
    gw = GATEWAY[90]
    conn.send("tester", DoIP(payload_type=0x8001, source_address=TESTER, target_address=POWERTRAIN_DOIP) / UDS() / request)
    conn.send(gw, DoIP(payload_type=0x8002, source_address=POWERTRAIN_DOIP, target_address=TESTER, ack_code=0))
    conn.send(gw, DoIP(payload_type=0x8001, source_address=POWERTRAIN_DOIP, target_address=TESTER) / UDS() / answer)


def negative(sid, nrc):
    return UDS_NR(requestServiceId=sid, negativeResponseCode=nrc)


def client_hello(name):
    return TLS(msg=[TLSClientHello(ciphers=[0x1301, 0x1302], ext=[TLS_Ext_ServerName(servernames=[ServerName(servername=name.encode())])])])


# --- attacks: one capture per detection ------------------------------------------------------


def unknown_host(cap):
    # A laptop plugged into the body zone pings the body controller.
    cap.packet("10.10.2.77", "body-dc", ICMP(type=8, id=1, seq=1), legs="ingress")


def arp_spoof(cap):
    # The IVI claims the gateway's address on its zone (man in the middle).
    ivi, gw = address("ivi"), GATEWAY[10]
    cap.frame(Ether(src=mac(ivi), dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=10) / ARP(op=2, hwsrc=mac(ivi), psrc=gw, hwdst="ff:ff:ff:ff:ff:ff", pdst="10.10.1.255"))


def vlan_violation(cap):
    # The IVI tags its frame with the body zone's VLAN (VLAN hopping) to reach body-dc directly.
    cap.packet("ivi", "body-dc", UDP(sport=40_000, dport=30501) / someip(0x1101, 0x0001, CLIENT["ivi"]), vlan=20, legs="ingress")


def flow_not_allowed(cap):
    # The IVI opens a telnet connection to the TCU.
    cap.packet("ivi", "tcu", TCP(sport=40_000, dport=23, flags="S", seq=1), legs="ingress")


def port_scan(cap):
    # The IVI probes 20 TCP ports of the body controller within 20 ms.
    for port in range(1, 21):
        cap.packet("ivi", "body-dc", TCP(sport=40_000, dport=port, flags="S", seq=1), legs="ingress")
        cap.wait(0.001)


def flood(cap):
    # The TCU floods the body controller with an allowed call: 10,000 in half a second.
    cap.packet("tcu", "body-dc", UDP(sport=40_000, dport=30501) / someip(0x1101, 0x0001, CLIENT["tcu"]), legs="ingress")
    t, frame = cap.frames[0]
    cap.frames = [(t + i * 0.00005, frame) for i in range(10_000)]


def someip_unauthorized_client(cap):
    # The reference attack's lateral movement: the IVI sends DoorLock.Unlock and
    # Immobilizer.Disarm to the body controller.
    call(cap, "ivi", DOOR_LOCK, 0x0002, CLIENT["ivi"], 1, answer=None, legs="ingress")
    call(cap, "ivi", IMMOBILIZER, 0x0002, CLIENT["ivi"], 2, answer=None, legs="ingress")


def someip_unknown_service(cap):
    # A service the vehicle does not have, on the door lock's port.
    cap.packet("ivi", "body-dc", UDP(sport=40_000, dport=30501) / someip(0x4242, 0x0001, CLIENT["ivi"]), legs="ingress")


def someip_unknown_method(cap):
    cap.packet("ivi", "body-dc", UDP(sport=40_000, dport=30501) / someip(0x1101, 0x0009, CLIENT["ivi"]), legs="ingress")


def someip_malformed(cap):
    # A header whose length field claims 100 bytes that are not there, then a datagram too
    # short for a header.
    message = SOMEIP(srv_id=0x1101, sub_id=0x0001, client_id=CLIENT["ivi"], session_id=1, len=100)
    cap.packet("ivi", "body-dc", UDP(sport=40_000, dport=30501) / message, legs="ingress")
    cap.packet("ivi", "body-dc", UDP(sport=40_000, dport=30501) / raw(message)[:6], legs="ingress")


def someip_sd_offer_spoof(cap):
    # The IVI offers the door lock, pointing clients at itself.
    sd_send(cap, sd_entries("ivi", [offer(DOOR_LOCK)], [endpoint("ivi", 30501)]))


def someip_sd_find_scan(cap):
    # The IVI looks for services the vehicle does not have.
    sd_send(cap, sd_entries("ivi", [find(0x4242), find(0x4243)]))


def doip_routing_activation_unauthorized(cap):
    # The tester asks for routing while the vehicle drives at 30 km/h in D.
    drive(cap, 3000, 3)
    conn = Connection(cap, "tester", 50_000, GATEWAY[90], DOIP_PORT)
    conn.open()
    conn.send("tester", DoIP(payload_type=0x0005, source_address=TESTER, activation_type=0))


def doip_malformed(cap):
    # A DoIP header whose inverse version byte is wrong.
    cap.packet("tester", GATEWAY[90], UDP(sport=50_000, dport=DOIP_PORT) / DoIP(protocol_version=2, inverse_version=0x02, payload_type=0x0001), legs="ingress")


def uds_security_access_bruteforce(cap):
    # Parked, the tester guesses SecurityAccess keys, asking for a fresh seed before each.
    drive(cap, 0, 0)
    conn = doip_session(cap)
    for guess in range(3):
        diagnose(conn, UDS_SA(securityAccessType=1), UDS_SAPR(securityAccessType=1, securitySeed=b"\x12\x34\x56\x78"))
        diagnose(conn, UDS_SA(securityAccessType=2, securityKey=bytes([guess] * 4)), negative(0x27, 0x35))


def uds_dangerous_service_while_moving(cap):
    # Routing activated while parked, then the vehicle drives and the tester resets the ECU.
    drive(cap, 0, 0)
    conn = doip_session(cap)
    drive(cap, 3000, 3)
    diagnose(conn, UDS_ER(resetType=1), UDS_ERPR(resetType=1))


def ioc_dns(cap):
    query = DNS(id=0x1234, rd=1, qd=DNSQR(qname="c2.evil.example"))
    cap.packet("ivi", "tcu", UDP(sport=53_000, dport=53) / query, legs="ingress")


def ioc_tls_sni(cap):
    conn = Connection(cap, "ivi", 40_443, WEB_ADDRESS, 443, legs="ingress")
    conn.open()
    conn.send("ivi", client_hello("update-cdn.evil.example"))


def ioc_ip(cap):
    # A whole connection to the C&C address: one event, not one per packet.
    conn = Connection(cap, "ivi", 40_444, C2_ADDRESS, 443, legs="ingress")
    conn.open()
    conn.send("ivi", b"\x00beacon")
    conn.send(C2_ADDRESS, b"\x00task")
    conn.ack("ivi")


# --- normal traffic of the reference vehicle -------------------------------------------------


def benign(cap):
    # Every controller's ARP for itself, and the gateway's.
    for host, (ip, vlan) in HOSTS.items():
        cap.frame(Ether(src=mac(ip), dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=vlan) / ARP(op=2, hwsrc=mac(ip), psrc=ip, pdst=ip))
    for vlan, ip in GATEWAY.items():
        cap.frame(Ether(src=mac(ip), dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=vlan) / ARP(op=1, hwsrc=mac(ip), psrc=ip, pdst=ip.rsplit(".", 1)[0] + ".2"))
    # The real providers offer their services, each with its endpoint.
    for provider, services in [
        ("body-dc", [DOOR_LOCK, IMMOBILIZER, CLIMATE]),
        ("chassis-dc", [VEHICLE_DYNAMICS]),
        ("powertrain-dc", [ENGINE]),
        ("adas-dc", [ADAS_STATUS]),
    ]:
        entries = [offer(s, i) for i, s in enumerate(services)]
        options = [endpoint(provider, s[2]) for s in services]
        sd_send(cap, sd_entries(provider, entries, options))
    # Clients look for and subscribe to what they use.
    sd_send(cap, sd_entries("ivi", [find(0x1101), find(0x2101)]))
    subscribe = SDEntry_EventGroup(type=0x06, srv_id=0x1101, inst_id=1, major_ver=1, ttl=3, eventgroup_id=1, n_opt_1=1)
    sd_send(cap, sd_entries("ivi", [subscribe], [endpoint("ivi", 30501)], dst=address("body-dc")))
    ack = SDEntry_EventGroup(type=0x07, srv_id=0x1101, inst_id=1, major_ver=1, ttl=3, eventgroup_id=1)
    sd_send(cap, sd_entries("body-dc", [ack], dst=address("ivi")))
    # The sensors' backbone to the gateway (Zenoh, TCP 7447).
    zenoh = Connection(cap, "body-dc", 41_000, GATEWAY[20], 7447)
    zenoh.open()
    zenoh.send("body-dc", b"\x00zenoh-frame")
    # Parked: the tester's diagnostics with the powertrain controller.
    drive(cap, 0, 0, ["gateway", "ivi", "adas-dc"])
    conn = doip_session(cap)
    diagnose(conn, UDS_TP(subFunction=0), UDS_TPPR(zeroSubFunction=0))
    diagnose(conn, UDS_RDBI(identifiers=[0xF190]), UDS_RDBIPR(dataIdentifier=0xF190) / b"5VS1M00REF0000001")
    diagnose(conn, UDS_DSC(diagnosticSessionType=3), UDS_DSCPR(diagnosticSessionType=3, sessionParameterRecord=b"\x00\x32\x01\xf4"))
    diagnose(conn, UDS_SA(securityAccessType=1), UDS_SAPR(securityAccessType=1, securitySeed=b"\x12\x34\x56\x78"))
    diagnose(conn, UDS_SA(securityAccessType=2, securityKey=b"\xed\xcb\xa9\x87"), UDS_SAPR(securityAccessType=2))
    diagnose(conn, UDS_RC(routineControlType=1, routineIdentifier=0x0203), UDS_RCPR(routineControlType=1, routineIdentifier=0x0203) / b"\x00")
    diagnose(conn, UDS_ER(resetType=1), UDS_ERPR(resetType=1))
    # Driving: two seconds of cyclic Speed (10 ms) and the gear, with the usual calls.
    session = 1
    for tick in range(200):
        cap.wait(0.01)
        speed = 500 + tick * 10
        for subscriber in ["gateway", "ivi", "adas-dc"]:
            target = GATEWAY[30] if subscriber == "gateway" else subscriber
            notify(cap, VEHICLE_DYNAMICS, SPEED, target, speed.to_bytes(2, "big"), session)
        if tick % 50 == 0:
            notify(cap, ENGINE, GEAR_STATE, GATEWAY[30], bytes([3]), session)
            notify(cap, ENGINE, GEAR_STATE, "ivi", bytes([3]), session)
            call(cap, "ivi", DOOR_LOCK, 0x0001, CLIENT["ivi"], session)
            notify(cap, DOOR_LOCK, LOCK_STATE, "ivi", b"\x01", session)
            notify(cap, DOOR_LOCK, LOCK_STATE, "tcu", b"\x01", session)
            notify(cap, DOOR_LOCK, LOCK_STATE, GATEWAY[20], b"\x01", session)
            call(cap, "ivi", CLIMATE, 0x0001, CLIENT["ivi"], session)
            call(cap, "ivi", IMMOBILIZER, 0x0001, CLIENT["ivi"], session, answer=b"\x00")
            notify(cap, ADAS_STATUS, 0x8001, "ivi", b"\x00", session)
            session += 1
    # The IVI's Internet services: DNS through the TCU's resolver, then TLS.
    for name in ["maps.vendor.example", "media.vendor.example"]:
        cap.packet("ivi", "tcu", UDP(sport=53_001, dport=53) / DNS(id=7, rd=1, qd=DNSQR(qname=name)))
        answer = DNS(id=7, qr=1, ra=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata=WEB_ADDRESS))
        cap.packet("tcu", "ivi", UDP(sport=53, dport=53_001) / answer)
    web = Connection(cap, "ivi", 40_445, WEB_ADDRESS, 443)
    web.open()
    web.send("ivi", client_hello("media.vendor.example"))
    # Parked again, the TCU unlocks remotely (allowed) and the door reports it.
    drive(cap, 0, 0)
    call(cap, "tcu", DOOR_LOCK, 0x0002, CLIENT["tcu"], session, port=40_001)
    notify(cap, DOOR_LOCK, LOCK_STATE, "tcu", b"\x00", session)


SCENARIOS = [
    unknown_host,
    arp_spoof,
    vlan_violation,
    flow_not_allowed,
    port_scan,
    flood,
    someip_unauthorized_client,
    someip_unknown_service,
    someip_unknown_method,
    someip_malformed,
    someip_sd_offer_spoof,
    someip_sd_find_scan,
    doip_routing_activation_unauthorized,
    doip_malformed,
    uds_security_access_bruteforce,
    uds_dangerous_service_while_moving,
    ioc_dns,
    ioc_tls_sni,
    ioc_ip,
    benign,
]


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for scenario in SCENARIOS:
        cap = Capture()
        scenario(cap)
        cap.write(out / f"{scenario.__name__}.pcap")
        print(scenario.__name__)


if __name__ == "__main__":
    main()
