//! Filler for documents: names, cities, hosts and timestamps. Nothing here
//! is sensitive (no digits in names, no addresses, no IPs).

use crate::rng::Rng;

pub const FIRST: &[&str] = &[
    "Anna", "Lukas", "Marie", "Jonas", "Sofia", "Mateo", "Chloé", "Hiroshi", "Priya", "Olusegun",
    "Mei", "Ahmed", "Fatima", "Lars", "Ingrid", "Carlos", "Ana", "Tomasz", "Yuki", "Sipho",
    "Dmitri", "Elif", "Noah", "Aisha", "Liam", "Camille", "Giulia", "Pieter", "Siobhán", "Jana",
];
pub const LAST: &[&str] = &[
    "Schmidt",
    "Müller",
    "Dubois",
    "Rossi",
    "García",
    "de Vries",
    "Peeters",
    "Novak",
    "Kowalski",
    "Silva",
    "Murphy",
    "Johansson",
    "Nielsen",
    "Virtanen",
    "Papadopoulos",
    "Ivanov",
    "Yılmaz",
    "Cohen",
    "Khan",
    "Sharma",
    "Wang",
    "Tanaka",
    "Kim",
    "Tan",
    "Nguyen",
    "Santos",
    "López",
    "Okafor",
    "Mwangi",
    "Smith",
];
pub const CITIES: &[&str] = &[
    "Berlin",
    "Paris",
    "Milano",
    "Madrid",
    "Amsterdam",
    "Brussels",
    "Zürich",
    "Wien",
    "Stockholm",
    "Oslo",
    "København",
    "Helsinki",
    "Warszawa",
    "Lisboa",
    "Dublin",
    "Praha",
    "Athens",
    "Moscow",
    "Istanbul",
    "Kyiv",
    "Tel Aviv",
    "Dubai",
    "Riyadh",
    "Mumbai",
    "Karachi",
    "Beijing",
    "Tokyo",
    "Seoul",
    "Singapore",
    "Taipei",
    "Sydney",
    "Auckland",
    "São Paulo",
    "Ciudad de México",
    "Buenos Aires",
    "Bogotá",
    "Santiago",
    "Johannesburg",
    "Lagos",
    "Cairo",
    "Nairobi",
    "Manila",
    "Jakarta",
    "Bangkok",
    "Hanoi",
    "Kuala Lumpur",
    "Toronto",
    "Chicago",
    "London",
];
pub const HOSTS: &[&str] = &[
    "api-7f9c",
    "web-01",
    "worker-3",
    "db.internal",
    "cache-a",
    "edge-fra",
    "gw-eu-west",
    "pbx01",
    "ingest-2",
    "billing-svc",
];
pub const LEVELS: &[&str] = &["INFO", "WARN", "ERROR", "DEBUG"];
pub const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

pub fn name(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(FIRST), rng.pick(LAST))
}

/// Date and time parts: (year, month, day, hour, minute, second).
pub fn datetime(rng: &mut Rng) -> (u64, u64, u64, u64, u64, u64) {
    (
        rng.range(2001, 2029),
        rng.range(1, 12),
        rng.range(1, 28),
        rng.range(0, 23),
        rng.range(0, 59),
        rng.range(0, 59),
    )
}

/// A timestamp in one of the formats logs use.
pub fn timestamp(rng: &mut Rng) -> String {
    let (y, mo, d, h, mi, s) = datetime(rng);
    let ms = rng.range(0, 999);
    let mon = MONTHS[(mo - 1) as usize];
    match rng.below(14) {
        0 => format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
        1 => format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z"),
        2 => format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        3 => format!(
            "{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{}{:02}:{}",
            rng.pick(&["+", "-"]),
            rng.range(0, 11),
            rng.pick(&["00", "30", "45"])
        ),
        4 => format!(
            "{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}{}{:02}:00",
            rng.range(0, 999_999),
            rng.pick(&["+", "-"]),
            rng.range(0, 11)
        ),
        5 => format!("{mon} {d:>2} {h:02}:{mi:02}:{s:02}"),
        6 => format!(
            "[{d:02}/{mon}/{y}:{h:02}:{mi:02}:{s:02} {}{:02}00]",
            rng.pick(&["+", "-"]),
            rng.range(0, 11)
        ),
        7 => format!("{d:02}/{mo:02}/{y} {h:02}:{mi:02}"),
        8 => format!("{d:02}.{mo:02}.{y} {h:02}:{mi:02}:{s:02}"),
        9 => format!("{y}/{mo:02}/{d:02} {h:02}:{mi:02}:{s:02}"),
        10 => format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02},{ms:03}"),
        11 => format!(
            "I{mo:02}{d:02} {h:02}:{mi:02}:{s:02}.{:06}",
            rng.range(0, 999_999)
        ),
        12 => format!("{y}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z"),
        _ => format!("{mo:02}/{d:02}/{y} {h:02}:{mi:02}:{s:02}"),
    }
}

/// A log line prefix: a timestamp, a level, a host or component.
pub fn log_prefix(rng: &mut Rng) -> String {
    format!(
        "{} {} {}:",
        timestamp(rng),
        rng.pick(LEVELS),
        rng.pick(HOSTS)
    )
}
