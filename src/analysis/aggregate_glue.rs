//! The GLUE stage of `lmeff aggregate`: measured results → `glue`, `glue_macro`,
//! `glue_fidelity`, `glue_predictiveness` and `glue_agreement` tables, ranked and drawn at one
//! training-set size (the whole sets where there are any).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;

use super::glue::{self, GlueRow, MacroRow};
use super::glue_fidelity::{self, FidelityRow};
use super::glue_ranking::{self, AgreementRow};
use super::inputs::Record;
use super::predictiveness::Row;
use super::summary::AggregateOptions;
use super::table::Table;

/// What the GLUE stage wrote and what the summary and figures read.
pub struct GlueTables {
    pub rows: Vec<GlueRow>,
    pub macro_rows: Vec<MacroRow>,
    /// The training-set cap ranked and drawn (None: whole sets).
    pub cap: Option<i64>,
    pub fidelity: Vec<FidelityRow>,
    pub macro_records: Vec<Record>,
    pub task_records: Vec<Record>,
    pub predictiveness: Vec<(String, Row)>,
    pub agreement: Vec<AgreementRow>,
}

impl GlueTables {
    /// Checkpoint × task results.
    pub fn results(&self) -> usize {
        self.rows
            .iter()
            .map(|r| (r.checkpoint(), &r.task))
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// Writes the GLUE tables of `glue_rows` into `data`; `overall` holds BLiMP's overall
/// accuracies, for the agreement of the two benchmarks.
pub fn write(
    glue_rows: Vec<GlueRow>,
    overall: &[Record],
    o: &AggregateOptions,
    data: &Path,
) -> Result<GlueTables> {
    let glue_macro = glue::macro_rows(&glue_rows);
    Table::from_rows(&glue_rows)?.write(data, "glue")?;
    Table::from_rows(&glue_macro)?.write(data, "glue_macro")?;
    let glue_fidelity = glue_fidelity::fidelity(&glue_macro);
    Table::from_rows(&glue_fidelity)?.write(data, "glue_fidelity")?;
    // Rankings and figures use one training-set size: the whole sets where there are any.
    let glue_cap = glue::primary_cap(&glue_rows).flatten();
    let primary: Vec<GlueRow> = glue_rows
        .iter()
        .filter(|r| r.max_train_examples == glue_cap)
        .cloned()
        .collect();
    let primary_macro: Vec<MacroRow> = glue_macro
        .iter()
        .filter(|m| m.max_train_examples == glue_cap)
        .cloned()
        .collect();
    let (glue_macro_records, glue_task_records) = glue_ranking::records(&primary, &primary_macro);
    let glue_predictiveness =
        glue_ranking::predictiveness(&glue_macro_records, &glue_task_records, o.draws, o.seed);
    Table::from_rows(&glue_ranking::table_rows(&glue_predictiveness))?
        .write(data, "glue_predictiveness")?;
    let glue_agreement = glue_ranking::agreement(overall, &glue_macro_records, o.draws, o.seed);
    Table::from_rows(&glue_agreement)?.write(data, "glue_agreement")?;

    Ok(GlueTables {
        rows: glue_rows,
        macro_rows: glue_macro,
        cap: glue_cap,
        fidelity: glue_fidelity,
        macro_records: glue_macro_records,
        task_records: glue_task_records,
        predictiveness: glue_predictiveness,
        agreement: glue_agreement,
    })
}
