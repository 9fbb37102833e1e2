//! Connections to upstream model APIs: one pooled HTTP client per connection,
//! the header rules for what crosses Warden, and the first-byte timeout.
//!
//! What the caller sends upstream: method, path below `/v1`, query, body, and
//! its headers except hop-by-hop ones, `Authorization` (replaced by the
//! connection's credential), `Host`, cookies, `OpenAI-Organization`/`-Project`
//! (the credential's own, never the caller's choice), `Accept-Encoding`
//! (Warden reads bodies to record usage, so it asks for them uncompressed),
//! and Warden's own `x-warden-*` headers.

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use secrecy::ExposeSecret;
use warden_config::{ConnectionConfig, UpstreamAuth};

use crate::error::GatewayError;

#[derive(Debug, Clone)]
pub struct Upstream {
    pub config: ConnectionConfig,
    client: reqwest::Client,
    /// The credential header, built once and marked sensitive.
    auth: Option<(HeaderName, HeaderValue)>,
    extra: Vec<(HeaderName, HeaderValue)>,
}

/// Request headers never forwarded upstream.
fn dropped_request_header(name: &HeaderName) -> bool {
    matches!(
        *name,
        header::AUTHORIZATION
            | header::HOST
            | header::CONNECTION
            | header::TE
            | header::TRAILER
            | header::TRANSFER_ENCODING
            | header::UPGRADE
            | header::PROXY_AUTHORIZATION
            | header::COOKIE
            | header::ACCEPT_ENCODING
            | header::CONTENT_LENGTH
    ) || {
        let n = name.as_str();
        n == "keep-alive"
            || n == "proxy-connection"
            || n == "api-key"
            || n == "openai-organization"
            || n == "openai-project"
            || n.starts_with("x-warden-")
    }
}

/// Response headers never passed back to the caller.
pub fn dropped_response_header(name: &HeaderName) -> bool {
    matches!(
        *name,
        header::CONNECTION
            | header::TE
            | header::TRAILER
            | header::TRANSFER_ENCODING
            | header::UPGRADE
            | header::SET_COOKIE
            | header::CONTENT_LENGTH
    ) || name.as_str() == "keep-alive"
}

impl Upstream {
    pub fn new(config: ConnectionConfig) -> Result<Upstream, String> {
        let client = warden_identity::http::client_builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("connection `{}`: {e}", config.name))?;
        let auth = match &config.credential {
            None => None,
            Some(secret) => {
                let (name, value) = match config.auth {
                    UpstreamAuth::Bearer => (
                        header::AUTHORIZATION,
                        format!("Bearer {}", secret.expose_secret()),
                    ),
                    UpstreamAuth::ApiKeyHeader => (
                        HeaderName::from_static("api-key"),
                        secret.expose_secret().to_owned(),
                    ),
                };
                let mut value = HeaderValue::from_str(&value).map_err(|_| {
                    format!(
                        "connection `{}`: the credential ({}) contains characters not allowed in a header",
                        config.name, config.credential_source
                    )
                })?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };
        let extra = config
            .headers
            .iter()
            .map(|(k, v)| {
                let name = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
                    .map_err(|_| format!("connection `{}`: bad header {k}", config.name))?;
                let value = HeaderValue::from_str(v)
                    .map_err(|_| format!("connection `{}`: bad value for {k}", config.name))?;
                Ok((name, value))
            })
            .collect::<Result<_, String>>()?;
        Ok(Upstream {
            config,
            client,
            auth,
            extra,
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether calls can go out (a credential is configured, or none is needed).
    fn ready(&self) -> Result<(), GatewayError> {
        if self.auth.is_none() && self.config.credential_source != "none" {
            return Err(GatewayError::UpstreamUnconfigured(self.config.name.clone()));
        }
        Ok(())
    }

    /// Sends a request and waits for the response head, within the
    /// connection's first-byte timeout. Returns the response and the time
    /// spent waiting for it.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        caller_headers: &HeaderMap,
        content_length: Option<u64>,
        body: reqwest::Body,
        body_limit: u64,
    ) -> Result<(reqwest::Response, Duration), GatewayError> {
        self.ready()?;
        let url = format!("{}{path_and_query}", self.config.base_url);
        let mut headers = HeaderMap::with_capacity(caller_headers.len() + 2);
        // Headers the caller's `Connection` header names are hop-by-hop too.
        let named_hop = |name: &HeaderName| {
            caller_headers
                .get_all(header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|token| token.trim().eq_ignore_ascii_case(name.as_str()))
        };
        for (name, value) in caller_headers {
            if !dropped_request_header(name) && !named_hop(name) {
                headers.append(name, value.clone());
            }
        }
        for (name, value) in &self.extra {
            headers.insert(name, value.clone());
        }
        if let Some((name, value)) = &self.auth {
            headers.insert(name, value.clone());
        }
        if let Some(len) = content_length {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        let request = self.client.request(method, url).headers(headers).body(body);
        let started = Instant::now();
        match tokio::time::timeout(self.config.first_byte_timeout, request.send()).await {
            Err(_) => Err(GatewayError::UpstreamTimeout(self.config.name.clone())),
            Ok(Err(e)) => {
                if e.is_timeout() {
                    return Err(GatewayError::UpstreamTimeout(self.config.name.clone()));
                }
                if is_body_limit(&e) {
                    return Err(GatewayError::BodyTooLarge { limit: body_limit });
                }
                tracing::warn!(connection = %self.config.name, error = %e, "upstream request failed");
                Err(GatewayError::UpstreamUnreachable(self.config.name.clone()))
            }
            Ok(Ok(resp)) => Ok((resp, started.elapsed())),
        }
    }
}

/// Whether a send failed because the caller's streamed body passed the limit.
fn is_body_limit(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// All connections, in config order (routing takes the first match).
#[derive(Debug)]
pub struct Upstreams {
    list: Vec<Upstream>,
}

impl Upstreams {
    pub fn new(configs: &[ConnectionConfig]) -> Result<Upstreams, String> {
        Ok(Upstreams {
            list: configs
                .iter()
                .cloned()
                .map(Upstream::new)
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn for_model(&self, model: &str) -> Option<&Upstream> {
        self.list.iter().find(|u| u.config.models.matches(model))
    }

    pub fn default_upstream(&self) -> Option<&Upstream> {
        self.list
            .iter()
            .find(|u| u.config.default)
            .or(self.list.first())
    }

    pub fn all(&self) -> &[Upstream] {
        &self.list
    }
}
