//! The kinds of OpenAI endpoint Warden serves. Each kind is one Cedar action, so
//! a policy can say "interns may embed but not chat" without knowing URL shapes.

use std::fmt;

/// One family of OpenAI API endpoints. The string form is the Cedar action id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    ChatCompletions,
    Completions,
    Responses,
    Embeddings,
    Moderations,
    Models,
    Files,
    Uploads,
    Batches,
    VectorStores,
    Images,
    Audio,
    /// Agent traces sent to Warden (`POST /v1/traces/ingest`).
    Traces,
}

impl EndpointKind {
    /// Every kind, in a stable order (used to build the Cedar action list).
    pub const ALL: [EndpointKind; 13] = [
        EndpointKind::ChatCompletions,
        EndpointKind::Completions,
        EndpointKind::Responses,
        EndpointKind::Embeddings,
        EndpointKind::Moderations,
        EndpointKind::Models,
        EndpointKind::Files,
        EndpointKind::Uploads,
        EndpointKind::Batches,
        EndpointKind::VectorStores,
        EndpointKind::Images,
        EndpointKind::Audio,
        EndpointKind::Traces,
    ];

    /// Stable name: the Cedar action id and the `endpoint` column of records.
    pub const fn as_str(self) -> &'static str {
        match self {
            EndpointKind::ChatCompletions => "chat.completions",
            EndpointKind::Completions => "completions",
            EndpointKind::Responses => "responses",
            EndpointKind::Embeddings => "embeddings",
            EndpointKind::Moderations => "moderations",
            EndpointKind::Models => "models",
            EndpointKind::Files => "files",
            EndpointKind::Uploads => "uploads",
            EndpointKind::Batches => "batches",
            EndpointKind::VectorStores => "vector_stores",
            EndpointKind::Images => "images",
            EndpointKind::Audio => "audio",
            EndpointKind::Traces => "traces",
        }
    }

    /// Parses the stable name back (CLI and config use it).
    pub fn parse(name: &str) -> Option<EndpointKind> {
        EndpointKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether requests of this kind name a model that policy must check.
    /// Model-less kinds (files, batches, ...) are authorized against a connection.
    pub const fn carries_model(self) -> bool {
        match self {
            EndpointKind::ChatCompletions
            | EndpointKind::Completions
            | EndpointKind::Responses
            | EndpointKind::Embeddings
            | EndpointKind::Moderations
            | EndpointKind::Images
            | EndpointKind::Audio => true,
            EndpointKind::Models
            | EndpointKind::Files
            | EndpointKind::Uploads
            | EndpointKind::Batches
            | EndpointKind::VectorStores
            | EndpointKind::Traces => false,
        }
    }
}

impl fmt::Display for EndpointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in EndpointKind::ALL {
            assert_eq!(EndpointKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EndpointKind::parse("chat"), None);
    }
}
