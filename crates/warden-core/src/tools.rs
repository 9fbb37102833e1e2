//! The tools a request offers the model or forces it to use, however the
//! request names them. Built once, by the gateway's probe, from every field
//! an OpenAI endpoint accepts (chat `tools`, legacy `functions` and
//! `function_call`, `tool_choice`, Responses `tools` of every type); content
//! rules, Cedar and approval rules all read this one list, so a check added
//! to one of them cannot be dodged by naming the tool another way.

use crate::text::{Fold, fold};

/// One tool, as policy sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tools {
    /// Each tool's type (`function`, `web_search`, `mcp`, ...) and, for
    /// named tools, `<type>:<name>` (`function:get_weather`,
    /// `custom:grammar`, `mcp:<server label>`). Names are folded
    /// ([`Fold::Names`]: lower case, invisible characters removed, NFKC);
    /// each entry once, in the order first seen.
    pub names: Vec<String>,
    /// Hosted MCP servers (`{"type":"mcp", ...}` tools and tool choices).
    pub mcp: Vec<McpServer>,
}

/// A hosted MCP server a Responses request asks the upstream to call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct McpServer {
    /// `server_label`, folded as tool names are.
    pub label: Option<String>,
    /// `server_url`, as given.
    pub url: Option<String>,
    /// `connector_id` (OpenAI's connectors: `connector_gmail`, ...).
    pub connector: Option<String>,
}

impl Tools {
    /// The list from entries as policy writes them (`web_search`,
    /// `function:get_weather`), folded as a request's are.
    pub fn from_entries(entries: &[String]) -> Tools {
        let mut t = Tools::default();
        for e in entries {
            match e.split_once(':') {
                Some((kind, name)) => t.add(kind, Some(name)),
                None => t.add(e, None),
            }
        }
        t
    }

    /// Adds a tool of `kind`, named `name` when it has one.
    pub fn add(&mut self, kind: &str, name: Option<&str>) {
        let kind = fold(kind, Fold::Names);
        if let Some(name) = name {
            let entry = format!("{kind}:{}", fold(name, Fold::Names));
            self.push(kind);
            self.push(entry);
        } else {
            self.push(kind);
        }
    }

    /// Adds a hosted MCP server (its `mcp` and `mcp:<label>` entries too).
    pub fn add_mcp(&mut self, server: McpServer) {
        self.add("mcp", server.label.as_deref());
        let server = McpServer {
            label: server.label.map(|l| fold(&l, Fold::Names)),
            ..server
        };
        if !self.mcp.contains(&server) {
            self.mcp.push(server);
        }
    }

    /// Each tool's type, once (the part of an entry before `:`).
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .filter(|n| !n.contains(':'))
            .map(String::as_str)
    }

    /// The strings Cedar's `context.mcp_servers` holds: each server's URL,
    /// or `connector:<id>` for a connector.
    pub fn mcp_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.mcp.iter().filter_map(|s| {
            s.url
                .clone()
                .or_else(|| s.connector.as_ref().map(|c| format!("connector:{c}")))
        })
    }

    fn push(&mut self, entry: String) {
        if !self.names.contains(&entry) {
            self.names.push(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_folded_and_unique() {
        let mut t = Tools::default();
        t.add("function", Some("Get\u{200B}_Weather"));
        t.add("function", Some("get_weather"));
        t.add("web_search", None);
        t.add_mcp(McpServer {
            label: Some("GitHub".into()),
            url: Some("https://mcp.example.com/github".into()),
            connector: None,
        });
        assert_eq!(
            t.names,
            [
                "function",
                "function:get_weather",
                "web_search",
                "mcp",
                "mcp:github"
            ]
        );
        assert_eq!(
            t.types().collect::<Vec<_>>(),
            ["function", "web_search", "mcp"]
        );
        assert_eq!(
            t.mcp_ids().collect::<Vec<_>>(),
            ["https://mcp.example.com/github"]
        );
    }
}
