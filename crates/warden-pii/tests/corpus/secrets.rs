//! Secrets: each provider's key format, assigned in every spelling config
//! files and shells use, plus prose, headers and URLs. The label is the
//! value only (not the name, not the quotes).

use base64::Engine as _;

use crate::doc::Doc;
use crate::fake;
use crate::rng::{self, Rng};

/// A secret format: its class, the words of the names it is assigned to,
/// and a generator.
struct Spec {
    class: &'static str,
    names: &'static [&'static [&'static str]],
    make: fn(&mut Rng) -> String,
    /// Whether the value is recognisable on its own (a provider prefix), so
    /// it also goes into prose and headers.
    prefixed: bool,
}

/// `AKIA` and 16 characters of `[A-Z0-9]`; real ids use base32 (`A-Z2-7`).
fn aws_access_key_id(r: &mut Rng) -> String {
    format!("AKIA{}", r.string(rng::BASE32, 16))
}

fn aws_secret(r: &mut Rng) -> String {
    loop {
        let s = r.string(rng::BASE64, 40);
        let b = s.as_bytes();
        if b.iter().any(u8::is_ascii_uppercase)
            && b.iter().any(u8::is_ascii_lowercase)
            && b.iter().any(u8::is_ascii_digit)
        {
            return s;
        }
    }
}

fn github_classic(r: &mut Rng) -> String {
    format!("ghp_{}", r.string(rng::ALNUM, 36))
}

fn github_fine_grained(r: &mut Rng) -> String {
    format!(
        "github_pat_{}_{}",
        r.string(rng::ALNUM, 22),
        r.string(rng::ALNUM, 59)
    )
}

fn gitlab(r: &mut Rng) -> String {
    format!("glpat-{}", r.string(rng::BASE64URL, 20))
}

fn slack(r: &mut Rng) -> String {
    let kind = *r.pick(&["xoxb", "xoxp"]);
    let (a, b) = (r.int(10, 13), r.int(10, 13));
    format!(
        "{kind}-{}-{}-{}",
        r.digits(a),
        r.digits(b),
        r.string(rng::ALNUM, 24)
    )
}

fn openai(r: &mut Rng) -> String {
    if r.chance(1, 4) {
        // The legacy format: 48 characters with `T3BlbkFJ` in the middle.
        format!("sk-{}T3BlbkFJ{}", r.mixed(20), r.mixed(20))
    } else {
        let n = r.int(48, 156);
        format!("sk-proj-{}", r.string(rng::BASE64URL, n))
    }
}

fn anthropic(r: &mut Rng) -> String {
    let n = r.int(80, 93);
    format!("sk-ant-api03-{}AA", r.string(rng::BASE64URL, n))
}

fn google(r: &mut Rng) -> String {
    format!("AIza{}", r.string(rng::BASE64URL, 35))
}

fn stripe(r: &mut Rng) -> String {
    let prefix = *r.pick(&["sk_live_", "sk_test_", "rk_live_"]);
    let n = r.int(24, 99);
    format!("{prefix}{}", r.mixed(n))
}

fn stripe_webhook(r: &mut Rng) -> String {
    format!("whsec_{}", r.mixed(32))
}

fn npm(r: &mut Rng) -> String {
    format!("npm_{}", r.mixed(36))
}

fn pypi(r: &mut Rng) -> String {
    let n = r.int(60, 160);
    format!("pypi-AgEIcHlwaS5vcmc{}", r.string(rng::BASE64URL, n))
}

fn twilio_api_key(r: &mut Rng) -> String {
    format!("SK{}", r.string(rng::HEX, 32))
}

fn twilio_auth_token(r: &mut Rng) -> String {
    r.string(rng::HEX, 32)
}

fn sendgrid(r: &mut Rng) -> String {
    format!(
        "SG.{}.{}",
        r.string(rng::BASE64URL, 22),
        r.string(rng::BASE64URL, 43)
    )
}

fn huggingface(r: &mut Rng) -> String {
    format!("hf_{}", r.mixed(34))
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn jwt(r: &mut Rng) -> String {
    let (alg, sig_len) = *r.pick(&[("HS256", 32), ("RS256", 256), ("ES256", 64)]);
    let header = if r.chance(1, 2) {
        format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#)
    } else {
        format!(
            r#"{{"alg":"{alg}","kid":"{}","typ":"JWT"}}"#,
            r.string(rng::HEX, 16)
        )
    };
    let iat = r.range(1_600_000_000, 1_800_000_000);
    let payload = format!(
        r#"{{"sub":"{}","name":"{}","iat":{iat},"exp":{}}}"#,
        r.digits(10),
        fake::name(r),
        iat + 3600
    );
    let sig = r.bytes(sig_len);
    format!(
        "{}.{}.{}",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes()),
        b64url(&sig)
    )
}

fn password(r: &mut Rng) -> String {
    let n = r.int(20, 40);
    r.mixed(n)
}

fn db_password(r: &mut Rng) -> String {
    r.mixed(12)
}

const SPECS: &[Spec] = &[
    Spec {
        class: "aws_access_key_id",
        names: &[&["aws", "access", "key", "id"], &["aws", "access", "key"]],
        make: aws_access_key_id,
        prefixed: true,
    },
    Spec {
        class: "aws_secret_access_key",
        names: &[
            &["aws", "secret", "access", "key"],
            &["aws", "secret", "key"],
        ],
        make: aws_secret,
        prefixed: false,
    },
    Spec {
        class: "github_classic",
        names: &[&["github", "token"], &["gh", "token"]],
        make: github_classic,
        prefixed: true,
    },
    Spec {
        class: "github_fine_grained",
        names: &[&["github", "token"], &["github", "pat"]],
        make: github_fine_grained,
        prefixed: true,
    },
    Spec {
        class: "gitlab",
        names: &[&["gitlab", "token"], &["gitlab", "private", "token"]],
        make: gitlab,
        prefixed: true,
    },
    Spec {
        class: "slack",
        names: &[&["slack", "bot", "token"], &["slack", "token"]],
        make: slack,
        prefixed: true,
    },
    Spec {
        class: "openai",
        names: &[&["openai", "api", "key"]],
        make: openai,
        prefixed: true,
    },
    Spec {
        class: "anthropic",
        names: &[&["anthropic", "api", "key"]],
        make: anthropic,
        prefixed: true,
    },
    Spec {
        class: "google_api_key",
        names: &[
            &["google", "api", "key"],
            &["gcp", "api", "key"],
            &["maps", "api", "key"],
        ],
        make: google,
        prefixed: true,
    },
    Spec {
        class: "stripe",
        names: &[&["stripe", "secret", "key"], &["stripe", "api", "key"]],
        make: stripe,
        prefixed: true,
    },
    Spec {
        class: "stripe_webhook",
        names: &[&["stripe", "webhook", "secret"]],
        make: stripe_webhook,
        prefixed: true,
    },
    Spec {
        class: "npm",
        names: &[&["npm", "token"]],
        make: npm,
        prefixed: true,
    },
    Spec {
        class: "pypi",
        names: &[&["pypi", "token"], &["twine", "password"]],
        make: pypi,
        prefixed: true,
    },
    Spec {
        class: "twilio_api_key",
        names: &[&["twilio", "api", "key"]],
        make: twilio_api_key,
        prefixed: false,
    },
    Spec {
        class: "twilio_auth_token",
        names: &[&["twilio", "auth", "token"]],
        make: twilio_auth_token,
        prefixed: false,
    },
    Spec {
        class: "sendgrid",
        names: &[&["sendgrid", "api", "key"]],
        make: sendgrid,
        prefixed: true,
    },
    Spec {
        class: "huggingface",
        names: &[&["hf", "token"], &["hugging", "face", "hub", "token"]],
        make: huggingface,
        prefixed: true,
    },
    Spec {
        class: "jwt",
        names: &[&["access", "token"], &["id", "token"], &["jwt"]],
        make: jwt,
        prefixed: true,
    },
    Spec {
        class: "generic",
        names: &[
            &["password"],
            &["api", "key"],
            &["client", "secret"],
            &["secret", "key"],
            &["auth", "token"],
            &["access", "token"],
            &["app", "secret"],
        ],
        make: password,
        prefixed: false,
    },
    Spec {
        class: "db_password",
        names: &[
            &["db", "password"],
            &["database", "password"],
            &["postgres", "password"],
            &["mysql", "root", "password"],
            &["redis", "password"],
        ],
        make: db_password,
        prefixed: false,
    },
];

fn upper_snake(words: &[&str]) -> String {
    words.join("_").to_ascii_uppercase()
}

fn snake(words: &[&str]) -> String {
    words.join("_")
}

fn camel(words: &[&str]) -> String {
    let mut s = String::new();
    for (i, w) in words.iter().enumerate() {
        if i == 0 {
            s.push_str(w);
        } else {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                s.push(f.to_ascii_uppercase());
                s.push_str(c.as_str());
            }
        }
    }
    s
}

/// The assignment spellings: (shape, template with `{n}` for the name).
fn assignment(rng: &mut Rng, words: &[&str]) -> (&'static str, String) {
    let (u, s, c) = (upper_snake(words), snake(words), camel(words));
    let env_before = *rng.pick(&[
        "NODE_ENV=production\n",
        "PORT=8080\n",
        "LOG_LEVEL=info\n",
        "",
    ]);
    let env_after = *rng.pick(&[
        "\nDATABASE_HOST=db.internal\n",
        "\nFEATURE_FLAGS=beta,chat\n",
        "\n",
        "",
    ]);
    let yaml_key = *rng.pick(&["app", "env", "secrets", "credentials"]);
    match rng.below(13) {
        0 => ("env", format!("{env_before}{u}={{v}}{env_after}")),
        1 => (
            "env.dquote",
            format!("{env_before}{u}=\"{{v}}\"{env_after}"),
        ),
        2 => ("env.squote", format!("{u}='{{v}}'")),
        3 => (
            "export",
            format!("#!/bin/sh\nexport {u}={{v}}\nexec ./server\n"),
        ),
        4 => ("export.dquote", format!("export {u}=\"{{v}}\"")),
        5 => ("snake.eq", format!("{s} = \"{{v}}\"")),
        6 => ("snake.eq.bare", format!("[default]\n{s} = {{v}}\n")),
        7 => (
            "yaml",
            format!("{yaml_key}:\n  {s}: {{v}}\n  region: eu-west-1\n"),
        ),
        8 => ("yaml.dquote", format!("{yaml_key}:\n  {s}: \"{{v}}\"\n")),
        9 => ("json", format!("{{\"{s}\": \"{{v}}\", \"debug\": false}}")),
        10 => ("json.camel", format!("{{\n  \"{c}\": \"{{v}}\"\n}}")),
        11 => (
            "js.camel",
            format!("const config = {{\n  {c}: \"{{v}}\",\n  retries: 3,\n}};"),
        ),
        _ => (
            "compose",
            format!("services:\n  app:\n    environment:\n      - {u}={{v}}\n"),
        ),
    }
}

/// Where a value recognisable on its own shows up outside assignments.
const PROSE: &[&str] = &[
    "here is my token {v} can you check why it returns 401?",
    "Authorization: Bearer {v}",
    "curl -H \"Authorization: Bearer {v}\" https://api.example.com/v1/models",
    "I accidentally pasted {v} in the channel, rotating now.",
    "the key is {v}",
];

const AWS_SECRET_PROSE: &[&str] = &[
    "the secret is {v}",
    "secret key: {v}",
    "AWS secret: {v}",
    "[default]\nregion = us-east-1\naws_secret_access_key = {v}\n",
    "Here are the creds, secret key {v} (rotate after use)",
];

fn labelled_doc(template: &str, class: &str, value: &str) -> Doc {
    Doc::labelled("secret", template, "SECRET", class, value)
}

/// A PEM private key block: the label covers it from `-----BEGIN` to the
/// end of the `-----END ...-----` line.
fn pem(rng: &mut Rng) -> String {
    let kind = *rng.pick(&[
        "RSA PRIVATE KEY",
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ]);
    let n = rng.int(120, 600);
    let body = base64::engine::general_purpose::STANDARD.encode(rng.bytes(n));
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {kind}-----\n{}\n-----END {kind}-----",
        lines.join("\n")
    )
}

fn azure(rng: &mut Rng) -> (String, String) {
    let key = format!("{}==", rng.string(rng::BASE64, 86));
    let n = rng.int(5, 12);
    let account = format!("{}{}", rng.string(rng::LOWER, n), rng.digits(2));
    (account, key)
}

fn db_url(rng: &mut Rng) -> (String, String, String) {
    let password = {
        let n = rng.int(12, 24);
        rng.mixed(n)
    };
    let user = *rng.pick(&["app", "admin", "postgres", "svc_billing", "root", "default"]);
    let (scheme, host, tail) = *rng.pick(&[
        ("postgres", "db.internal", ":5432/app"),
        (
            "postgresql",
            "pg-primary.prod.svc.cluster.local",
            ":5432/orders?sslmode=require",
        ),
        ("mysql", "mysql.internal", ":3306/shop"),
        (
            "mongodb+srv",
            "cluster0.abcde.mongodb.net",
            "/test?retryWrites=true&w=majority",
        ),
        ("redis", "cache.internal", ":6379/0"),
        ("amqp", "rabbit.internal", ":5672/%2f"),
    ]);
    let before = format!("{scheme}://{user}:");
    let after = format!("@{host}{tail}");
    (before, password, after)
}

pub fn docs(rng: &mut Rng) -> Vec<Doc> {
    let mut out = Vec::new();
    for spec in SPECS {
        for i in 0..70 {
            let value = (spec.make)(rng);
            let words = *rng.pick(spec.names);
            let prose = (spec.prefixed && i % 5 == 4)
                || (spec.class == "aws_secret_access_key" && i % 4 == 3);
            if prose {
                let pool = if spec.prefixed {
                    PROSE
                } else {
                    AWS_SECRET_PROSE
                };
                let template = rng.pick(pool);
                out.push(labelled_doc(
                    template,
                    &format!("{}/prose", spec.class),
                    &value,
                ));
            } else {
                let (shape, template) = assignment(rng, words);
                out.push(labelled_doc(
                    &template,
                    &format!("{}/{shape}", spec.class),
                    &value,
                ));
            }
        }
    }
    // Library- and tool-specific places.
    for _ in 0..15 {
        let v = npm(rng);
        out.push(labelled_doc(
            "//registry.npmjs.org/:_authToken={v}\n",
            "npm/npmrc",
            &v,
        ));
        let v = pypi(rng);
        out.push(labelled_doc(
            "[pypi]\n  username = __token__\n  password = {v}\n",
            "pypi/pypirc",
            &v,
        ));
    }
    // Azure storage connection strings: the account key is the secret.
    for i in 0..70 {
        let (account, key) = azure(rng);
        let conn_before =
            format!("DefaultEndpointsProtocol=https;AccountName={account};AccountKey=");
        let conn_after = ";EndpointSuffix=core.windows.net";
        let template = match i % 4 {
            0 => "AZURE_STORAGE_CONNECTION_STRING=\"{v}\"",
            1 => "{\"ConnectionStrings\": {\"Storage\": \"{v}\"}}",
            2 => "storage:\n  connection_string: {v}\n",
            _ => "use this conn string: {v}",
        };
        let mut d = Doc::new("secret");
        d.fill(
            template,
            "SECRET",
            "azure_storage_key",
            (&conn_before, &key, conn_after),
        );
        out.push(d);
    }
    // Database URLs: the password is the secret.
    for i in 0..90 {
        let (before, password, after) = db_url(rng);
        let template = match i % 5 {
            0 => "DATABASE_URL={v}",
            1 => "export DATABASE_URL=\"{v}\"",
            2 => "db:\n  url: {v}\n",
            3 => "{\"dsn\": \"{v}\"}",
            _ => "connect with {v} and run the migration",
        };
        let mut d = Doc::new("secret");
        d.fill(
            template,
            "SECRET",
            &format!("db_url/{}", before.split(':').next().unwrap_or("")),
            (&before, &password, &after),
        );
        out.push(d);
    }
    // PEM private keys, as files and inside JSON strings.
    for i in 0..60 {
        let key = pem(rng);
        if i % 3 == 2 {
            let escaped = key.replace('\n', "\\n");
            let template = "{\"type\": \"service_account\", \"project_id\": \"demo-project\", \"private_key\": \"{v}\\n\"}";
            out.push(labelled_doc(template, "pem/json", &escaped));
        } else {
            let template = *rng.pick(&[
                "{v}\n",
                "Here is the deploy key:\n\n{v}\n\nthanks",
                "id_ed25519 (do not share):\n{v}\n",
            ]);
            out.push(labelled_doc(template, "pem/file", &key));
        }
    }
    out
}
