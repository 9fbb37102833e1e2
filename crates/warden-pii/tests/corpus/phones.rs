//! Phone numbers: libphonenumber's example numbers (from the `phonenumber`
//! crate's metadata) with their last digits randomised, kept only when
//! `phonenumber::is_valid` accepts them, then written in each way people
//! write them.

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber};

use crate::doc::Doc;
use crate::fake;
use crate::rng::Rng;

/// The regions covered: at least one per continent, and every large market.
pub const REGIONS: &[&str] = &[
    "US", "CA", "GB", "DE", "FR", "IT", "ES", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "FI", "PL",
    "PT", "IE", "CZ", "GR", "RU", "TR", "UA", "IL", "AE", "SA", "IN", "PK", "CN", "JP", "KR", "SG",
    "HK", "TW", "AU", "NZ", "BR", "MX", "AR", "CO", "CL", "ZA", "NG", "EG", "KE", "PH", "ID", "TH",
    "VN", "MY",
];

/// Regions whose fixed-line numbers are often written with the area code
/// (and trunk prefix) in parentheses, `(030) 123456`, where libphonenumber's
/// national format does not already do so.
const PAREN_STYLE: &[&str] = &["DE", "AT", "CH", "GB", "AR", "NZ", "IN", "ZA"];

pub const LINES: &[&str] = &["fixed", "mobile"];

#[derive(Clone, Debug)]
pub struct Phone {
    pub region: &'static str,
    pub id: Id,
    pub line: &'static str,
    pub number: PhoneNumber,
}

/// One way of writing a number: `value` is the labelled span; `before` and
/// `after` go around it (`tel:`, an extension).
#[derive(Clone, Debug)]
pub struct Written {
    pub class: &'static str,
    pub before: String,
    pub value: String,
    pub after: String,
}

/// A valid number of `region`'s `line` type ("fixed" or "mobile"): the
/// metadata's example with its last 3-4 digits randomised.
pub fn generate(rng: &mut Rng, region: &'static str, line: &'static str) -> Option<Phone> {
    let meta = DATABASE.by_id(region)?;
    let d = meta.descriptors();
    let desc = if line == "fixed" {
        d.fixed_line()
    } else {
        d.mobile()
    }?;
    let example = desc.example()?;
    let id: Id = region.parse().ok()?;
    for _ in 0..64 {
        let k = rng.int(3, 4).min(example.len() - 2);
        let candidate = format!("{}{}", &example[..example.len() - k], rng.digits(k));
        let Ok(number) = phonenumber::parse(Some(id), &candidate) else {
            continue;
        };
        if phonenumber::is_valid(&number) {
            return Some(Phone {
                region,
                id,
                line,
                number,
            });
        }
    }
    None
}

/// Replaces parentheses and every run of separators with `sep`.
pub fn resep(s: &str, sep: char) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.chars() {
        if matches!(c, ' ' | '-' | '.' | '(' | ')') {
            gap = true;
        } else {
            if gap && !out.is_empty() && !out.ends_with('+') {
                out.push(sep);
            }
            gap = false;
            out.push(c);
        }
    }
    out
}

pub fn fmt(p: &Phone, mode: Mode) -> String {
    p.number.format().mode(mode).to_string()
}

pub fn country_code(p: &Phone) -> u16 {
    p.number.code().value()
}

/// The national significant number's digits.
pub fn nsn(p: &Phone) -> String {
    let e164 = fmt(p, Mode::E164);
    e164[1 + country_code(p).to_string().len()..].to_owned()
}

/// Whether `w` parses to `p`'s number: a check on the corpus's own labels.
/// Numbers are read as written in their own region, except the `00` form,
/// which is how callers abroad write them (the US dials out with `011`), so
/// it is checked as `+`.
pub fn verify(p: &Phone, w: &Written) -> bool {
    match w.value.strip_prefix("00") {
        Some(rest) if w.class == "intl.00" => same_number(p, &format!("+{rest}")),
        _ => same_number(p, &w.value),
    }
}

/// Whether `s`, read as written in `p`'s region, is `p`'s number.
pub fn same_number(p: &Phone, s: &str) -> bool {
    phonenumber::parse(Some(p.id), s).is_ok_and(|n| {
        n.code().value() == p.number.code().value()
            && n.national().value() == p.number.national().value()
            && n.national().zeros() == p.number.national().zeros()
    })
}

fn plain(class: &'static str, value: String) -> Written {
    Written {
        class,
        before: String::new(),
        value,
        after: String::new(),
    }
}

/// Every way of writing `p` that people use, each once.
pub fn written(p: &Phone, rng: &mut Rng) -> Vec<Written> {
    let cc = country_code(p);
    let e164 = fmt(p, Mode::E164);
    let intl = fmt(p, Mode::International);
    let national = fmt(p, Mode::National);
    let nanp = cc == 1;
    let meta = DATABASE.by_id(p.region);
    let trunk0 = meta.and_then(|m| m.national_prefix()) == Some("0");
    let intl_rest = intl
        .strip_prefix(&format!("+{cc} "))
        .unwrap_or(&intl)
        .to_owned();

    let mut out = vec![
        plain("e164", e164.clone()),
        plain("intl", intl.clone()),
        plain("intl.cc-space", format!("+{cc} {}", nsn(p))),
        plain("intl.dash", resep(&intl, '-')),
        plain("intl.dot", resep(&intl, '.')),
        plain("intl.00", format!("00{}", &intl[1..])),
        plain("national", national.clone()),
        plain("national.dash", resep(&national, '-')),
        plain("national.dot", resep(&national, '.')),
    ];
    if nanp {
        out.push(plain("intl.parens", format!("+1 {national}")));
        out.push(plain(
            "national.trunk",
            format!("1-{}", resep(&national, '-')),
        ));
    } else if p.line == "fixed"
        && PAREN_STYLE.contains(&p.region)
        && !national.contains('(')
        && national.starts_with('0')
        && let Some(i) = national.find([' ', '-'])
    {
        out.push(plain(
            "national.parens",
            format!("({}) {}", &national[..i], &national[i + 1..]),
        ));
    }
    // The trunk prefix in parentheses, `+44 (0)20 ...`, where numbers are
    // dialled with it at home (not mobiles in Colombia, say).
    if trunk0 && national.trim_start_matches('(').starts_with('0') {
        out.push(plain("intl.trunk0", format!("+{cc} (0){intl_rest}")));
    }
    let ext_base = rng.pick(&[&intl, &national, &e164]).to_string();
    let ext_len = rng.int(2, 4);
    let ext = format!(
        "{}{}",
        rng.pick(&[" ext. ", " x", " #", " ext ", " Ext. ", ", ext. "]),
        rng.digits(ext_len)
    );
    out.push(Written {
        class: "ext",
        before: String::new(),
        value: ext_base,
        after: ext,
    });
    let rfc = fmt(p, Mode::Rfc3966);
    out.push(Written {
        class: "tel",
        before: "tel:".to_owned(),
        value: rfc.trim_start_matches("tel:").to_owned(),
        after: String::new(),
    });
    // One entry per distinct spelling (a national format without spaces has
    // no dashed variant), and none that is also an IPv4 address (`21.23.41.35`,
    // a Norwegian number with dots): that one is ambiguous, not a phone.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|w| {
        w.value.parse::<std::net::Ipv4Addr>().is_err()
            && seen.insert(format!("{}{}{}", w.before, w.value, w.after))
    });
    out
}

/// Sentences in English and in the languages of the regions, and the
/// structured shapes phone numbers travel in.
const PROSE_EN: &[&str] = &[
    "Hi, please call me back at {v} when you get a chance.",
    "Customer says the SMS never arrived at {v}. Priority P2, see ticket 48213.",
    "Call me at {v}",
    "You can reach our hotline on {v} (Mon-Fri, 9am to 5pm).",
    "Phone: {v}",
    "Mobile: {v}",
    "My new number is {v}, please update the account.",
    "Tel.: {v}",
    "Fax: {v}",
    "WhatsApp me on {v} if the courier is late.",
    "The caller ({v}) asked for a refund of the last invoice.",
    "Best regards,\nJane Roe\nHead of Operations\nPhone {v}\n",
    "Reach me on my cell, {v}, after 6pm.",
];

fn prose_local(region: &str) -> &'static [&'static str] {
    match region {
        "DE" | "AT" | "CH" => &[
            "Telefon: {v}",
            "Bitte rufen Sie mich unter {v} zurück.",
            "Handy: {v}",
            "Tel.: {v}",
            "Mobil: {v}\nMit freundlichen Grüßen",
        ],
        "FR" | "BE" => &[
            "Tél. : {v}",
            "Appelez-moi au {v}, merci.",
            "Téléphone : {v}",
            "Portable : {v}",
        ],
        "ES" | "MX" | "AR" | "CO" | "CL" => &[
            "Teléfono: {v}",
            "Llámame al {v}, por favor.",
            "Celular: {v}",
            "Móvil: {v}",
        ],
        "PT" | "BR" => &["Telefone: {v}", "Me liga no {v}.", "Celular: {v}"],
        "IT" => &["Chiamami al {v}.", "Tel.: {v}", "Cellulare: {v}"],
        "NL" => &["Bel me op {v}.", "Telefoon: {v}", "Mobiel: {v}"],
        "JP" => &[
            "電話: {v}",
            "電話番号：{v}",
            "携帯：{v}までご連絡ください。",
        ],
        "CN" | "TW" | "HK" | "SG" => &["電話: {v}", "手机：{v}", "联系电话：{v}"],
        "KR" => &["전화번호: {v}", "연락처 {v}"],
        "RU" | "UA" => &["Тел.: {v}", "Позвоните мне по номеру {v}."],
        "TR" => &["Telefon numaram {v}", "Tel: {v}"],
        "PL" => &["Tel. kom.: {v}", "Zadzwoń pod {v}."],
        "SE" | "NO" | "DK" => &["Ring mig på {v}.", "Telefon: {v}", "Mobil: {v}"],
        "FI" => &["Puhelin: {v}", "Soita numeroon {v}."],
        "CZ" => &["Telefon: {v}", "Zavolejte mi na {v}."],
        "GR" => &["Τηλ.: {v}"],
        "IL" => &["טלפון: {v}"],
        "AE" | "SA" | "EG" => &["هاتف: {v}", "رقم الجوال: {v}"],
        "TH" => &["โทร: {v}"],
        "VN" => &["Điện thoại: {v}"],
        "ID" | "MY" => &["Telepon: {v}", "No. HP: {v}"],
        _ => PROSE_EN,
    }
}

fn structured(rng: &mut Rng) -> String {
    let name = fake::name(rng);
    let city = rng.pick(fake::CITIES).to_string();
    let id = rng.range(1000, 99_999);
    match rng.below(9) {
        0 => format!("id,name,phone,city\n{id},{name},{{v}},{city}\n"),
        1 => format!("Name;Telefon;Ort\n{name};{{v}};{city}\n"),
        2 => format!(r#"{{"name": "{name}", "phone": "{{v}}", "opt_in": true}}"#),
        3 => format!(r#"{{"customer":{{"id":{id},"mobile":"{{v}}","city":"{city}"}}}}"#),
        4 => format!(
            "{} sms-gateway: message queued to={{v}} segments=2",
            fake::log_prefix(rng)
        ),
        5 => format!(
            "{} pbx01 asterisk[{}]: incoming call from {{v}} on trunk 3",
            fake::timestamp(rng),
            rng.range(100, 9999)
        ),
        6 => format!("contact:\n  name: {name}\n  phone: \"{{v}}\"\n  city: {city}\n"),
        7 => format!("BEGIN:VCARD\nVERSION:3.0\nFN:{name}\nTEL;TYPE=cell:{{v}}\nEND:VCARD\n"),
        _ => format!("| {name} | {{v}} | {city} |"),
    }
}

const TEL_URI: &[&str] = &[
    "<a href=\"{v}\">Call us</a>",
    "TEL;VALUE=uri;TYPE=voice:{v}",
    "{\"contact_uri\": \"{v}\"}",
    "Tap {v} to dial.",
];

/// Four numbers per region and line type, each in every format.
pub fn docs(rng: &mut Rng) -> Vec<Doc> {
    let mut out = Vec::new();
    for region in REGIONS {
        for line in LINES {
            for _ in 0..4 {
                let Some(p) = generate(rng, region, line) else {
                    continue;
                };
                for w in written(&p, rng) {
                    assert!(verify(&p, &w), "{region}: {w:?} is not {:?}", p.number);
                    let template = if w.class == "tel" {
                        rng.pick(TEL_URI).to_string()
                    } else {
                        match rng.below(3) {
                            0 => rng.pick(PROSE_EN).to_string(),
                            1 => rng.pick(prose_local(region)).to_string(),
                            _ => structured(rng),
                        }
                    };
                    let mut d = Doc::new("phone");
                    d.fill(
                        &template,
                        "PHONE_NUMBER",
                        &format!("{}/{region}/{line}", w.class),
                        (&w.before, &w.value, &w.after),
                    );
                    out.push(d);
                }
            }
        }
    }
    out
}
