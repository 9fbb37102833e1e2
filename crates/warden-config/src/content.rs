//! Content rules: refuse a request by its text, its tools or its output cap.
//!
//! A rule's terms are folded at load (`warden_core::text`, [`Fold::Terms`])
//! and searched with one Aho-Corasick automaton over the request's folded
//! text ([`RuleText`]); its patterns run on the original texts and on the
//! lightly folded ones. Tool checks read the one normalised tool list
//! (`warden_core::tools`), whatever field the request named a tool in.

use aho_corasick::AhoCorasick;
use warden_core::text::{Fold, fold};
use warden_core::tools::{McpServer, Tools};
use warden_core::wildcard::wildcard_match;

/// Content rules: refuse requests by their text, tools or output cap.
#[derive(Debug, Clone, Default)]
pub struct ContentConfig {
    pub rules: Vec<ContentRule>,
}

impl ContentConfig {
    pub fn rules_for(&self, groups: &[String]) -> Vec<&ContentRule> {
        self.rules.iter().filter(|r| r.applies_to(groups)).collect()
    }
}

#[derive(Debug, Clone)]
pub struct ContentRule {
    pub id: String,
    pub groups: Option<Vec<String>>,
    /// Folded ([`Fold::Terms`]).
    pub deny_terms: Vec<String>,
    /// The folded terms, searched at once.
    pub(crate) terms: Option<AhoCorasick>,
    pub deny_patterns: Option<regex::RegexSet>,
    /// Lower case; `*` wildcards.
    pub deny_tools: Vec<String>,
    pub allow_tools: Option<Vec<String>>,
    /// When set, a tool of any other type is refused (types Warden does not
    /// know included: fail closed).
    pub allow_tool_types: Option<Vec<String>>,
    /// Hosted MCP servers this rule allows; a hosted MCP tool no applicable
    /// rule allows is refused.
    pub allow_mcp_servers: Vec<McpAllow>,
    pub max_output_tokens: Option<u64>,
}

/// How a rule names a hosted MCP server it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpAllow {
    /// `https://host[:port]/path`: a `server_url` on that origin, at that
    /// path or below it (at a `/` boundary).
    Url {
        scheme: String,
        host: String,
        port: Option<u16>,
        path: String,
    },
    /// A label (folded): allows a server the request names by label alone
    /// (a connector, or a tool choice naming a label). A label never allows
    /// a `server_url`: the caller picks labels, so a label cannot vouch for
    /// where a URL points.
    Label(String),
}

impl McpAllow {
    /// Parses a rule entry: a URL when it has `://`, else a label.
    pub fn parse(entry: &str) -> Result<McpAllow, String> {
        if !entry.contains("://") {
            let label = fold(entry, Fold::Names);
            if label.is_empty() {
                return Err("an MCP server label must not be empty".into());
            }
            return Ok(McpAllow::Label(label));
        }
        let url = url::Url::parse(entry).map_err(|e| format!("`{entry}`: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("`{entry}`: only http and https URLs"));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(format!(
                "`{entry}`: a server URL prefix has no query, fragment or user"
            ));
        }
        let Some(host) = url.host_str() else {
            return Err(format!("`{entry}`: no host"));
        };
        Ok(McpAllow::Url {
            scheme: url.scheme().to_owned(),
            host: host.to_owned(),
            port: url.port_or_known_default(),
            path: url.path().to_owned(),
        })
    }

    /// Whether this entry allows `server`.
    pub fn allows(&self, server: &McpServer) -> bool {
        match self {
            McpAllow::Label(label) => {
                server.url.is_none()
                    && (server.label.as_deref() == Some(label.as_str())
                        || server
                            .connector
                            .as_deref()
                            .is_some_and(|c| fold(c, Fold::Names) == *label))
            }
            McpAllow::Url {
                scheme,
                host,
                port,
                path,
            } => {
                let Some(Ok(url)) = server.url.as_deref().map(url::Url::parse) else {
                    return false;
                };
                url.scheme() == scheme
                    && url.host_str() == Some(host.as_str())
                    && url.port_or_known_default() == *port
                    && url.username().is_empty()
                    && url.password().is_none()
                    && under(url.path(), path)
            }
        }
    }
}

/// `path` is `prefix` or below it at a segment boundary.
fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A request's text, folded once for every rule: the texts the model reads
/// as the conversation joined end to end (a term split across two messages
/// is found), then every other string and key of the body, each on its own.
#[derive(Debug)]
pub struct RuleText {
    pub terms: String,
    pub patterns: String,
}

impl ContentRule {
    pub fn applies_to(&self, groups: &[String]) -> bool {
        self.groups
            .as_ref()
            .is_none_or(|gs| gs.iter().any(|g| groups.contains(g)))
    }

    /// Whether the rule reads the request's text (so the body must be readable).
    pub fn reads_text(&self) -> bool {
        !self.deny_terms.is_empty() || self.deny_patterns.is_some()
    }

    /// The first tool entry (`warden_core::tools::Tools::names`) this rule
    /// refuses.
    pub fn refused_tool<'t>(&self, tools: &'t Tools) -> Option<&'t str> {
        // A bare type entry (`function`) that the list also names tools of
        // (`function:get_weather`) is judged by those names on an
        // allow-list: `allow_tools = ["function:get_*"]` allows the
        // functions it names without also listing `function`.
        let named = |t: &str| {
            !t.contains(':')
                && tools
                    .names
                    .iter()
                    .any(|n| n.strip_prefix(t).is_some_and(|r| r.starts_with(':')))
        };
        let denied = |t: &str| {
            self.deny_tools.iter().any(|p| wildcard_match(p, t))
                || self
                    .allow_tools
                    .as_ref()
                    .is_some_and(|allow| !named(t) && !allow.iter().any(|p| wildcard_match(p, t)))
        };
        let bad_type = |t: &str| {
            self.allow_tool_types
                .as_ref()
                .is_some_and(|allow| !allow.iter().any(|p| wildcard_match(p, t)))
        };
        tools
            .names
            .iter()
            .map(String::as_str)
            .find(|t| denied(t))
            .or_else(|| tools.types().find(|t| bad_type(t)))
    }

    /// Whether this rule allows a hosted MCP server.
    pub fn allows_mcp(&self, server: &McpServer) -> bool {
        self.allow_mcp_servers.iter().any(|a| a.allows(server))
    }

    /// Whether one original text matches a denied pattern.
    pub fn refuses_original(&self, text: &str) -> bool {
        self.deny_patterns
            .as_ref()
            .is_some_and(|set| set.is_match(text))
    }

    /// Whether the folded text holds a denied term or pattern.
    pub fn refuses_folded(&self, text: &RuleText) -> bool {
        self.terms
            .as_ref()
            .is_some_and(|ac| ac.is_match(text.terms.as_str()))
            || self
                .deny_patterns
                .as_ref()
                .is_some_and(|set| set.is_match(&text.patterns))
    }

    /// Whether one text, folded on its own, holds a denied term or pattern
    /// (for callers with a single text, such as `warden policy test`).
    pub fn refuses_text(&self, text: &str) -> bool {
        let folded = RuleText {
            terms: fold(text, Fold::Terms),
            patterns: fold(text, Fold::Patterns),
        };
        self.refuses_original(text) || self.refuses_folded(&folded)
    }
}

/// Builds the automaton over folded terms (`None` without terms).
pub(crate) fn terms_automaton(terms: &[String]) -> Result<Option<AhoCorasick>, String> {
    if terms.is_empty() {
        return Ok(None);
    }
    AhoCorasick::new(terms).map(Some).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(label: Option<&str>, url: Option<&str>) -> McpServer {
        McpServer {
            label: label.map(str::to_owned),
            url: url.map(str::to_owned),
            connector: None,
        }
    }

    #[test]
    fn mcp_urls_match_by_origin_and_path_segment() {
        let allow = McpAllow::parse("https://mcp.example.com/tools").expect("url");
        for ok in [
            "https://mcp.example.com/tools",
            "https://mcp.example.com/tools/",
            "https://MCP.example.com:443/tools/github?x=1",
        ] {
            assert!(allow.allows(&server(Some("x"), Some(ok))), "{ok}");
        }
        for bad in [
            "https://mcp.example.com/toolsmith",
            "https://mcp.example.com.evil.io/tools",
            "https://mcp.example.com@evil.io/tools",
            "http://mcp.example.com/tools",
            "https://mcp.example.com:8443/tools",
            "https://user@mcp.example.com/tools",
            "not a url",
        ] {
            assert!(!allow.allows(&server(Some("x"), Some(bad))), "{bad}");
        }
        assert!(!allow.allows(&server(Some("x"), None)));
    }

    #[test]
    fn an_allow_list_of_named_tools_judges_them_by_name() {
        let rule = ContentRule {
            id: "r".into(),
            groups: None,
            deny_terms: Vec::new(),
            terms: None,
            deny_patterns: None,
            deny_tools: Vec::new(),
            allow_tools: Some(vec!["function:get_*".into(), "web_search".into()]),
            allow_tool_types: None,
            allow_mcp_servers: Vec::new(),
            max_output_tokens: None,
        };
        let tools = |entries: &[&str]| {
            Tools::from_entries(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(
            rule.refused_tool(&tools(&["function:get_weather", "web_search"])),
            None
        );
        assert_eq!(
            rule.refused_tool(&tools(&["function:delete_user"])),
            Some("function:delete_user")
        );
        // A bare type with no names is judged as itself.
        assert_eq!(rule.refused_tool(&tools(&["function"])), Some("function"));
        assert_eq!(
            rule.refused_tool(&tools(&["code_interpreter"])),
            Some("code_interpreter")
        );
    }

    #[test]
    fn labels_never_vouch_for_urls() {
        let allow = McpAllow::parse("GitHub").expect("label");
        assert!(allow.allows(&server(Some("github"), None)));
        assert!(!allow.allows(&server(Some("github"), Some("https://evil.io/"))));
        let connector = McpServer {
            label: Some("mail".into()),
            url: None,
            connector: Some("connector_gmail".into()),
        };
        assert!(
            McpAllow::parse("connector_gmail")
                .expect("label")
                .allows(&connector)
        );
        assert!(McpAllow::parse("ftp://x/").is_err());
        assert!(McpAllow::parse("https://x/?q=1").is_err());
    }
}
