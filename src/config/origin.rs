//! `lmeff config`: every resolved setting, and the layer it came from — lmeff's default, the
//! settings file (its path), an `LMEFF_*` environment variable (its name) or a flag.

use std::path::Path;

use anyhow::{Context, Result};
use figment::providers::Env;

use super::settings::{Settings, SettingsOverrides};

/// One resolved setting.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Origin {
    /// Dotted: `data_dir`, `train.save_every`.
    pub key: String,
    /// Its value as TOML writes it.
    pub value: String,
    /// `default`, `file configs/lmeff.toml`, `env LMEFF_TRAIN__SAVE_EVERY` or `flag`.
    pub from: String,
}

impl Settings {
    /// The resolved settings (as [`Settings::load`] merges them), a line per value.
    pub fn explain(
        config_file: Option<&Path>,
        overrides: &SettingsOverrides,
    ) -> Result<Vec<Origin>> {
        explain_with_env(config_file, overrides, Env::prefixed("LMEFF_"))
    }
}

fn explain_with_env(
    config_file: Option<&Path>,
    overrides: &SettingsOverrides,
    env: Env,
) -> Result<Vec<Origin>> {
    let figment = Settings::layers(config_file, overrides, env)?;
    let settings: Settings = figment.extract().context("invalid settings")?;
    let tree = toml::Value::try_from(&settings).context("writing the settings as TOML")?;
    let mut leaves = Vec::new();
    flatten("", &tree, &mut leaves);
    Ok(leaves
        .into_iter()
        .map(|(key, value)| {
            let from = match figment.find_metadata(&key) {
                Some(md) => describe(md, &key),
                None => "default".into(),
            };
            Origin { key, value, from }
        })
        .collect())
}

/// Which layer `md` is, in a few words.
fn describe(md: &figment::Metadata, key: &str) -> String {
    let name = md.name.as_ref();
    if name.contains("SettingsOverrides") {
        return "flag".into();
    }
    if name.contains("environment") {
        return format!("env LMEFF_{}", key.replace('.', "__").to_ascii_uppercase());
    }
    match &md.source {
        Some(figment::Source::File(p)) => format!("file {}", p.display()),
        _ => "default".into(),
    }
}

/// `(dotted key, TOML value)` of every leaf of `v`.
fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        leaf => out.push((prefix.to_owned(), leaf.to_string())),
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn each_value_names_its_layer() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "s.toml",
                "data_dir = \"from-file\"\n[train]\nsave_every = 7\n",
            )?;
            jail.set_env("LMEFF_TRAIN__LOG_EVERY", "3");
            let overrides = SettingsOverrides {
                results_dir: Some("from-flag".into()),
                ..Default::default()
            };
            let lines = explain_with_env(
                Some(Path::new("s.toml")),
                &overrides,
                Env::prefixed("LMEFF_"),
            )
            .map_err(|e| e.to_string())?;
            let find = |k: &str| lines.iter().find(|o| o.key == k).unwrap().clone();
            assert_eq!(find("data_dir").value, "\"from-file\"");
            assert!(
                find("data_dir").from.starts_with("file ")
                    && find("data_dir").from.ends_with("s.toml")
            );
            assert_eq!(find("train.save_every").value, "7");
            assert_eq!(find("train.log_every").from, "env LMEFF_TRAIN__LOG_EVERY");
            assert_eq!(find("results_dir").from, "flag");
            assert_eq!(find("output_dir").from, "default");
            assert_eq!(find("race.alpha").value, "0.05");
            Ok(())
        });
    }
}
