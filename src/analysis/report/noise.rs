//! The report on noise: chance and learning judged by seed variance where there are seeds (each
//! saying which noise it used), signal-to-noise per task, the decisions the continuous margin
//! gives, and BLiMP's pairs that no model can score right.

use std::fmt::Write as _;

use super::super::aggregate_noise::{NoiseTables, MARGIN};
use super::super::decisions::DecisionRow;
use super::super::noise::{ChanceRow, BINOMIAL, SEEDS};
use super::super::signal_noise::SignalNoiseRow;
use super::page::{code, text};
use crate::config::SeedMode;

fn basis(b: &str) -> &'static str {
    match b {
        SEEDS => "the variance over seeds",
        BINOMIAL => "the binomial error of the pairs (one seed)",
        _ => "unknown noise",
    }
}

fn label(r: &ChanceRow) -> String {
    let c = crate::config::Configuration {
        dataset: r.dataset.clone(),
        model: r.model_size.clone(),
        vocab_size: r.vocab_size as u32,
        anchor: r.anchor,
        schedule: r.schedule,
    };
    format!("{} at {}", text(&c.label()), r.milestone)
}

/// Which configurations' BLiMP accuracies a random guesser could have scored.
fn chance(rows: &[ChanceRow]) -> String {
    let rows: Vec<&ChanceRow> = rows.iter().filter(|r| r.measure == "blimp").collect();
    if rows.is_empty() {
        return "No accuracy could be compared with chance: with one seed, the pair counts behind \
                it are needed, and imported tables do not have them."
            .into();
    }
    let by_seeds = rows.iter().filter(|r| r.basis == SEEDS).count();
    let how = format!(
        "{by_seeds} judged by a one-sample t test over their seeds, {} by the binomial error of \
         their pairs (one seed); `data/chance.csv`",
        rows.len() - by_seeds
    );
    let within: Vec<&&ChanceRow> = rows
        .iter()
        .filter(|r| r.verdict == "within chance")
        .collect();
    if within.is_empty() {
        return format!(
            "All {} configuration checkpoints score beyond chance ({how}).",
            rows.len()
        );
    }
    let some: Vec<String> = within
        .iter()
        .take(5)
        .map(|r| format!("{}: {:.4} (p = {:.3})", label(r), r.mean, r.p_value))
        .collect();
    format!(
        "**{} of {} configuration checkpoints are indistinguishable from chance** (0.5 at p ≥ \
         0.05; {how}): {}{}. Rankings among such checkpoints are rankings of noise.",
        within.len(),
        rows.len(),
        some.join("; "),
        if within.len() > 5 { "; …" } else { "" }
    )
}

/// Whether training moved the BLiMP accuracies beyond noise.
fn learning(t: &NoiseTables) -> Option<String> {
    let l = t.learning.iter().find(|l| l.measure == "blimp")?;
    let noise = match l.df {
        Some(df) => format!("{}, {df} degrees of freedom", basis(&l.basis)),
        None => basis(&l.basis).to_owned(),
    };
    let (delta, range, runs) = (l.delta, l.noise, l.n_runs);
    Some(match (l.beyond_noise(), delta < 0.0) {
        (false, _) => format!(
            "**Accuracy does not measurably change with training here**: from the first milestone \
             to the final it moves by {delta:+.4} on average over {runs} full run(s), within the \
             ±{range:.4} that noise alone produces ({noise}; p = {:.3}). The rankings compare \
             models that have not yet learned what BLiMP measures.",
            l.p_value
        ),
        (true, true) => format!(
            "**Accuracy falls with training here**: {delta:+.4} on average from the first \
             milestone to the final over {runs} full run(s) (noise ±{range:.4}, {noise})."
        ),
        (true, false) => format!(
            "Accuracy rises with training: {delta:+.4} on average from the first milestone to the \
             final over {runs} full run(s) (noise ±{range:.4}, {noise})."
        ),
    })
}

/// The final's signal-to-noise of each measure's overall score, and BLiMP's noisiest paradigms.
fn signal_noise(rows: &[SignalNoiseRow]) -> Option<String> {
    let finals: Vec<&SignalNoiseRow> = rows
        .iter()
        .filter(|r| r.milestone == "final" && r.snr.is_finite())
        .collect();
    let overall = |measure: &str, task: &str| {
        finals
            .iter()
            .find(|r| r.measure == measure && r.task == task)
    };
    let accuracy = overall("blimp", "overall")?;
    let mut md = format!(
        "Signal-to-noise at the final (Heineman et al. 2025; `data/signal_noise.csv`, figure \
         `signal_noise`): BLiMP accuracy {:.1} (configuration means spread over {:.4}, seeds vary \
         by {:.4} on average)",
        accuracy.snr, accuracy.signal, accuracy.noise
    );
    if let Some(m) = overall(MARGIN, "overall") {
        let _ = write!(
            md,
            "; the mean margin log p(good) − log p(bad) {:.1}",
            m.snr
        );
    }
    if let Some(g) = overall("glue", "macro") {
        let _ = write!(md, "; the GLUE macro-average {:.1}", g.snr);
    }
    let mut paradigms: Vec<&&SignalNoiseRow> = finals
        .iter()
        .filter(|r| r.measure == "blimp" && r.task != "overall")
        .collect();
    paradigms.sort_by(|a, b| a.snr.total_cmp(&b.snr));
    if paradigms.len() >= 2 {
        let names = |rs: &[&&SignalNoiseRow]| -> String {
            let s: Vec<String> = rs
                .iter()
                .map(|r| format!("{} {:.1}", code(&r.task), r.snr))
                .collect();
            s.join(", ")
        };
        let k = paradigms.len().min(3);
        let _ = write!(
            md,
            ". Noisiest paradigms: {}; clearest: {}",
            names(&paradigms[..k]),
            names(&paradigms[paradigms.len() - k..])
        );
    }
    md.push('.');
    Some(md)
}

/// BLiMP's pairs whose two sentences are the same.
fn identical(pairs: &[(&str, u32)]) -> Option<String> {
    if pairs.is_empty() {
        return None;
    }
    let list: Vec<String> = pairs
        .iter()
        .map(|(p, id)| format!("{} #{id}", code(p)))
        .collect();
    Some(format!(
        "{} BLiMP pair(s) scored here have identical good and bad sentences: {}. A pair counts \
         as right only when the good sentence is strictly more likely, so every model scores \
         these wrong (as in the study); they carry no signal.",
        pairs.len(),
        list.join(", ")
    ))
}

/// The section, with the margin's decisions answered as the accuracy's are.
pub(super) fn section(t: &NoiseTables, decided: &[DecisionRow], threshold: f64) -> String {
    let mut md = format!("{}\n\n", chance(&t.chance));
    for line in [
        learning(t),
        signal_noise(&t.signal_noise),
        identical(&t.identical_pairs),
    ]
    .into_iter()
    .flatten()
    {
        let _ = writeln!(md, "{line}\n");
    }
    let margin = super::decisions::answers(decided, MARGIN, threshold);
    if !margin.is_empty() {
        md += "With the continuous measure, the mean margin log p(good) − log p(bad) over \
               `pairs.parquet` (`measure = blimp_margin` in `data/decisions.csv`):\n\n";
        md += &margin;
        md.push('\n');
    }
    md
}

/// What the seeds are replicates of, where `train.seed_mode` made them one kind (nothing for
/// lmeff's default, where a seed varies both the data order and the weights).
pub(super) fn replicates(modes: &[SeedMode]) -> Option<String> {
    match modes {
        [] | [SeedMode::Both] => None,
        [SeedMode::Study] => Some(
            "The seeds are weight-seed replicates (`train.seed_mode = \"study\"`, as in the \
             study): every run read the same data order (seed 42) and only its initial weights \
             varied, so the seed noise below is that of initialisation alone."
                .into(),
        ),
        [SeedMode::Data] => Some(
            "The seeds are data-seed replicates (`train.seed_mode = \"data\"`): every run \
             started from the same weights (seed 42) and only its data order varied, so the seed \
             noise below is that of the data order alone."
                .into(),
        ),
        mixed => Some(format!(
            "The results mix kinds of replicate (`train.seed_mode` {}): their seeds vary \
             different things, so the seed noise below mixes them; compare seeds of one kind.",
            mixed
                .iter()
                .map(|m| code(m.name()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_what_seeds_replicate_when_a_seed_mode_set_it() {
        assert_eq!(replicates(&[]), None);
        assert_eq!(replicates(&[SeedMode::Both]), None);
        assert!(replicates(&[SeedMode::Study])
            .unwrap()
            .contains("weight-seed replicates"));
        assert!(replicates(&[SeedMode::Data])
            .unwrap()
            .contains("data-seed replicates"));
        let mixed = replicates(&[SeedMode::Both, SeedMode::Study]).unwrap();
        assert!(mixed.contains("mix kinds of replicate"), "{mixed}");
        assert!(mixed.contains("`both`, `study`"), "{mixed}");
    }
}
