//! Warden's own `x-ratelimit-*` headers replace the upstream's: those
//! describe the shared upstream key, which says nothing useful to the caller
//! (and something about the account it should not learn).

use http::{HeaderMap, HeaderName, HeaderValue};
use warden_limits::RateHeaders;

pub fn apply(headers: &mut HeaderMap, rate: &RateHeaders) {
    let pairs = rate.pairs();
    if pairs.is_empty() {
        return;
    }
    let stale: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-ratelimit-"))
        .cloned()
        .collect();
    for name in stale {
        headers.remove(name);
    }
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}
