//! Who lmeff is on the Hub: `HF_TOKEN`, `HF_NAMESPACE` and `HF_ENDPOINT`, from the environment or
//! else a `.env` file (the environment wins, as with python-dotenv). Without `HF_TOKEN`, the saved
//! token is found as `huggingface_hub` finds it: the file `HF_TOKEN_PATH`, else `$HF_HOME/token`
//! (`HF_HOME` defaulting to `$XDG_CACHE_HOME/huggingface`, then `~/.cache/huggingface`). The
//! token never appears in
//! logs, errors or files lmeff writes: [`Token`] prints as `hf_***`, and [`Credentials::scrub`]
//! removes it from any text that came back from the network.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};

/// The Hub's address when `HF_ENDPOINT` is unset.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// An access token; printing it shows only `hf_***`.
#[derive(Clone, PartialEq)]
pub struct Token(String);

impl Token {
    /// The secret itself, for the `Authorization` header only.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("hf_***")
    }
}

/// Token, namespace and endpoint.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub token: Option<Token>,
    /// Owner of the repositories `lmeff push` creates; the token's owner when unset.
    pub namespace: Option<String>,
    pub endpoint: String,
}

impl Credentials {
    /// From the environment, then `dotenv` (when it exists), then `$HF_HOME/token`.
    pub fn load(dotenv: &Path) -> Result<Credentials> {
        let mut file: Vec<(String, String)> = Vec::new();
        if dotenv.is_file() {
            for item in dotenvy::from_path_iter(dotenv)
                .with_context(|| format!("reading {}", dotenv.display()))?
            {
                file.push(
                    item.with_context(|| format!("{}: not KEY=VALUE lines", dotenv.display()))?,
                );
            }
        }
        let get = |key: &str| {
            std::env::var(key)
                .ok()
                .or_else(|| file.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let token = get("HF_TOKEN").or_else(crate::data::hub::saved_token);
        Ok(Credentials {
            token: token.map(Token),
            namespace: get("HF_NAMESPACE"),
            endpoint: get("HF_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned())
                .trim_end_matches('/')
                .to_owned(),
        })
    }

    /// `text` with the token replaced by `hf_***`.
    pub fn scrub(&self, text: &str) -> String {
        match &self.token {
            Some(t) if !t.0.is_empty() => text.replace(&t.0, "hf_***"),
            _ => text.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_prints() {
        let c = Credentials {
            token: Some(Token("hf_secret123".into())),
            namespace: None,
            endpoint: DEFAULT_ENDPOINT.into(),
        };
        assert!(!format!("{c:?}").contains("secret123"));
        assert_eq!(
            c.scrub("401 for Bearer hf_secret123 at /api"),
            "401 for Bearer hf_*** at /api"
        );
    }
}
