//! One way to build outgoing HTTPS clients (JWKS fetches here, upstream calls
//! in the gateway): rustls with the `ring` provider and the platform verifier.

use std::sync::Once;

/// A reqwest builder with Warden's TLS choices. Safe to call many times.
pub fn client_builder() -> reqwest::ClientBuilder {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Another component may have installed one first; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .no_proxy()
        .user_agent(concat!("warden/", env!("CARGO_PKG_VERSION")))
}
