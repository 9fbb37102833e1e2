//! Hard negatives: numeric and technical strings that look like phones,
//! cards, SSNs, IPs or secrets but are none of them. None may be flagged.

use base64::Engine as _;

use crate::doc::Doc;
use crate::fake;
use crate::numbers::luhn_ok;
use crate::rng::{self, Rng};

fn ts_line(r: &mut Rng) -> String {
    let msg = *r.pick(&[
        "request completed in 123ms",
        "GC pause 12.3ms, heap 512MiB -> 301MiB",
        "retrying in 30s (attempt 3/5)",
        "listening on :8080",
        "flushed 2048 rows to segment 17",
        "worker started, pid 48213",
        "cache hit ratio 0.973 over 10000 lookups",
        "shutting down after 86400s uptime",
    ]);
    let ts = fake::timestamp(r);
    match r.below(6) {
        0 => format!(
            "{ts} {} {}: {msg}",
            r.pick(fake::LEVELS),
            r.pick(fake::HOSTS)
        ),
        1 => format!("{ts} {msg}"),
        2 => format!("[{ts}] {} {msg}", r.pick(fake::LEVELS)),
        3 => format!(
            "The outage started at {ts} and ended at {}.",
            fake::timestamp(r)
        ),
        4 => format!("{{\"time\": \"{ts}\", \"level\": \"info\", \"msg\": \"{msg}\"}}"),
        _ => format!("{ts}   {}  {msg}", r.range(1, 99_999)),
    }
}

fn epoch(r: &mut Rng) -> String {
    let s = r.range(1_000_000_000, 1_999_999_999);
    let ms = s * 1000 + r.range(0, 999);
    match r.below(6) {
        0 => format!("ts={s} level=info msg=\"flush complete\""),
        1 => format!("epoch_ms={ms} event=login_ok"),
        2 => format!(
            "{{\"created\": {s}, \"updated\": {}}}",
            s + r.range(1, 5000)
        ),
        3 => format!("timestamp: {ms}"),
        4 => format!("time={s}.{:06}", r.range(0, 999_999)),
        _ => format!("last_seen_at={ms}"),
    }
}

fn date(r: &mut Rng) -> String {
    let (y, mo, d, _, _, _) = fake::datetime(r);
    let mon = fake::MONTHS[(mo - 1) as usize];
    match r.below(9) {
        0 => format!("Due date: {y}-{mo:02}-{d:02}"),
        1 => format!("Rechnungsdatum: {d:02}.{mo:02}.{y}"),
        2 => format!("Delivered on {d:02}/{mo:02}/{y}."),
        3 => format!("{mon} {d}, {y}"),
        4 => format!("{y}年{mo}月{d}日"),
        5 => format!("Q{} {y} results", (mo - 1) / 3 + 1),
        6 => format!("valid {mo:02}/{d:02}/{y} - {:02}/{d:02}/{}", mo, y + 1),
        7 => format!("week {}/{y}", r.range(1, 52)),
        _ => format!("{d:02}-{mo:02}-{y}"),
    }
}

fn amount(r: &mut Rng) -> String {
    let whole = r.range(1000, 9_999_999);
    let cents = r.range(0, 99);
    let us = group3(whole, ",");
    let eu = group3(whole, ".");
    let fr = group3(whole, " ");
    match r.below(9) {
        0 => format!("Total: ${us}.{cents:02}"),
        1 => format!("Betrag: {eu},{cents:02} €"),
        2 => format!("Montant : {fr},{cents:02} €"),
        3 => format!("USD {us}.{cents:02} due by Friday"),
        4 => format!("¥{us}"),
        5 => format!("£{us}.{cents:02} incl. VAT"),
        6 => format!("CHF {}.{cents:02}", group3(whole, "'")),
        7 => format!("R$ {eu},{cents:02}"),
        _ => format!("refund of {us}.{cents:02} EUR processed"),
    }
}

fn group3(n: u64, sep: &str) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

fn version(r: &mut Rng) -> String {
    let (a, b, c) = (r.range(0, 30), r.range(0, 40), r.range(0, 300));
    match r.below(10) {
        0 => format!("upgraded to {a}.{b}.{c}"),
        1 => format!(
            "Windows v10.0.{}.{}",
            r.range(10_000, 22_999),
            r.range(1, 4000)
        ),
        2 => format!("release {a}.{b}.{c}-rc.{}", r.range(1, 9)),
        3 => format!("{a}.{b}.{c}-beta+exp.sha.{}", r.string(rng::HEX, 7)),
        4 => format!(
            "Python {}.{}.{}",
            r.range(2, 3),
            r.range(6, 13),
            r.range(0, 20)
        ),
        5 => format!(
            "kernel {}.{}.0-{}-azure",
            r.range(4, 6),
            r.range(0, 19),
            r.range(1000, 1099)
        ),
        6 => format!(
            "Chrome/{}.0.{}.{}",
            r.range(90, 130),
            r.range(4000, 6999),
            r.range(1, 299)
        ),
        7 => format!(
            "node v{}.{}.{}",
            r.range(12, 22),
            r.range(0, 20),
            r.range(0, 9)
        ),
        8 => format!(
            "build {}.{:02}.{:02}.{}",
            r.range(2001, 2029),
            r.range(1, 12),
            r.range(1, 28),
            r.range(1, 9)
        ),
        _ => format!("go{}.{}.{}", 1, r.range(10, 23), r.range(0, 9)),
    }
}

fn uuid(r: &mut Rng) -> String {
    let h = r.string(rng::HEX, 32);
    let u = format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..]
    );
    match r.below(4) {
        0 => format!("trace_id={u} span=ok"),
        1 => format!("{{\"id\": \"{u}\", \"status\": \"done\"}}"),
        2 => format!("Request {u} failed, retrying"),
        _ => u.to_ascii_uppercase(),
    }
}

fn hash(r: &mut Rng) -> String {
    match r.below(8) {
        0 => format!("commit {}", r.string(rng::HEX, 7)),
        1 => format!(
            "commit {}\nAuthor: Jane Roe\nDate:   Mon Oct 9 10:12:44 2023 +0200",
            r.string(rng::HEX, 40)
        ),
        2 => format!("image@sha256:{}", r.string(rng::HEX, 64)),
        3 => format!("ETag: \"{}\"", r.string(rng::HEX, 32)),
        4 => format!("{}  release.tar.gz", r.string(rng::HEX, 32)),
        5 => format!("sha1: {}", r.string(rng::HEX, 40)),
        6 => format!(
            "Merge pull request #{} from org/feature ({})",
            r.range(100, 9999),
            r.string(rng::HEX, 7)
        ),
        _ => format!("{{\"checksum\": \"{}\"}}", r.string(rng::HEX, 64)),
    }
}

fn blob(r: &mut Rng) -> String {
    let n = r.int(24, 120);
    let b = base64::engine::general_purpose::STANDARD.encode(r.bytes(n));
    match r.below(4) {
        0 => format!("<img src=\"data:image/png;base64,{b}\">"),
        1 => format!(
            "<script src=\"app.js\" integrity=\"sha384-{}\"></script>",
            base64::engine::general_purpose::STANDARD.encode(r.bytes(48))
        ),
        2 => format!(
            "Content-MD5: {}",
            base64::engine::general_purpose::STANDARD.encode(r.bytes(16))
        ),
        _ => format!("{{\"thumbnail\": \"{b}\"}}"),
    }
}

fn order(r: &mut Rng) -> String {
    match r.below(8) {
        0 => format!("ORD-{}-{}", r.range(2015, 2029), r.digits(6)),
        1 => format!(
            "Your order #{} has shipped.",
            r.range(10_000_000, 99_999_999)
        ),
        2 => format!("order {} confirmed", r.range(100_000_000, 999_999_999)),
        3 => format!("PO-45000{}", r.digits(5)),
        4 => format!("invoice INV-{:06}", r.range(1, 999_999)),
        5 => format!("Case {:08}", r.range(1, 99_999_999)),
        6 => format!("ticket #{}", r.range(1_000_000, 9_999_999)),
        _ => format!("RMA {}-{}", r.digits(4), r.digits(6)),
    }
}

fn tracking(r: &mut Rng) -> String {
    match r.below(5) {
        0 => format!(
            "UPS 1Z{}{}{}",
            r.string(rng::UPPER_ALNUM, 6),
            r.digits(2),
            r.digits(8)
        ),
        1 => format!("FedEx tracking 7{}", r.digits(11)),
        2 => format!("USPS tracking 9400{}", r.digits(18)),
        3 => {
            let d = format!("9205{}", r.digits(18));
            let groups: Vec<&str> = d
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect();
            format!("Tracking number: {}", groups.join(" "))
        }
        _ => format!("DHL waybill {}", r.digits(10)),
    }
}

fn isbn(r: &mut Rng) -> String {
    if r.chance(1, 3) {
        // ISBN-10: weights 10..2, check mod 11.
        let d = r.digits(9);
        let sum: u32 = d
            .chars()
            .zip((2..=10).rev())
            .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
            .sum();
        let check = (11 - sum % 11) % 11;
        let c = if check == 10 {
            "X".to_owned()
        } else {
            check.to_string()
        };
        return format!("ISBN {}-{}-{}-{c}", &d[..1], &d[1..4], &d[4..]);
    }
    let d = format!("978{}", r.digits(9));
    let sum: u32 = d
        .chars()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).unwrap_or(0) * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    let check = (10 - sum % 10) % 10;
    if r.chance(1, 2) {
        format!(
            "ISBN {}-{}-{}-{}-{check}",
            &d[..3],
            &d[3..4],
            &d[4..6],
            &d[6..]
        )
    } else {
        format!("ISBN-13: {d}{check}")
    }
}

fn ip_like(r: &mut Rng) -> String {
    match r.below(5) {
        0 => format!(
            "{}.{}.{}.{}",
            r.range(256, 999),
            r.range(256, 999),
            r.range(256, 999),
            r.range(256, 999)
        ),
        1 => format!(
            "version {}.{}.{}.{}.{}",
            r.range(1, 9),
            r.range(0, 9),
            r.range(0, 9),
            r.range(0, 9),
            r.range(0, 9)
        ),
        2 => format!("OID 1.3.6.1.4.1.{}.{}", r.range(1, 60_000), r.range(1, 9)),
        3 => format!(
            "section {}.{}.{} of the spec",
            r.range(1, 12),
            r.range(1, 9),
            r.range(1, 9)
        ),
        _ => format!(
            "v{}.{}.{}.{}",
            r.range(1, 9),
            r.range(0, 9),
            r.range(0, 99),
            r.range(0, 999)
        ),
    }
}

/// A valid ABA routing number (weights 3, 7, 1; a Federal Reserve prefix).
fn aba(r: &mut Rng) -> String {
    loop {
        let d = format!("{:02}{}", r.range(1, 12), r.digits(7));
        let w = [3, 7, 1, 3, 7, 1, 3, 7, 1];
        let sum: u32 = d
            .chars()
            .zip(w)
            .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
            .sum();
        if sum.is_multiple_of(10) {
            return d;
        }
    }
}

fn nine_digits(r: &mut Rng) -> String {
    if r.chance(1, 10) {
        return format!("ABA routing number {}", aba(r));
    }
    let n = r.digits(9);
    let t = *r.pick(&[
        "invoice {v}",
        "customer id {v}",
        "count={v}",
        "ref: {v}",
        "Case #{v}",
        "read {v} bytes",
        "{\"order_id\": \"{v}\"}",
        "member no. {v}",
        "Pedido {v} enviado",
    ]);
    t.replacen("{v}", &n, 1)
}

fn ten_digits(r: &mut Rng) -> String {
    match r.below(10) {
        0 => format!(
            "build {}{:02}{:02}{:02}",
            r.range(2015, 2029),
            r.range(1, 12),
            r.range(1, 28),
            r.range(0, 23)
        ),
        1 => format!("snapshot {}", r.digits(10)),
        2 => format!("seq={} ack={}", r.digits(10), r.digits(10)),
        3 => {
            let first = r.range(10, 89);
            format!("see page {first}-{}", first + r.range(1, 10))
        }
        4 => format!("pages {}-{}", r.range(100, 1999), r.range(2000, 2999)),
        5 => format!("ZIP {}-{}", r.digits(5), r.digits(4)),
        6 => format!("lot {}-{}-{}", r.digits(2), r.digits(2), r.digits(2)),
        7 => format!(
            "The match ended {}-{} after extra time.",
            r.range(0, 5),
            r.range(0, 5)
        ),
        8 => format!("offset {} of partition {}", r.digits(10), r.range(0, 63)),
        _ => format!("job run {} finished", r.digits(10)),
    }
}

fn counts(r: &mut Rng) -> String {
    match r.below(8) {
        0 => format!("listening on port {}", r.range(1024, 65_535)),
        1 => format!(
            "processed {} rows in {}.{}s",
            r.range(1000, 99_999_999),
            r.range(1, 999),
            r.range(0, 9)
        ),
        2 => format!("connect to localhost:{}", r.range(1024, 65_535)),
        3 => format!("{} errors, {} warnings", r.range(0, 99), r.range(0, 999)),
        4 => format!("HTTP/1.1 200 OK\nContent-Length: {}", r.range(1, 9_999_999)),
        5 => format!(
            "memory {} MiB of {} MiB",
            r.range(100, 65_536),
            r.range(65_536, 262_144)
        ),
        6 => format!("{} bytes", group3(r.range(1_000_000, 999_999_999), " ")),
        _ => format!(
            "{} requests/s over {} connections",
            r.range(100, 99_999),
            r.range(1, 9999)
        ),
    }
}

fn json_ids(r: &mut Rng) -> String {
    match r.below(4) {
        0 => format!(
            "{{\"id\": {}, \"parent_id\": {}, \"count\": {}}}",
            r.range(1_000_000_000, 9_999_999_999),
            r.range(1_000_000_000, 9_999_999_999),
            r.range(0, 999)
        ),
        1 => format!(
            "{{\"user_id\": {}, \"score\": {}}}",
            r.range(1_000_000_000, 9_999_999_999),
            r.range(0, 100)
        ),
        2 => format!(
            "[{}, {}, {}]",
            r.range(100_000_000, 999_999_999),
            r.range(100_000_000, 999_999_999),
            r.range(100_000_000, 999_999_999)
        ),
        _ => format!(
            "{{\"message_id\": \"{}\", \"chat_id\": {}}}",
            r.digits(12),
            r.range(1_000_000_000, 9_999_999_999)
        ),
    }
}

fn coords(r: &mut Rng) -> String {
    let lat = format!("{}.{:04}", r.range(0, 89), r.range(0, 9999));
    let lon = format!("{}.{:04}", r.range(0, 179), r.range(0, 9999));
    let neg = *r.pick(&["", "-"]);
    match r.below(4) {
        0 => format!("{lat}, {neg}{lon}"),
        1 => format!("lat={neg}{lat}&lon={lon}"),
        2 => format!("({neg}{lat}, {lon})"),
        _ => format!("geo:{lat},{neg}{lon}"),
    }
}

fn placeholder(r: &mut Rng) -> String {
    r.pick(&[
        "password=${DB_PASSWORD}",
        "api_key: <your-api-key>",
        "token: \"********\"",
        "PASSWORD=",
        "client_secret: YOUR_CLIENT_SECRET",
        "api_key = os.environ[\"OPENAI_API_KEY\"]",
        "password: {{ .Values.db.password }}",
        "secret_key = settings.SECRET_KEY",
        "export GITHUB_TOKEN=$(cat ~/.github-token)",
        "AWS_SECRET_ACCESS_KEY=${{ secrets.AWS_SECRET_ACCESS_KEY }}",
        "\"apiKey\": process.env.STRIPE_KEY,",
        "token: null",
        "password = \"\"",
    ])
    .to_string()
}

fn code(r: &mut Rng) -> String {
    match r.below(8) {
        0 => format!(
            "let timeout = Duration::from_millis({});",
            r.range(1000, 99_999)
        ),
        1 => format!("for i in range({}):", r.range(10, 10_000_000)),
        2 => format!("segfault at 0x{}", r.string(rng::HEX, 12)),
        3 => format!("color: #{};", r.string(rng::HEX, 6)),
        4 => format!(
            "rgba({}, {}, {}, 0.{})",
            r.range(0, 255),
            r.range(0, 255),
            r.range(0, 255),
            r.range(1, 9)
        ),
        5 => format!(
            "x = {} * {} + {}",
            r.range(1, 9999),
            r.range(1, 9999),
            r.range(1, 9999)
        ),
        6 => format!(
            "model = \"gpt-4o-{}-{:02}-{:02}\"",
            r.range(2023, 2026),
            r.range(1, 12),
            r.range(1, 28)
        ),
        _ => format!("assert_eq!(hash(x), 0x{}u64);", r.string(rng::HEX, 16)),
    }
}

/// Card-length digit runs that fail Luhn, in card-like contexts: they must
/// not be reported as cards (nor anything else).
fn bad_luhn(r: &mut Rng) -> String {
    loop {
        let d = format!("4{}", r.digits(15));
        if !luhn_ok(&d) {
            return format!("reference {}", d);
        }
    }
}

type Gen = fn(&mut Rng) -> String;

/// (section, how many, generator).
const SECTIONS: &[(&str, usize, Gen)] = &[
    ("timestamp", 600, ts_line),
    ("epoch", 150, epoch),
    ("date", 200, date),
    ("amount", 250, amount),
    ("version", 250, version),
    ("uuid", 150, uuid),
    ("hash", 250, hash),
    ("base64", 150, blob),
    ("order", 200, order),
    ("tracking", 200, tracking),
    ("isbn", 100, isbn),
    ("ip-like", 150, ip_like),
    ("nine-digits", 250, nine_digits),
    ("ten-digits", 250, ten_digits),
    ("counts", 150, counts),
    ("json-ids", 150, json_ids),
    ("coordinates", 150, coords),
    ("placeholder", 60, placeholder),
    ("code", 150, code),
    ("bad-luhn", 60, bad_luhn),
];

pub fn docs(rng: &Rng) -> Vec<Doc> {
    let mut out = Vec::new();
    for &(section, n, make) in SECTIONS {
        let mut r = rng.fork(section);
        for _ in 0..n {
            let mut d = Doc::new(section);
            d.text(&make(&mut r));
            out.push(d);
        }
    }
    out
}
