//! Paradigms to phenomena: each paradigm result named as BLiMP names it and given its field and
//! phenomenon (fixed facts of the 67 paradigms), and the per-phenomenon accuracies of each
//! checkpoint, the phenomena being the BLiMP paper's 12 groups or BLiMP's `linguistics_term`s.

use std::collections::BTreeMap;

use super::record::{Record, RunKey};
use crate::config::Phenomena;
use crate::data::blimp_paradigms::{paper_group, paradigm_facts};

/// Gives every paradigm result BLiMP's own name (the study's tables lowercase it) and, where the
/// result does not carry them, its field and phenomenon: fixed facts of the 67 paradigms.
pub fn name_paradigms(tasks: &mut [Record]) {
    for t in tasks {
        let Some(name) = &t.task else { continue };
        let Some((uid, field, term)) = paradigm_facts(name) else {
            continue;
        };
        t.task = Some(uid.to_owned());
        t.field.get_or_insert_with(|| field.to_owned());
        t.phenomenon.get_or_insert_with(|| term.to_owned());
    }
}

/// The phenomenon a paradigm result counts toward: its paper group, or its `linguistics_term`.
fn phenomenon(r: &Record, how: Phenomena) -> Option<String> {
    let term = r.phenomenon.as_deref()?;
    match how {
        Phenomena::Paper => paper_group(term).map(str::to_owned),
        Phenomena::Blimp => Some(term.to_owned()),
    }
}

/// (run, milestone sort key, phenomenon).
type PhenomenonKey = (RunKey, String, String);

/// Each checkpoint's accuracy per phenomenon: pair-weighted when pair counts are known, else the
/// mean over its paradigms.
pub fn per_phenomenon(tasks: &[Record], how: Phenomena) -> Vec<Record> {
    let mut phen: BTreeMap<PhenomenonKey, (f64, f64, Record)> = BTreeMap::new();
    for r in tasks {
        let Some(p) = phenomenon(r, how) else {
            continue;
        };
        let key = (
            r.run.clone(),
            format!("{:020.6}", r.milestone.order().min(1e15)),
            p.clone(),
        );
        let w = r.n.unwrap_or(1) as f64;
        let e = phen.entry(key).or_insert_with(|| {
            let mut first = r.clone();
            first.phenomenon = Some(p.clone());
            (0.0, 0.0, first)
        });
        e.0 += r.acc * w;
        e.1 += w;
    }
    phen.into_values()
        .map(|(sum, w, mut r)| {
            r.acc = sum / w;
            r.task = None;
            r
        })
        .collect()
}
