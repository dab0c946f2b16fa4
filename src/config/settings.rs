//! Settings: compiled-in defaults ← `configs/lmeff.toml` (or `--config FILE`) ← `LMEFF_*`
//! environment variables ← command-line flags, merged with figment.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use super::aggregate::AggregateSettings;
use super::data::DataSettings;
use super::device::Device;
use super::race::RaceSettings;
use super::slurm::SlurmSettings;
use super::train::TrainSettings;
use super::units::Millions;

/// The settings file read when `--config` is not given (skipped if absent).
pub const DEFAULT_CONFIG_FILE: &str = "configs/lmeff.toml";

/// The study's milestones, in millions of tokens.
pub const STUDY_MILESTONES: [f64; 12] = [
    25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 1250.0, 1500.0, 1750.0, 2000.0,
];

/// Every setting lmeff reads; each key is also `LMEFF_<KEY>` in the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Root of the datasets: `<data_dir>/<dataset>/{train,dev,tokens,…}`.
    pub data_dir: PathBuf,
    /// Root of checkpoints: `<output_dir>/models/<dataset>/llama-<size>/…`.
    pub output_dir: PathBuf,
    /// Root of evaluation results and reports.
    pub results_dir: PathBuf,
    /// Folder holding the 67 BLiMP `.jsonl` paradigms.
    pub blimp_dir: PathBuf,
    /// Folder of model presets (`<size>.yaml`).
    pub models_dir: PathBuf,
    /// The experiment matrix read by `plan`, `train`, `launch`.
    pub configs: PathBuf,
    /// Compute device: `cpu`, `cuda` or `cuda:N`.
    pub device: Device,
    /// libtorch intra-op threads; 0 = all cores.
    pub threads: usize,
    /// fp32 matmuls on CUDA may use TF32 tensor cores (PyTorch's
    /// `set_float32_matmul_precision("high")`); `false` keeps them in full fp32.
    pub tf32: bool,
    /// Seeds each configs.csv row is run with, unless the row or `--seeds` says otherwise.
    pub seeds: Vec<u64>,
    /// Checkpoint milestones in millions of tokens (fractions allowed for tiny runs).
    pub milestones: Vec<Millions>,
    /// Tokenizer vocabulary sizes `lmeff data prepare` builds when not told (the study's).
    pub vocab_sizes: Vec<u32>,
    /// Where a run's batch size and accumulation come from: `row` (configs.csv's `batch_size` and
    /// `grad_accum`, the preset's where empty or 0) or `preset` (always the preset's: what the
    /// study did, whatever its rows said).
    pub batch_from: BatchFrom,
    /// Which tokenizer recipe and text encoding make the token files (`[data]`).
    pub data: DataSettings,
    /// The trainer's section (`[train]`).
    pub train: TrainSettings,
    /// What `lmeff launch` asks Slurm for (`[slurm]`).
    pub slurm: SlurmSettings,
    /// What `lmeff aggregate` needs for a verdict (`[aggregate]`).
    pub aggregate: AggregateSettings,
    /// When `lmeff race` stops a configuration (`[race]`).
    pub race: RaceSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: "data".into(),
            output_dir: "output".into(),
            results_dir: "results".into(),
            blimp_dir: "data/blimp".into(),
            models_dir: "configs/models".into(),
            configs: "configs/configs.csv".into(),
            device: Device::Cpu,
            threads: 0,
            tf32: true,
            seeds: vec![0, 1, 2],
            milestones: STUDY_MILESTONES
                .iter()
                .map(|&m| Millions::new(m).expect("study milestones are valid"))
                .collect(),
            vocab_sizes: vec![8000, 16000, 32000, 50257],
            batch_from: BatchFrom::Row,
            data: DataSettings::default(),
            train: TrainSettings::default(),
            slurm: SlurmSettings::default(),
            aggregate: AggregateSettings::default(),
            race: RaceSettings::default(),
        }
    }
}

/// Where runs take their batch size and gradient accumulation from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchFrom {
    /// configs.csv's `batch_size` / `grad_accum` (the preset's where empty or 0).
    Row,
    /// The preset's, ignoring the row (the study's behaviour).
    Preset,
}

/// Setting keys, for filtering the environment (other `LMEFF_*` variables are not settings).
const KEYS: [&str; 13] = [
    "data_dir",
    "output_dir",
    "results_dir",
    "blimp_dir",
    "models_dir",
    "configs",
    "device",
    "threads",
    "tf32",
    "seeds",
    "milestones",
    "vocab_sizes",
    "batch_from",
];

/// `LMEFF_*` variables that are not settings: those of lmeff's own scripts (`env/lmeff.env`,
/// `make setup`, the demo, tests and benchmarks).
const SCRIPT_VARIABLES: [&str; 12] = [
    "root",
    "venv",
    "bin",
    "mirror",
    "sample_data",
    "demo_paradigms",
    "shared",
    "shared_data",
    "update_golden",
    "skip_apt",
    "skip_slurm",
    "bench_dir",
];

/// Refuses an `LMEFF_<KEY>` (key lower-cased, prefix stripped) that is neither a setting, a
/// `[train]`/`[slurm]` key (`LMEFF_TRAIN__<KEY>`, checked by the section), a hybrid source's
/// override (`LMEFF_HYBRID__<SOURCE>__<KEY>`), nor a script's variable:
/// a typo must not pass silently.
fn check_environment(keys: impl Iterator<Item = String>) -> Result<()> {
    let mut unknown: Vec<String> = keys
        .filter(|k| {
            !(KEYS.contains(&k.as_str())
                || SCRIPT_VARIABLES.contains(&k.as_str())
                || k.starts_with("data__")
                || k.starts_with("train__")
                || k.starts_with("slurm__")
                || k.starts_with("aggregate__")
                || k.starts_with("race__")
                || k.starts_with("hybrid__"))
        })
        .collect();
    unknown.sort();
    let Some(first) = unknown.first() else {
        return Ok(());
    };
    let hint = ["train_", "slurm_"]
        .iter()
        .find_map(|section| {
            let rest = first.strip_prefix(section)?;
            Some(format!(
                " (a [{}] key is LMEFF_{}_{})",
                &section[..5],
                section.to_ascii_uppercase(),
                rest.trim_start_matches('_').to_ascii_uppercase()
            ))
        })
        .unwrap_or_default();
    bail!(
        "environment: LMEFF_{} is not a setting{hint}; settings are LMEFF_<KEY> for {}, and \
         LMEFF_DATA__<KEY> / LMEFF_TRAIN__<KEY> / LMEFF_SLURM__<KEY> / LMEFF_AGGREGATE__<KEY> / LMEFF_RACE__<KEY> for the sections (unset it if it is not meant for lmeff)",
        first.to_ascii_uppercase(),
        KEYS.join(", ")
    )
}

/// Settings given as command-line flags (the last layer); `None` leaves the lower layers in force.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SettingsOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blimp_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configs: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeds: Option<Vec<u64>>,
}

impl SettingsOverrides {
    /// The flags of the commands that read the plan: `--configs` and `--seeds`.
    pub fn plan(configs: Option<PathBuf>, seeds: Option<Vec<u64>>) -> SettingsOverrides {
        SettingsOverrides {
            configs,
            seeds,
            ..Default::default()
        }
    }
}

impl Settings {
    /// Merges the four layers. `config_file` is `--config`: it must exist; without it the default
    /// file is read when present.
    pub fn load(config_file: Option<&Path>, overrides: &SettingsOverrides) -> Result<Settings> {
        Self::load_with_env(config_file, overrides, Env::prefixed("LMEFF_"))
    }

    fn load_with_env(
        config_file: Option<&Path>,
        overrides: &SettingsOverrides,
        env: Env,
    ) -> Result<Settings> {
        let settings: Settings = Self::layers(config_file, overrides, env)?
            .extract()
            .context("invalid settings (defaults ← settings file ← LMEFF_* environment ← flags)")?;
        settings.validate()?;
        Ok(settings)
    }

    /// The four layers, merged (each value remembers which layer gave it).
    pub(super) fn layers(
        config_file: Option<&Path>,
        overrides: &SettingsOverrides,
        env: Env,
    ) -> Result<Figment> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match config_file {
            Some(path) if !path.is_file() => bail!("settings file {} not found", path.display()),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE))
            }
            None => {}
        }
        check_environment(env.iter().map(|(k, _)| k.to_string()))?;
        let env = env.split("__").filter(|k| {
            KEYS.iter().any(|key| k == *key)
                || ["data.", "train.", "slurm.", "aggregate.", "race."]
                    .iter()
                    .any(|section| k.as_str().to_ascii_lowercase().starts_with(section))
        });
        Ok(figment.merge(env).merge(Serialized::defaults(overrides)))
    }

    /// Checks what serde cannot: non-empty, ordered, unique lists.
    fn validate(&self) -> Result<()> {
        if self.seeds.is_empty() {
            bail!("settings: `seeds` must not be empty");
        }
        if self.milestones.is_empty() {
            bail!("settings: `milestones` must not be empty");
        }
        if let Some(w) = self.milestones.windows(2).find(|w| w[0] >= w[1]) {
            bail!(
                "settings: `milestones` must be strictly increasing ({} then {})",
                w[0],
                w[1]
            );
        }
        if self.aggregate.min_runs < 2 {
            bail!(
                "settings: aggregate.min_runs must be at least 2 (a ranking needs two runs), not {}",
                self.aggregate.min_runs
            );
        }
        if self.aggregate.min_configs < 2 || self.aggregate.min_seeds < 1 {
            bail!(
                "settings: aggregate.min_configs must be at least 2 (a decision needs a pair) and \
                 aggregate.min_seeds at least 1, not {} and {}",
                self.aggregate.min_configs,
                self.aggregate.min_seeds
            );
        }
        self.race
            .check()
            .map_err(|e| anyhow::anyhow!("settings: {e}"))?;
        if self.train.log_every == 0 || self.train.save_every == 0 {
            bail!(
                "settings: train.log_every ({}) and train.save_every ({}) must be at least 1",
                self.train.log_every,
                self.train.save_every
            );
        }
        let t = self.train.early_stopping_threshold;
        if !(t.is_finite() && t >= 0.0) {
            bail!("settings: train.early_stopping_threshold must be a number ≥ 0, not {t}");
        }
        let c = self.train.cooldown_fraction;
        if !(c.is_finite() && c > 0.0 && c < 1.0) {
            bail!(
                "settings: train.cooldown_fraction must lie between 0 and 1 (the share of a WSD \
                 run spent decaying; 0.2 by default), not {c}"
            );
        }
        if let Some(v) = self.vocab_sizes.iter().find(|&&v| v <= 3) {
            bail!("settings: vocab size {v} cannot hold the special tokens <pad> <s> </s>");
        }
        self.slurm.validate()
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error
mod tests {
    use super::*;
    use figment::Jail;

    fn load_in_jail(
        config: Option<&str>,
        overrides: &SettingsOverrides,
    ) -> std::result::Result<Settings, String> {
        Settings::load_with_env(config.map(Path::new), overrides, Env::prefixed("LMEFF_"))
            .map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn defaults_are_the_study_settings() {
        Jail::expect_with(|_| {
            let s = load_in_jail(None, &Default::default()).unwrap();
            assert_eq!(s.milestones.len(), 12);
            assert_eq!(s.milestones[0].get(), 25.0);
            assert_eq!(s.milestones[11].get(), 2000.0);
            assert_eq!(s.device, Device::Cpu);
            assert_eq!(s.data_dir, PathBuf::from("data"));
            Ok(())
        });
    }

    #[test]
    fn layers_override_in_order() {
        Jail::expect_with(|jail| {
            fs_err::create_dir_all("configs").unwrap();
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "data_dir = \"from-file\"\noutput_dir = \"out-file\"\nresults_dir = \"res-file\"\nmilestones = [0.02, 0.05]\n",
            )?;
            jail.set_env("LMEFF_OUTPUT_DIR", "out-env");
            jail.set_env("LMEFF_RESULTS_DIR", "res-env");
            jail.set_env("LMEFF_ROOT", "/not/a/setting");
            let flags = SettingsOverrides {
                results_dir: Some("res-flag".into()),
                ..Default::default()
            };
            let s = load_in_jail(None, &flags).unwrap();
            assert_eq!(s.data_dir, PathBuf::from("from-file"));
            assert_eq!(s.output_dir, PathBuf::from("out-env"));
            assert_eq!(s.results_dir, PathBuf::from("res-flag"));
            assert_eq!(s.milestones[1].tokens().0, 50_000);
            assert_eq!(s.train.save_every, 500);
            jail.set_env("LMEFF_TRAIN__SAVE_EVERY", "7");
            jail.set_env("LMEFF_SLURM__PARTITION", "gpu");
            let s = load_in_jail(None, &flags).unwrap();
            assert_eq!(s.train.save_every, 7);
            assert_eq!(s.slurm.partition, "gpu");
            Ok(())
        });
    }

    #[test]
    fn bad_settings_are_errors() {
        Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "data_dri = \"x\"\n")?;
            let err = load_in_jail(Some("typo.toml"), &Default::default()).unwrap_err();
            assert!(err.contains("data_dri"), "{err}");

            jail.create_file("order.toml", "milestones = [50, 25]\n")?;
            let err = load_in_jail(Some("order.toml"), &Default::default()).unwrap_err();
            assert!(err.contains("strictly increasing"), "{err}");

            let err = load_in_jail(Some("missing.toml"), &Default::default()).unwrap_err();
            assert!(err.contains("missing.toml"), "{err}");

            jail.set_env("LMEFF_DEVICE", "tpu");
            let err = load_in_jail(None, &Default::default()).unwrap_err();
            assert!(err.contains("tpu"), "{err}");
            jail.set_env("LMEFF_DEVICE", "cpu");

            jail.set_env("LMEFF_SLURM_PARTITION", "high");
            let err = load_in_jail(None, &Default::default()).unwrap_err();
            assert!(
                err.contains("LMEFF_SLURM_PARTITION is not a setting")
                    && err.contains("LMEFF_SLURM__PARTITION"),
                "{err}"
            );
            Ok(())
        });
    }
}
