//! The plan: configs.csv rows × seeds × anchors expanded into runs, each with its exact token
//! arithmetic (tokens per step, last step, the step of every milestone) and its output folder.
//!
//! `batch_size` is the global batch of one micro-step, split evenly over the run's ranks
//! (`gpus × nodes`), so `tokens_per_step = per_rank_batch × grad_accum × seq_len × world
//! = batch_size × grad_accum × seq_len` and a run's training does not depend on its world size.

use std::path::Path;

use anyhow::{bail, Result};
use serde::Serialize;

use super::identity::RunKey;
use super::layout::RunLayout;
use super::matrix::MatrixRow;
use super::preset::Presets;
use super::run::{MilestoneStep, Run};
use super::settings::{BatchFrom, Settings};
use super::train::ScheduleKind;
use super::train::TrainSettings;
use super::units::Anchor;
use super::wsd::{self, Branch, BranchPoint};

/// Notes on rows whose `batch_size` / `grad_accum` differ from their preset's, saying which
/// values the plan uses (the `batch_from` setting) and what the study did.
pub fn batch_notes(
    matrix_file: &Path,
    rows: &[MatrixRow],
    presets: &Presets,
    batch_from: BatchFrom,
) -> Vec<String> {
    let mut notes = Vec::new();
    for row in rows {
        let Some(preset) = presets.get(&row.model) else {
            continue;
        };
        let t = &preset.training;
        let (b, g) = (
            row.batch_size.unwrap_or(t.batch_size),
            row.grad_accum.unwrap_or(t.grad_accum),
        );
        if (b, g) == (t.batch_size, t.grad_accum) {
            continue;
        }
        let uses = match batch_from {
            BatchFrom::Row => "lmeff uses the row's; the study always used the preset's (batch_from = \"preset\" does the same)",
            BatchFrom::Preset => "ignored: batch_from = \"preset\" uses the preset's, as the study did",
        };
        notes.push(format!(
            "{}:{}: batch_size {b} × grad_accum {g} differ from the {} preset's {} × {}; {uses}",
            matrix_file.display(),
            row.line,
            row.model,
            t.batch_size,
            t.grad_accum
        ));
    }
    notes
}

/// Every run of a matrix, in task-index order (row, then seed, then anchor).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Plan {
    pub runs: Vec<Run>,
}

impl Plan {
    /// Expands validated rows. `seeds` (from `--seeds`) replaces every row's seeds when given.
    /// A world size that does not divide the batch, or two rows planning the same run, is an error.
    pub fn build(
        matrix_file: &Path,
        rows: &[MatrixRow],
        presets: &Presets,
        settings: &Settings,
        seeds: Option<&[u64]>,
    ) -> Result<Plan> {
        let mut runs: Vec<Run> = Vec::new();
        for row in rows {
            let Some(preset) = presets.get(&row.model) else {
                bail!(
                    "{}:{}: unknown model preset `{}`",
                    matrix_file.display(),
                    row.line,
                    row.model
                );
            };
            let t = &preset.training;
            let (batch_size, grad_accum) = match settings.batch_from {
                BatchFrom::Row => (
                    row.batch_size.unwrap_or(t.batch_size),
                    row.grad_accum.unwrap_or(t.grad_accum),
                ),
                BatchFrom::Preset => (t.batch_size, t.grad_accum),
            };
            let max_pos = preset.model.max_position_embeddings;
            let at = format!("{}:{}", matrix_file.display(), row.line);
            if batch_size == 0 || grad_accum == 0 || row.seq_length == 0 || row.epochs == 0 {
                bail!("{at}: batch_size {batch_size}, grad_accum {grad_accum}, seq_length {} and epochs {} must all be positive", row.seq_length, row.epochs);
            }
            if row.seq_length > max_pos {
                bail!(
                    "{at}: seq_length {} exceeds the {} preset's max_position_embeddings {max_pos}",
                    row.seq_length,
                    row.model
                );
            }
            let world = row.gpus * row.nodes;
            if batch_size % world != 0 {
                bail!(
                    "{}:{}: batch_size {batch_size} is not divisible by the run's {world} ranks (gpus {} × nodes {})",
                    matrix_file.display(), row.line, row.gpus, row.nodes
                );
            }
            let tokens_per_step = batch_size as u64 * grad_accum as u64 * row.seq_length as u64;
            let row_seeds = seeds
                .map(<[u64]>::to_vec)
                .or_else(|| row.seeds.clone())
                .unwrap_or_else(|| settings.seeds.clone());
            let schedule = row.schedule.unwrap_or(settings.train.schedule);
            // A WSD row's full run goes first: its budget runs start from its states.
            let mut anchors = row.anchors.clone();
            if schedule == ScheduleKind::Wsd {
                anchors.sort_by_key(|a| *a != Anchor::Full);
            }
            for &seed in &row_seeds {
                for &anchor in &anchors {
                    let max_steps = anchor
                        .budget_tokens()
                        .map(|t| t.step_reached(tokens_per_step));
                    let milestone_steps = settings
                        .milestones
                        .iter()
                        .map(|&millions| MilestoneStep {
                            millions,
                            tokens: millions.tokens(),
                            step: millions.tokens().step_reached(tokens_per_step),
                        })
                        .filter(|m| max_steps.is_none_or(|end| m.step <= end))
                        .collect();
                    let key = RunKey {
                        dataset: row.dataset.clone(),
                        model: row.model.clone(),
                        vocab_size: row.vocab_size,
                        seed,
                        anchor,
                        schedule,
                    };
                    let run_id = key.run_id();
                    if let Some(other) = runs.iter().find(|r| r.run_id == run_id) {
                        bail!(
                            "{}:{}: duplicate run {run_id} (also planned by line {}); runs are identified by dataset, model, vocab size, seed and anchor",
                            matrix_file.display(), row.line, other.source_line
                        );
                    }
                    runs.push(Run {
                        task_index: runs.len(),
                        source_line: row.line,
                        output_dir: RunLayout::of(&settings.output_dir, &key).dir().to_owned(),
                        key,
                        seq_len: row.seq_length,
                        anchor_tokens: anchor.budget_tokens(),
                        epochs: row.epochs,
                        batch_size,
                        grad_accum,
                        gpus: row.gpus,
                        nodes: row.nodes,
                        world,
                        per_rank_batch: batch_size / world,
                        tokens_per_step,
                        max_steps,
                        milestone_steps,
                        learning_rate: t.learning_rate,
                        weight_decay: t.weight_decay,
                        warmup_steps: t.warmup_steps,
                        branch: None,
                        branch_points: Vec::new(),
                        time: row.time.clone(),
                        run_id,
                    });
                }
            }
        }
        link_branches(&mut runs, &settings.train);
        Ok(Plan { runs })
    }

    /// The run with this id.
    pub fn by_id(&self, id: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.run_id.as_str() == id)
    }

    /// The run at this Slurm array index.
    pub fn by_task_index(&self, index: usize) -> Option<&Run> {
        self.runs.get(index)
    }
}

/// Links every WSD budget run to the full run of its row and seed (its trunk), when the row has
/// one and `train.branches` is on; the trunk learns its branch points.
fn link_branches(runs: &mut [Run], train: &TrainSettings) {
    if !train.branches {
        return;
    }
    for i in 0..runs.len() {
        let r = &runs[i];
        let (Anchor::Budget(_), ScheduleKind::Wsd, Some(steps)) =
            (r.key.anchor, r.key.schedule, r.max_steps)
        else {
            continue;
        };
        let Some(t) = runs.iter().position(|t| {
            t.key.anchor == Anchor::Full
                && t.source_line == r.source_line
                && t.key.seed == r.key.seed
        }) else {
            continue;
        };
        let step = wsd::decay_start(steps, r.warmup_steps, train.cooldown_fraction);
        let state_dir = RunLayout::at(runs[t].output_dir.clone()).branch_state(r.key.anchor);
        let anchor = r.key.anchor;
        runs[i].branch = Some(Branch {
            trunk: runs[t].run_id.clone(),
            state_dir: state_dir.clone(),
            step,
        });
        runs[t].branch_points.push(BranchPoint {
            anchor,
            step,
            state_dir,
        });
    }
}

/// Tokens the WSD budget runs of a plan train: as planned (cooldowns of those that branch), and
/// from scratch (as the study's one run per budget would).
pub fn budget_tokens(runs: &[Run]) -> (u64, u64) {
    let mut planned = 0;
    let mut scratch = 0;
    for r in runs.iter().filter(|r| r.key.schedule == ScheduleKind::Wsd) {
        let Some(steps) = r.max_steps else { continue };
        scratch += steps * r.tokens_per_step;
        let from = r.branch.as_ref().map_or(0, |b| b.step);
        planned += (steps - from) * r.tokens_per_step;
    }
    (planned, scratch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::matrix::parse_matrix;
    use std::path::PathBuf;

    fn plan(body: &str, seeds: Option<&[u64]>) -> Result<Plan> {
        let presets =
            Presets::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/models"))?;
        let settings = Settings::default();
        let text = format!("model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size,gpus\n{body}");
        let rows = parse_matrix(&text, &presets).map_err(|p| anyhow::anyhow!("{p:?}"))?;
        Plan::build(Path::new("configs.csv"), &rows, &presets, &settings, seeds)
    }

    #[test]
    fn sixty_m_token_arithmetic() {
        let p = plan("60m,babylm,10,0,0,256,\"[25]\",16000,\n", Some(&[0])).unwrap();
        let r = &p.runs[0];
        assert_eq!((r.batch_size, r.grad_accum), (128, 2));
        assert_eq!(r.tokens_per_step, 65_536);
        // ceil(25e6 / 65536) = 382; the budget run ends there and keeps only milestone 25.
        assert_eq!(r.max_steps, Some(382));
        assert_eq!(r.milestone_steps.len(), 1);
        assert_eq!(
            (
                r.milestone_steps[0].millions.get(),
                r.milestone_steps[0].step
            ),
            (25.0, 382)
        );
        assert_eq!(r.run_id.as_str(), "babylm_60m_v16000_seed0_budget25M");
        assert_eq!(
            r.output_dir,
            PathBuf::from("output/models/babylm/llama-60m/tokenizer-16000-seed-0/budget-25M")
        );
    }

    #[test]
    fn full_runs_keep_every_milestone() {
        let p = plan(
            "20m,tinystories,50,64,1,256,\"[-1]\",16000,\n",
            Some(&[0, 1]),
        )
        .unwrap();
        assert_eq!(p.runs.len(), 2);
        let r = &p.runs[1];
        assert_eq!((r.key.seed, r.task_index, r.max_steps), (1, 1, None));
        assert_eq!(r.tokens_per_step, 16_384);
        let steps: Vec<u64> = r.milestone_steps.iter().map(|m| m.step).collect();
        // ceil(M·1e6 / 16384) for the study's milestones.
        assert_eq!(
            steps,
            [1526, 3052, 4578, 6104, 15259, 30518, 45777, 61036, 76294, 91553, 106812, 122071]
        );
        assert_eq!(
            r.output_dir,
            PathBuf::from("output/models/tinystories/llama-20m/tokenizer-16000-seed-1")
        );
    }

    #[test]
    fn ranks_split_the_global_batch() {
        let p = plan("20m,web,1,64,1,256,\"[100]\",8000,4\n", Some(&[0])).unwrap();
        let r = &p.runs[0];
        assert_eq!(
            (r.world, r.per_rank_batch, r.tokens_per_step),
            (4, 16, 16_384)
        );
        let err = plan("20m,web,1,64,1,256,\"[100]\",8000,3\n", Some(&[0])).unwrap_err();
        assert!(err.to_string().contains("not divisible"), "{err}");
    }

    #[test]
    fn duplicate_runs_are_refused() {
        let err = plan(
            "20m,web,1,64,1,256,\"[100,-1]\",8000,\n20m,web,2,32,2,128,\"[-1]\",8000,\n",
            Some(&[0]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("configs.csv:3") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn seeds_come_from_flag_row_or_settings() {
        let p = plan("20m,web,1,64,1,256,\"[-1]\",8000,\n", None).unwrap();
        let seeds: Vec<u64> = p.runs.iter().map(|r| r.key.seed).collect();
        assert_eq!(seeds, Settings::default().seeds);
    }

    #[test]
    fn json_shape() {
        let p = plan("60m,babylm,10,0,0,256,\"[-1]\",16000,\n", Some(&[0])).unwrap();
        let v = serde_json::to_value(&p).unwrap();
        let run = &v[0];
        assert!(run["anchor_tokens"].is_null() && run["max_steps"].is_null());
        assert_eq!(run["milestone_steps"]["25"], 382);
        // Milestones keep numeric order in the emitted text.
        let text = serde_json::to_string(&p).unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
        assert!(at("25") < at("50") && at("100") < at("250") && at("1750") < at("2000"));
    }
}
