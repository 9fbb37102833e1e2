//! The external analyzer: Microsoft Presidio's analyzer REST API, asked for
//! the entity types Warden's own detectors cannot find (names, places), for
//! callers whose masking profile names them.
//!
//! This module owns the HTTP side only: one pooled client, one
//! `POST {url}/analyze` per non-empty text (`{"text","language","entities",
//! "score_threshold"}`, answered with `[{"entity_type","start","end","score"}]`),
//! at most [`CONCURRENCY`] in flight, and one deadline over the whole step.
//! Presidio counts offsets in code points (Python `str` indices); they are
//! returned as such, and `warden_pii::mask::External::from_code_points`
//! turns them into byte offsets against the same text. What to do when the
//! analyzer fails (refuse, or mask without it) is `inspect.rs`'s decision.
//!
//! Errors never carry the text or the analyzer's answer: only what went wrong.

use std::time::Duration;

use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use warden_config::AnalyzerConfig;

/// Texts analyzed at once for one request. A chat history can hold hundreds
/// of messages; sending them all at once would queue them in Presidio anyway
/// (its workers are few) and hit it harder than one request deserves.
pub const CONCURRENCY: usize = 8;

#[derive(Debug)]
pub struct Analyzer {
    config: AnalyzerConfig,
    /// `{url}/analyze`.
    endpoint: String,
    client: reqwest::Client,
}

/// One finding, in code points of the text it was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    /// One of the entity types that were asked for.
    pub entity: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    #[error("the analyzer did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the analyzer could not be reached: {0}")]
    Unreachable(reqwest::Error),
    #[error("the analyzer answered with status {0}")]
    Status(u16),
    #[error("the analyzer's answer is not a list of findings")]
    BadAnswer,
}

#[derive(Serialize)]
struct AnalyzeRequest<'a> {
    text: &'a str,
    language: &'a str,
    entities: &'a [&'static str],
    score_threshold: f64,
}

/// Presidio sends more (`analysis_explanation`, `recognition_metadata`);
/// only these are read.
#[derive(Deserialize)]
struct Found {
    entity_type: String,
    start: usize,
    end: usize,
    score: f64,
}

impl Analyzer {
    pub fn new(config: &AnalyzerConfig) -> Result<Analyzer, String> {
        let client = warden_identity::http::client_builder()
            .connect_timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("pii.analyzer: {e}"))?;
        Ok(Analyzer {
            endpoint: format!("{}/analyze", config.url),
            config: config.clone(),
            client,
        })
    }

    pub fn config(&self) -> &AnalyzerConfig {
        &self.config
    }

    /// Findings of the `entities` types in each text, in the texts' order.
    /// Empty texts are not sent. Fails as a whole: any text that cannot be
    /// analyzed, or the deadline passing, fails the lot.
    pub async fn analyze(
        &self,
        texts: &[String],
        entities: &[&'static str],
    ) -> Result<Vec<Vec<Span>>, AnalyzerError> {
        // The futures are made first: a closure inside the stream would make
        // the request future not provably `Send` (rustc's higher-ranked
        // lifetime limitation with borrowed stream items).
        let calls: Vec<_> = texts.iter().map(|text| self.one(text, entities)).collect();
        let work = futures_util::stream::iter(calls)
            .buffered(CONCURRENCY)
            .try_collect();
        tokio::time::timeout(self.config.timeout, work)
            .await
            .map_err(|_| AnalyzerError::Timeout(self.config.timeout))?
    }

    async fn one(&self, text: &str, entities: &[&'static str]) -> Result<Vec<Span>, AnalyzerError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let response = self
            .client
            .post(&self.endpoint)
            .json(&AnalyzeRequest {
                text,
                language: &self.config.language,
                entities,
                score_threshold: self.config.score_threshold,
            })
            .send()
            .await
            .map_err(AnalyzerError::Unreachable)?;
        if !response.status().is_success() {
            return Err(AnalyzerError::Status(response.status().as_u16()));
        }
        let found: Vec<Found> = response
            .json()
            .await
            .map_err(|_| AnalyzerError::BadAnswer)?;
        // Types not asked for are dropped (and a name from the answer is
        // mapped back to the configured, interned one).
        Ok(found
            .into_iter()
            .filter(|f| f.score >= self.config.score_threshold)
            .filter_map(|f| {
                let entity = *entities.iter().find(|e| **e == f.entity_type)?;
                Some(Span {
                    start: f.start,
                    end: f.end,
                    entity,
                })
            })
            .collect())
    }
}
