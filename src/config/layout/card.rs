//! The files a checkpoint carries for the Hugging Face Hub beside its weights: a model card
//! (`README.md`: what was trained on what, how far, and how to load it) and
//! `generation_config.json` (its special tokens, as `transformers` writes it). Both are pushed
//! with the checkpoint; the card never holds a time, so it is the same for the same checkpoint.

use std::path::Path;

use anyhow::Result;

use super::meta::CheckpointMeta;
use crate::config::units::Anchor;

/// The model card.
pub const CARD_FILE: &str = "README.md";
/// What `generate()` reads.
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// `s` as a Markdown code span (no backtick inside can end it).
fn code(s: &str) -> String {
    let fence = if s.contains('`') { "`` " } else { "`" };
    let close = if s.contains('`') { " ``" } else { "`" };
    format!("{fence}{s}{close}")
}

/// The model card of the checkpoint `meta` describes.
pub fn model_card(meta: &CheckpointMeta) -> String {
    let run = &meta.key.run;
    let budget = match run.anchor {
        Anchor::Full => "full run (the whole data, early stopping)".to_owned(),
        Anchor::Budget(m) => format!("budget run of {m}M tokens"),
    };
    let loss = |x: Option<f64>| x.map_or("—".to_owned(), |v| format!("{v:.4}"));
    let rows = [
        ("run", code(&meta.run_id.to_string())),
        ("checkpoint", code(&meta.key.label.to_string())),
        ("dataset", code(&run.dataset)),
        ("model preset", code(&run.model)),
        (
            "tokenizer",
            format!("BPE, {} tokens (trained on the dataset)", run.vocab_size),
        ),
        ("seed", run.seed.to_string()),
        ("anchor", budget),
        ("schedule", run.schedule.to_string()),
        ("tokens seen", meta.tokens_seen.to_string()),
        ("optimizer step", meta.step.to_string()),
        ("learning rate there", format!("{:.3e}", meta.learning_rate)),
        (
            "train loss / dev loss",
            format!("{} / {}", loss(meta.train_loss), loss(meta.eval_loss)),
        ),
        ("written by", format!("lmeff {}", code(&meta.lmeff_version))),
    ];
    let mut md = String::from(
        "---\nlibrary_name: transformers\npipeline_tag: text-generation\ntags:\n- lmeff\n- llama\n- data-efficiency\n---\n\n",
    );
    md += &format!(
        "# {}\n\nA small LLaMA-style decoder trained by lmeff for a \
         data-efficiency study: how early a configuration's ranking on BLiMP and GLUE predicts the \
         final one.\n\n| | |\n|---|---|\n",
        code(&format!("{} {}", meta.run_id, meta.key.label))
    );
    for (k, v) in rows {
        md += &format!("| {k} | {v} |\n");
    }
    md += "\nIts BLiMP and GLUE scores are in the study's results (`lmeff eval`), not here.\n\n\
           ## Loading it\n\n```python\nfrom transformers import AutoTokenizer, LlamaForCausalLM\n\n\
           model = LlamaForCausalLM.from_pretrained(\"<this folder or repo>\", revision=\"<branch>\")\n\
           tokenizer = AutoTokenizer.from_pretrained(\"<this folder or repo>\", revision=\"<branch>\")\n```\n\n\
           Each checkpoint of a run is a branch of its repository; `milestone_meta.json` records \
           where training stood, `checksums.json` the sha256 of every file.\n";
    md
}

/// `generation_config.json` of a model with these special tokens.
pub fn generation_config(
    bos: Option<u32>,
    eos: Option<u32>,
    pad: Option<u32>,
) -> serde_json::Value {
    serde_json::json!({
        "_from_model_config": true,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
    })
}

/// Writes both into `dir`.
pub fn write(
    dir: &Path,
    meta: &CheckpointMeta,
    tokens: (Option<u32>, Option<u32>, Option<u32>),
) -> Result<()> {
    crate::io::write_bytes_atomic(&dir.join(CARD_FILE), model_card(meta).as_bytes())?;
    let gen = generation_config(tokens.0, tokens.1, tokens.2);
    crate::io::write_json_atomic(&dir.join(GENERATION_CONFIG_FILE), &gen)
}
