//! The BLiMP heatmaps' cells: the 67 paradigms × configurations, the paper's 12 phenomenon groups
//! (and overall) × configurations, one detailed grid per group (its paradigms × configurations),
//! all at one checkpoint of the full runs; and accuracy per phenomenon and anchor.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use super::heatmaps::{self, Grid};
use super::series::{self, Configuration, Spread};
use super::{at, cells, FigureOptions};
use crate::analysis::inputs::Record;
use crate::config::{FigureStyle, HeatmapScale};
use crate::data::blimp_paradigms::{paper_group, BLIMP_PARADIGMS, PAPER_GROUPS};

/// The detailed heatmap of the paper's `group`: its file's stem (`group_detail_<name>`).
pub fn detail_stem(group: &str) -> String {
    let name: String = group
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '_',
        })
        .collect();
    format!("group_detail_{name}")
}

/// The heatmaps' records: full runs at the figure's checkpoint (each run's last by default).
fn chosen<'a>(records: &'a [Record], fig: &FigureOptions) -> Result<Vec<&'a Record>> {
    let end = at(records, fig.heatmap_milestone);
    if let (true, Some(m)) = (end.is_empty() && !records.is_empty(), fig.heatmap_milestone) {
        bail!(
            "no full run has BLiMP results at {m}M tokens for the heatmaps (--heatmap-milestone)"
        );
    }
    Ok(end)
}

/// "at the final checkpoint", "at 2000M tokens".
fn checkpoint_text(fig: &FigureOptions) -> String {
    fig.heatmap_milestone
        .map_or("at the final checkpoint".to_owned(), |m| {
            format!("at {m}M tokens")
        })
}

/// The scale of a BLiMP heatmap: the paper's colours each row from its lowest to its highest.
fn scale_of(fig: &FigureOptions) -> HeatmapScale {
    match fig.style {
        FigureStyle::Lmeff => HeatmapScale::Global,
        FigureStyle::Paper => HeatmapScale::Row,
    }
}

/// The position of paradigm `t` in BLiMP's order (others after it, by name).
fn rank(t: &str) -> (usize, &str) {
    let at = BLIMP_PARADIGMS.iter().position(|p| *p == t);
    (at.unwrap_or(usize::MAX), t)
}

/// Paradigms (BLiMP's order; others after, by name) × configurations, only those `keep` allows,
/// titled `title`.
fn paradigms_grid(
    end: &[&Record],
    keep: impl Fn(&str) -> bool,
    title: String,
    fig: &FigureOptions,
) -> Grid {
    let mut rows: Vec<String> = Vec::new();
    for t in end.iter().filter_map(|r| r.task.as_ref()) {
        if keep(t) && !rows.contains(t) {
            rows.push(t.clone());
        }
    }
    rows.sort_by(|a, b| rank(a).cmp(&rank(b)));
    let configs = series::ordered(end.iter().map(|r| r.run.configuration()));
    let mut values: BTreeMap<(usize, Configuration), Vec<f64>> = BTreeMap::new();
    for r in end {
        let Some(row) = r
            .task
            .as_ref()
            .and_then(|t| rows.iter().position(|x| x == t))
        else {
            continue;
        };
        values
            .entry((row, r.run.configuration()))
            .or_default()
            .push(r.acc);
    }
    Grid {
        title,
        cells: cells(values, &configs),
        boxed: rows.len(),
        rows,
        configs,
        scale: scale_of(fig),
        style: fig.style,
    }
}

/// Paradigms × configurations.
pub fn paradigm_grid(tasks: &[Record], fig: &FigureOptions) -> Result<Grid> {
    let end = chosen(tasks, fig)?;
    let title = format!(
        "BLiMP paradigms {} (mean ± std over seeds; white = lowest, blue = highest)",
        checkpoint_text(fig)
    );
    Ok(paradigms_grid(&end, |_| true, title, fig))
}

/// One grid per paper group present: its paradigms × configurations.
pub fn detail_grids(tasks: &[Record], fig: &FigureOptions) -> Result<Vec<(String, Grid)>> {
    let end = chosen(tasks, fig)?;
    let mut out = Vec::new();
    for group in PAPER_GROUPS {
        let in_group = |t: &str| {
            end.iter()
                .find(|r| r.task.as_deref() == Some(t))
                .and_then(|r| r.phenomenon.as_deref())
                .and_then(paper_group)
                == Some(group)
        };
        let title = format!(
            "BLiMP · {group}: its paradigms {} (mean ± std over seeds)",
            checkpoint_text(fig)
        );
        let grid = paradigms_grid(&end, in_group, title, fig);
        if grid.rows.is_empty() {
            continue;
        }
        out.push((detail_stem(group), grid));
    }
    Ok(out)
}

/// A group cell the paper's way: the mean of its paradigms' means over seeds, ± the mean of their
/// standard deviations over seeds (`grouped_plots.py`); `per_paradigm` holds each paradigm's
/// accuracies over seeds.
pub fn paper_cell(per_paradigm: &[Vec<f64>]) -> Option<Spread> {
    let spreads: Vec<Spread> = per_paradigm.iter().filter_map(|v| Spread::of(v)).collect();
    if spreads.is_empty() {
        return None;
    }
    let n = spreads.len() as f64;
    let means: Vec<f64> = spreads.iter().map(|s| s.mean).collect();
    Some(Spread {
        mean: means.iter().sum::<f64>() / n,
        std: spreads.iter().map(|s| s.std).sum::<f64>() / n,
        min: means.iter().copied().fold(f64::MAX, f64::min),
        max: means.iter().copied().fold(f64::MIN, f64::max),
        n: spreads.iter().map(|s| s.n).min().unwrap_or(0),
    })
}

/// The paper's 12 groups and overall × configurations. lmeff's cells: each run's mean over the
/// group's paradigms, then mean ± std over seeds; the paper's: [`paper_cell`].
pub fn group_grid(overall: &[Record], tasks: &[Record], fig: &FigureOptions) -> Result<Grid> {
    let task_end = chosen(tasks, fig)?;
    let group_of = |r: &Record| {
        let g = r.phenomenon.as_deref().and_then(paper_group)?;
        PAPER_GROUPS.iter().position(|p| *p == g)
    };
    let mut present: Vec<usize> = task_end.iter().filter_map(|r| group_of(r)).collect();
    present.sort();
    present.dedup();
    let mut rows: Vec<String> = present
        .iter()
        .map(|&g| PAPER_GROUPS[g].to_owned())
        .collect();
    rows.push("overall".into());
    let end = at(overall, fig.heatmap_milestone);
    let configs = series::ordered(end.iter().chain(&task_end).map(|r| r.run.configuration()));
    let cells = match fig.style {
        FigureStyle::Lmeff => lmeff_group_cells(&task_end, &end, &present, &configs),
        FigureStyle::Paper => paper_group_cells(&task_end, &present, &configs),
    };
    let spread = match fig.style {
        FigureStyle::Lmeff => "mean ± std over seeds",
        FigureStyle::Paper => "mean of paradigm means ± mean of their std over seeds",
    };
    Ok(Grid {
        title: format!(
            "BLiMP phenomenon groups (the paper's 12) and overall {} ({spread})",
            checkpoint_text(fig)
        ),
        cells,
        boxed: present.len(),
        rows,
        configs,
        scale: scale_of(fig),
        style: fig.style,
    })
}

/// lmeff's group cells: per run the mean over the group's paradigms, then over seeds.
fn lmeff_group_cells(
    task_end: &[&Record],
    end: &[&Record],
    present: &[usize],
    configs: &[Configuration],
) -> BTreeMap<(usize, usize), Spread> {
    let mut per_run: BTreeMap<(&crate::analysis::record::RunKey, usize), Vec<f64>> =
        BTreeMap::new();
    for r in task_end {
        let g = r.phenomenon.as_deref().and_then(paper_group);
        if let Some(row) = g.and_then(|g| present.iter().position(|&p| PAPER_GROUPS[p] == g)) {
            per_run.entry((&r.run, row)).or_default().push(r.acc);
        }
    }
    let mut values: BTreeMap<(usize, Configuration), Vec<f64>> = BTreeMap::new();
    for ((run, row), accs) in &per_run {
        values
            .entry((*row, run.configuration()))
            .or_default()
            .push(accs.iter().sum::<f64>() / accs.len() as f64);
    }
    for r in end {
        values
            .entry((present.len(), r.run.configuration()))
            .or_default()
            .push(r.acc);
    }
    cells(values, configs)
}

/// The paper's group cells ([`paper_cell`]); its overall row is the same over every paradigm.
fn paper_group_cells(
    task_end: &[&Record],
    present: &[usize],
    configs: &[Configuration],
) -> BTreeMap<(usize, usize), Spread> {
    // (configuration, paradigm) → accuracies over seeds, and each paradigm's group row.
    let mut by: BTreeMap<(usize, &str), Vec<f64>> = BTreeMap::new();
    let mut row_of: BTreeMap<&str, usize> = BTreeMap::new();
    for r in task_end {
        let (Some(t), Some(g)) = (
            r.task.as_deref(),
            r.phenomenon.as_deref().and_then(paper_group),
        ) else {
            continue;
        };
        let Some(row) = present.iter().position(|&p| PAPER_GROUPS[p] == g) else {
            continue;
        };
        let Some(ci) = configs.iter().position(|c| *c == r.run.configuration()) else {
            continue;
        };
        row_of.insert(t, row);
        by.entry((ci, t)).or_default().push(r.acc);
    }
    let mut out = BTreeMap::new();
    for ci in 0..configs.len() {
        for row in 0..=present.len() {
            let members: Vec<Vec<f64>> = by
                .iter()
                .filter(|((c, t), _)| *c == ci && (row == present.len() || row_of[t] == row))
                .map(|(_, v)| v.clone())
                .collect();
            if let Some(s) = paper_cell(&members) {
                out.insert((row, ci), s);
            }
        }
    }
    out
}

/// Accuracy per phenomenon and anchor, over full runs.
pub fn heat(phenomena: &[Record]) -> heatmaps::Heat {
    let mut acc: BTreeMap<String, BTreeMap<(u64, String), [f64; 2]>> = BTreeMap::new();
    for r in phenomena.iter().filter(|r| r.run.is_full()) {
        let Some(p) = &r.phenomenon else { continue };
        let key = (
            (r.milestone.order().min(1e12) * 1e6) as u64,
            r.milestone.to_string(),
        );
        let e = acc.entry(p.clone()).or_default().entry(key).or_default();
        e[0] += r.acc;
        e[1] += 1.0;
    }
    acc.into_iter()
        .map(|(p, m)| (p, m.into_iter().map(|(k, [s, n])| (k, s / n)).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_group_cell_averages_paradigm_means_and_their_seed_stds() {
        // Two paradigms over three seeds each; pandas: mean of the means, mean of std(ddof=1).
        let a = vec![0.6, 0.7, 0.8];
        let b = vec![0.9, 0.9, 0.9];
        let s = paper_cell(&[a, b]).unwrap();
        assert!((s.mean - 0.8).abs() < 1e-12, "{s:?}");
        assert!((s.std - 0.05).abs() < 1e-12, "{s:?}"); // (0.1 + 0) / 2
        assert_eq!(paper_cell(&[]), None);
    }

    #[test]
    fn detail_stems_are_plain_file_names() {
        for g in PAPER_GROUPS {
            let stem = detail_stem(g);
            assert!(
                stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{stem}"
            );
        }
        let mut stems: Vec<String> = PAPER_GROUPS.iter().map(|g| detail_stem(g)).collect();
        stems.sort();
        stems.dedup();
        assert_eq!(stems.len(), PAPER_GROUPS.len());
    }
}
