//! The `[train]` section of the settings: how often to log, evaluate and save, the study's
//! early-stopping rule for full runs, the compute precision and the gradient all-reduce's element
//! type.

use serde::{Deserialize, Serialize};

use super::units::Millions;

/// Arithmetic precision of the forward and backward passes (weights and optimizer stay fp32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 autocast on CUDA devices of compute capability 8.0 or later, fp32 elsewhere.
    #[default]
    Auto,
    Fp32,
    /// bf16 autocast (CUDA; on CPU, bf16 autocast where the CPU supports it).
    Bf16,
}

/// What a precision decision needs to know of the device computing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accelerator {
    Cpu,
    /// A CUDA device of this compute capability (`None` when the driver would not say).
    Cuda {
        capability: Option<(u32, u32)>,
    },
}

impl Precision {
    /// Whether to compute in bf16 on `device`: `auto` only where bf16 matmuls run natively, on
    /// CUDA devices of compute capability 8.0 or later (A100, H100; not V100 or T4).
    pub fn bf16_on(self, device: Accelerator) -> bool {
        match self {
            Precision::Auto => matches!(
                device,
                Accelerator::Cuda { capability: Some((major, _)) } if major >= 8
            ),
            Precision::Fp32 => false,
            Precision::Bf16 => true,
        }
    }
}

/// The ops a training step computes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// ATen's (cuBLAS, cuDNN, ATen's elementwise kernels).
    #[default]
    Aten,
    /// Liger-Kernel's fused SwiGLU, residual add + RMSNorm, RoPE and linear + cross-entropy
    /// (bf16 on CUDA, from `train.kernels_dir`; on the CPU the same autograd functions over ATen).
    Fused,
}

/// Element type gradients travel in across ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CommDtype {
    #[default]
    Fp32,
    /// Half the traffic; NCCL only (MPI has no bf16 type, so CPUs reduce in fp32).
    Bf16,
}

/// A run's learning-rate schedule after warm-up; written and read as its name (`cosine`, `wsd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ScheduleKind {
    /// Cosine decay to zero at the last step (the study's).
    #[default]
    Cosine,
    /// Warmup–stable–decay: constant after warm-up, decaying to zero over the last
    /// `cooldown_fraction` of the run; a row's budget runs branch off its full run.
    Wsd,
}

impl ScheduleKind {
    /// The schedule as files write it: only WSD (absent: the study's cosine).
    pub fn written(self) -> Option<ScheduleKind> {
        (self != ScheduleKind::Cosine).then_some(self)
    }
}

impl std::fmt::Display for ScheduleKind {
    /// As configs.csv and the files write it: `cosine`, `wsd`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Wsd => "wsd",
        })
    }
}

impl std::str::FromStr for ScheduleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cosine" => Ok(ScheduleKind::Cosine),
            "wsd" => Ok(ScheduleKind::Wsd),
            _ => Err(format!("`{s}`: expected cosine or wsd")),
        }
    }
}

impl Serialize for ScheduleKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScheduleKind {
    /// By name; an empty value is the study's cosine, as an absent one is.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "" => Ok(ScheduleKind::Cosine),
            s => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The shape of a WSD cooldown from the peak to zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecayShape {
    #[default]
    Linear,
    /// 1 − sqrt(progress) (Hägele et al. 2024).
    Sqrt,
}

/// Where checkpoints go besides the run folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MilestoneStore {
    /// The run folder only (`lmeff push --run DIR` publishes later).
    #[default]
    Local,
    /// Also pushed to the Hugging Face Hub as each one lands (the study's `--milestone-store hf`).
    Hf,
}

/// What a budget run's `final/` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetFinal {
    /// The last weights.
    Last,
    /// The weights of the best evaluation (the study's).
    Best,
}

/// What a run's seed sets: the order of its training data, its initial weights, or both.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SeedMode {
    /// Both: seeds replicate data order and initialisation together.
    #[default]
    Both,
    /// The initial weights only; the data order is fixed by seed 42, as in the study (Hugging
    /// Face's default data seed): weight-seed replicates.
    Study,
    /// The data order only; the initial weights are fixed by seed 42: data-seed replicates.
    Data,
}

/// How a run draws its training windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchOrder {
    /// Random contiguous windows anywhere in the training tokens, each drawn on its own.
    #[default]
    Random,
    /// The study's kind of draw: the tokens cut into consecutive windows (each token a target once
    /// an epoch), shuffled anew each epoch by the data seed.
    Epochs,
}

/// How much of the dev split an evaluation during training reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalTokens {
    /// At most this many tokens from the start of the dev split (0: all of it).
    First(u64),
    /// The study's rule for budget runs (`tokenizer_exp.py`): ⌊0.1 · budget⌋ ÷ seq_len whole
    /// windows of the dev split, drawn by the run's seed; full runs read all of it.
    Budget10,
}

impl std::fmt::Display for EvalTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalTokens::First(n) => write!(f, "{n}"),
            EvalTokens::Budget10 => f.write_str("budget10"),
        }
    }
}

impl Serialize for EvalTokens {
    /// A number of tokens, or `"budget10"`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EvalTokens::First(n) => s.serialize_u64(*n),
            EvalTokens::Budget10 => s.serialize_str("budget10"),
        }
    }
}

impl<'de> Deserialize<'de> for EvalTokens {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Count(u64),
            Name(String),
        }
        match Form::deserialize(d)? {
            Form::Count(n) => Ok(EvalTokens::First(n)),
            Form::Name(s) if s == "budget10" => Ok(EvalTokens::Budget10),
            Form::Name(s) => s.parse().map(EvalTokens::First).map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{s}`: expected a number of tokens (0: the whole dev split) or \"budget10\""
                ))
            }),
        }
    }
}

/// The seed a fixed half of [`SeedMode`] uses (the study's: Hugging Face's default).
pub const FIXED_SEED: u64 = 42;

/// The two seeds of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeds {
    /// Orders the training batches (and draws a budget run's evaluation set).
    pub data: u64,
    /// Draws the initial weights.
    pub init: u64,
}

impl SeedMode {
    /// As the settings write it: `both`, `study`, `data`.
    pub fn name(self) -> &'static str {
        match self {
            SeedMode::Both => "both",
            SeedMode::Study => "study",
            SeedMode::Data => "data",
        }
    }

    /// The data and initialisation seeds of a run seeded `seed`.
    pub fn seeds(self, seed: u64) -> Seeds {
        match self {
            SeedMode::Both => Seeds {
                data: seed,
                init: seed,
            },
            SeedMode::Study => Seeds {
                data: FIXED_SEED,
                init: seed,
            },
            SeedMode::Data => Seeds {
                data: seed,
                init: FIXED_SEED,
            },
        }
    }
}

/// Trainer settings (`[train]` in `configs/lmeff.toml`, `LMEFF_TRAIN__<KEY>` in the environment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSettings {
    /// Log and record metrics every this many optimizer steps.
    pub log_every: u64,
    /// Save the resume state every this many steps (and at every milestone).
    pub save_every: u64,
    /// At most this many dev tokens per evaluation (0 = all of the dev file), or `"budget10"`:
    /// the study's seeded random tenth of a budget run's tokens (full runs: all of it).
    pub eval_tokens: EvalTokens,
    /// Full runs: early stopping starts after this many million tokens (the study: 2000).
    pub early_stopping_after: Millions,
    /// Full runs: stop after this many evaluations without an improvement.
    pub early_stopping_patience: u32,
    /// Full runs: an improvement must lower the eval loss by more than this.
    pub early_stopping_threshold: f64,
    /// What a budget run's `final/` holds: its last weights (its schedule ends there), or, as
    /// the study saved it, the weights of its best evaluation.
    pub budget_final: BudgetFinal,
    /// The schedule of rows that do not name one (configs.csv column `schedule`).
    pub schedule: ScheduleKind,
    /// WSD: the share of a run's steps its learning rate decays over.
    pub cooldown_fraction: f64,
    /// WSD: the decay's shape.
    pub decay: DecayShape,
    /// WSD: budget runs start from their full run's state at their branch point (false: trained
    /// straight through, the same schedule).
    pub branches: bool,
    /// WSD: how long a budget run waits for its full run to reach its branch point (seconds).
    pub branch_wait: u64,
    /// `auto` (bf16 autocast on CUDA devices of compute capability 8.0 or later, fp32
    /// elsewhere), `fp32` or `bf16`.
    pub precision: Precision,
    /// The most sequences one rank runs through the model at once (0: no limit): larger
    /// micro-batches are cut into equal pieces, more accumulation passes of the same tokens.
    pub max_micro_batch: u32,
    /// The memory of one GPU, in GiB: `lmeff plan` warns about CUDA runs estimated to need more
    /// than 90 % of it.
    pub gpu_memory_gib: f64,
    /// `aten` or `fused` (Liger-Kernel's fused ops; on CUDA in bf16, from `kernels_dir`).
    pub kernels: Kernels,
    /// The fused kernels compiled for sm_80/sm_90 (`make gpu-pack` puts them in
    /// `target/gpu-pack/kernels`); needed by `kernels = "fused"` on CUDA.
    pub kernels_dir: Option<std::path::PathBuf>,
    /// Element type of the gradient all-reduce across ranks (`bf16` needs NCCL).
    pub comm_dtype: CommDtype,
    /// `hf`: push each checkpoint to its Hub branch in the background as it is saved.
    pub milestone_store: MilestoneStore,
    /// `hf`: repositories a run creates are public (default: private).
    pub hub_public: bool,
    /// `hf`: how long a finished run waits for its pushes still under way (seconds).
    pub push_wait: u64,
    /// What a run's seed sets: `both` (data order and initial weights), `study` (the weights
    /// only; data order seed 42) or `data` (the data order only; weights seed 42).
    pub seed_mode: SeedMode,
    /// How training windows are drawn: `random` (anywhere, each on its own) or `epochs`
    /// (consecutive windows shuffled each epoch, the study's kind of draw).
    pub batches: BatchOrder,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            log_every: 10,
            save_every: 500,
            eval_tokens: EvalTokens::First(1_000_000),
            early_stopping_after: Millions::new(2000.0).expect("valid"),
            early_stopping_patience: 10,
            early_stopping_threshold: 0.002,
            budget_final: BudgetFinal::Last,
            schedule: ScheduleKind::Cosine,
            cooldown_fraction: 0.2,
            decay: DecayShape::Linear,
            branches: true,
            branch_wait: 7 * 24 * 3600,
            precision: Precision::Auto,
            max_micro_batch: 0,
            gpu_memory_gib: 80.0,
            kernels: Kernels::Aten,
            kernels_dir: None,
            comm_dtype: CommDtype::Fp32,
            milestone_store: MilestoneStore::Local,
            hub_public: false,
            push_wait: 600,
            seed_mode: SeedMode::Both,
            batches: BatchOrder::Random,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_bf16_only_on_cuda_devices_of_capability_8_or_later() {
        let cuda = |c| Accelerator::Cuda { capability: c };
        let auto = Precision::Auto;
        assert!(!auto.bf16_on(Accelerator::Cpu));
        assert!(!auto.bf16_on(cuda(Some((7, 0)))), "V100");
        assert!(!auto.bf16_on(cuda(Some((7, 5)))), "T4");
        assert!(!auto.bf16_on(cuda(None)), "unknown");
        assert!(auto.bf16_on(cuda(Some((8, 0)))), "A100");
        assert!(auto.bf16_on(cuda(Some((9, 0)))), "H100");
        assert!(Precision::Bf16.bf16_on(cuda(Some((7, 0)))), "asked for");
        assert!(!Precision::Fp32.bf16_on(cuda(Some((9, 0)))));
    }

    #[test]
    fn eval_tokens_are_a_count_or_the_studys_rule() {
        #[derive(Deserialize)]
        struct T {
            eval_tokens: EvalTokens,
        }
        let read =
            |v: &str| toml::from_str::<T>(&format!("eval_tokens = {v}")).map(|t| t.eval_tokens);
        assert_eq!(read("5000").unwrap(), EvalTokens::First(5000));
        assert_eq!(read("\"budget10\"").unwrap(), EvalTokens::Budget10);
        assert_eq!(
            read("\"0\"").unwrap(),
            EvalTokens::First(0),
            "from the environment"
        );
        let e = read("\"budget5\"").unwrap_err().to_string();
        assert!(e.contains("expected a number of tokens"), "{e}");
        assert_eq!(
            serde_json::to_string(&EvalTokens::Budget10).unwrap(),
            "\"budget10\""
        );
        assert_eq!(serde_json::to_string(&EvalTokens::First(7)).unwrap(), "7");
    }

    #[test]
    fn each_seed_mode_varies_one_thing_or_both() {
        assert_eq!(SeedMode::Both.seeds(3), Seeds { data: 3, init: 3 });
        assert_eq!(SeedMode::Study.seeds(3), Seeds { data: 42, init: 3 });
        assert_eq!(SeedMode::Study.seeds(4).data, SeedMode::Study.seeds(3).data);
        assert_eq!(SeedMode::Data.seeds(3), Seeds { data: 3, init: 42 });
    }

    #[test]
    fn schedules_are_written_and_read_by_name() {
        assert_eq!(
            serde_json::to_string(&ScheduleKind::Wsd).unwrap(),
            r#""wsd""#
        );
        let read: ScheduleKind = serde_json::from_str(r#""cosine""#).unwrap();
        assert_eq!(read, ScheduleKind::Cosine);
        let e = serde_json::from_str::<ScheduleKind>(r#""linear""#).unwrap_err();
        assert!(e.to_string().contains("expected cosine or wsd"), "{e}");
        let empty: ScheduleKind = serde_json::from_str(r#""""#).unwrap();
        assert_eq!(empty, ScheduleKind::Cosine, "an empty cell is the default");
        assert!(ScheduleKind::Cosine < ScheduleKind::Wsd);
    }
}
