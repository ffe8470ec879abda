//! Builders shared by the natclass tests: a tiny model of a NAT that produces
//! the observations an RFC 5780 probe would record behind it.
#![allow(dead_code)]

use natclass::*;
use std::net::{IpAddr, SocketAddr};

pub fn sa(s: &str) -> SocketAddr {
    s.parse().expect("test address literal")
}

pub const PRIMARY: &str = "203.0.113.1:3478";
pub const OTHER: &str = "203.0.113.2:3479";
pub const LOCAL: &str = "192.0.2.10:40000";
pub const FRESH: &str = "192.0.2.10:40001";
pub const PUBLIC_IP: &str = "198.51.100.7";

pub fn public(port: u16) -> SocketAddr {
    SocketAddr::new(PUBLIC_IP.parse().expect("literal"), port)
}

pub fn answered(mapped: SocketAddr, source: SocketAddr) -> Reply {
    Reply::Answered { mapped, source }
}

pub fn silent(n: u32) -> Reply {
    Reply::NoAnswer { transmissions: n }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B {
    Ei,
    Ad,
    Apd,
}

pub fn behaviour(b: B) -> Behaviour {
    match b {
        B::Ei => Behaviour::EndpointIndependent,
        B::Ad => Behaviour::AddressDependent,
        B::Apd => Behaviour::AddressAndPortDependent,
    }
}

/// Observations from a server at `primary`/`other` behind a NAT with the
/// given mapping and filtering.
pub fn server_behind(
    primary: SocketAddr,
    other: SocketAddr,
    m: B,
    f: B,
    hairpin: Hairpin,
) -> ServerObservation {
    let alt_primary_port = SocketAddr::new(other.ip(), primary.port());
    let primary_ip_alt_port = SocketAddr::new(primary.ip(), other.port());
    let mut o = ServerObservation::new(primary);
    o.other_address = Some(other);
    o.local = Some(sa(LOCAL));
    let (p2, p3) = match m {
        B::Ei => (50000, 50000),
        B::Ad => (50002, 50002),
        B::Apd => (50002, 50003),
    };
    o.mapping = MappingTests {
        test1: answered(public(50000), primary),
        test2: answered(public(p2), alt_primary_port),
        test3: answered(public(p3), other),
    };
    o.filtering = FilteringTests {
        local: Some(sa(FRESH)),
        test1: answered(public(50010), primary),
        test2: if f == B::Ei {
            answered(public(50010), other)
        } else {
            silent(7)
        },
        test3: if f == B::Apd {
            silent(7)
        } else {
            answered(public(50010), primary_ip_alt_port)
        },
    };
    o.hairpin = hairpin;
    o.tcp_answered = Some(true);
    o
}

pub fn one(o: ServerObservation) -> Observations {
    Observations {
        local: LocalNetwork {
            addresses: vec!["192.0.2.10".parse::<IpAddr>().expect("literal")],
            gateways: vec!["192.0.2.1".parse().expect("literal")],
            port_mapping_external: None,
            path: None,
        },
        servers: vec![o],
        ..Observations::default()
    }
}

pub fn default_server(m: B, f: B) -> ServerObservation {
    server_behind(sa(PRIMARY), sa(OTHER), m, f, Hairpin::NotTested)
}

pub fn has(v: &NatVerdict, test: &str) -> bool {
    v.evidence.iter().any(|e| e.test == test)
}
