//! End-to-end tests of the decisions between configurations in `lmeff aggregate`: a study-shaped
//! synthetic input (18 configurations × 3 seeds over 3 datasets, 3 sizes and 2 vocabularies,
//! anchors 25…2000 and final, bigger models starting worse and ending better), every statistic
//! recomputed by numpy and scipy.

use std::fmt::Write as _;

use crate::common;
use crate::common::Scratch;

const DATASETS: [(&str, f64); 3] = [("tinystories", 0.0), ("babylm", 0.015), ("web", 0.03)];
/// Model size, final level and how far below it the curve starts.
const SIZES: [(&str, f64, f64); 3] = [
    ("20m", 0.70, 0.08),
    ("60m", 0.73, 0.12),
    ("180m", 0.76, 0.17),
];
const VOCABS: [(u32, f64); 2] = [(8000, 0.0), (16000, 0.006)];
const ANCHORS: [f64; 7] = [25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0];

/// A uniform number in [-1, 1] from a counter (the same table on every machine).
fn noise(parts: &[u64]) -> f64 {
    let h = parts.iter().fold(0x9E37_79B9_7F4A_7C15u64, |h, &p| {
        (h ^ p).wrapping_mul(0x0100_0000_01b3)
    });
    let h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// The study as a long table: acc(t) = a − b·(t/25)^(−1/2) + a seed's offset + noise; the final
/// at 2,500M tokens; and one budget run, which decisions leave out.
pub(crate) fn study() -> String {
    let mut csv = String::from("dataset,model_size,milestone,vocab_size,seed,acc,anchor\n");
    for (d, (dataset, dd)) in DATASETS.iter().enumerate() {
        for (m, (size, a, b)) in SIZES.iter().enumerate() {
            for (v, (vocab, dv)) in VOCABS.iter().enumerate() {
                for seed in 0..3u64 {
                    let id = [d as u64, m as u64, v as u64, seed];
                    let offset = 0.003 * noise(&id);
                    let acc = |t: f64, k: u64| {
                        let n = 0.004 * noise(&[id[0], id[1], id[2], seed, k]);
                        a + dd + dv - b * (t / 25.0).powf(-0.5) + offset + n
                    };
                    for (k, t) in ANCHORS.iter().enumerate() {
                        let _ = writeln!(
                            csv,
                            "{dataset},{size},{t},{vocab},{seed},{:.6},full",
                            acc(*t, k as u64)
                        );
                    }
                    let _ = writeln!(
                        csv,
                        "{dataset},{size},final,{vocab},{seed},{:.6},full",
                        acc(2500.0, 99)
                    );
                }
            }
        }
    }
    csv + "web,180m,25,16000,0,0.99,25M\nweb,180m,final,16000,0,0.99,25M\n"
}

/// `lmeff aggregate` of `inputs` (flags) into `out`, with 300 bootstrap draws from seed 11; the
/// folder of its tables.
fn aggregate(s: &Scratch, inputs: &[&str], out: &str) -> std::path::PathBuf {
    let o = s
        .lmeff()
        .arg("aggregate")
        .args(inputs)
        .args(["--out", out, "--bootstrap", "300", "--bootstrap-seed", "11"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    s.path().join(out).join("data")
}

/// Runs a check script of `tests/python/` and returns what it printed.
pub(crate) fn python<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> String {
    let o = std::process::Command::new(common::python())
        .arg(common::repo().join("tests/python").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

#[test]
fn decisions_between_configurations_equal_numpy_and_scipy() {
    let s = Scratch::new();
    fs_err::write(s.path().join("study.csv"), study()).unwrap();
    let imported = aggregate(&s, &["--import-csv", "study.csv"], "from-table");
    // The same study as lmeff's own result files.
    let (study_csv, results) = (s.path().join("study.csv"), s.path().join("results"));
    let args = [study_csv.as_os_str(), results.as_os_str(), "2500".as_ref()];
    let wrote = python("write_lmeff_results.py", &args);
    assert_eq!(
        wrote, "434",
        "18 configurations × 3 seeds × 8 checkpoints, and a budget run"
    );
    let own = aggregate(&s, &["--results", "results"], "from-results");
    for data in [&imported, &own] {
        // 9 groups (global, 3 sizes, 3 datasets, across sizes at each vocabulary) × 7 anchors.
        let (overall, decisions) = (data.join("overall.csv"), data.join("decisions.csv"));
        let models = common::repo().join("configs/models");
        let args = [
            overall.as_os_str(),
            decisions.as_os_str(),
            "300".as_ref(),
            "11".as_ref(),
            models.as_os_str(),
        ];
        let said = python("decisions_check.py", &args);
        assert_eq!(said, "ok 63", "{}", data.display());
        assert!(data.join("decisions.parquet").is_file());
    }
    // Extrapolation judged by its decisions: only lmeff's files know the finals' token counts, so
    // only they are fitted (acc(t) = a − b·t^(−c) over 3 anchors and more: 5 milestones).
    assert_eq!(python("prediction_check.py", &[own.as_os_str()]), "ok 5");
    // Noise, seeds as replicates: a table knows no pair counts, so the one-seed budget run gets no
    // chance verdict from it; lmeff's own files know them, and their pairs give the margin.
    let said = python("noise_check.py", &[imported.as_os_str()]);
    assert_eq!(
        said, "ok 144 1 8",
        "18 × 8 checkpoints; overall at 8 checkpoints"
    );
    let margins = s.path().join("margins.csv");
    let args = [own.as_os_str(), results.as_os_str(), margins.as_os_str()];
    let said = python("noise_check.py", &args);
    assert_eq!(
        said, "ok 290 2 24",
        "accuracy at 146 checkpoints (the budget run's by its pairs) and the margin at 144; \
         accuracy, paradigm and margin at 8"
    );
    let models = common::repo().join("configs/models");
    let args = [
        margins.as_os_str(),
        own.join("decisions.csv").into_os_string().as_os_str(),
        "300".as_ref(),
        "11".as_ref(),
        models.as_os_str(),
        "blimp_margin".as_ref(),
    ]
    .map(std::ffi::OsStr::to_owned);
    assert_eq!(python("decisions_check.py", &args), "ok 63");
    let chance = fs_err::read_to_string(own.join("chance.csv")).unwrap();
    assert!(
        chance.contains(",25M,final,1,0.99,,0.5,") && chance.contains(",binomial,above chance"),
        "{chance}"
    );
    let report = fs_err::read_to_string(own.parent().unwrap().join("report.md")).unwrap();
    assert!(
        report.contains("2 BLiMP pair(s) scored here have identical good and bad sentences: `passive_1` #324, `passive_1` #810."),
        "{report}"
    );
    assert!(
        report.contains("With the continuous measure, the mean margin")
            && report.contains("Accuracy rises with training")
            && report.contains("judged by a one-sample t test over their seeds"),
        "{report}"
    );
    // The same decisions of accuracy from a table and from result files (only the files have
    // pairs, and so the margin's rows); only the result files know the runs' token counts, so only they give the compute spent (at 25M of 2,500M: 1%).
    let table = |data: &std::path::Path| -> Vec<csv::StringRecord> {
        let mut r = csv::Reader::from_path(data.join("decisions.csv")).unwrap();
        let rows = r.records().map(Result::unwrap);
        rows.filter(|r| &r[1] == "blimp").collect()
    };
    let (from_table, from_results) = (table(imported.as_path()), table(own.as_path()));
    assert_eq!(from_table.len(), from_results.len());
    for (a, b) in from_table.iter().zip(&from_results) {
        let n = a.len();
        let head =
            |r: &csv::StringRecord| r.iter().take(n - 2).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(head(a), head(b));
        assert_eq!(&a[n - 2], "", "no token counts in a table: {a:?}");
        let m: f64 = b[2].parse().unwrap();
        let fraction: f64 = b[n - 2].parse().unwrap();
        assert!((fraction - m / 2500.0).abs() < 1e-12, "{b:?}");
    }
    // Again into the same folder (it replaces its own tables), with a seeds plan.
    let again = s
        .lmeff()
        .args([
            "aggregate",
            "--import-csv",
            "study.csv",
            "--out",
            "from-table",
        ])
        .args([
            "--bootstrap",
            "300",
            "--bootstrap-seed",
            "11",
            "--seeds-plan",
            "1,3,10",
        ])
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let plan_csv = imported.join("seeds_plan.csv");
    let args = [imported.join("overall.csv"), plan_csv.clone()];
    assert_eq!(
        python("seeds_plan_check.py", &args),
        "ok 189",
        "63 group × anchor rows × 3 seed counts, as scipy computes them"
    );
    let plan = fs_err::read_to_string(&plan_csv).unwrap();
    let global_25: Vec<&str> = plan
        .lines()
        .filter(|l| l.starts_with("global,blimp,25,"))
        .collect();
    assert_eq!(global_25.len(), 3, "{plan}");
    let resolved = |l: &str| l.split(',').nth(6).unwrap().parse::<f64>().unwrap();
    assert!(
        resolved(global_25[2]) > resolved(global_25[0]),
        "{global_25:?}"
    );

    // The crossing is there, and the report leads with it: within one size the 25M ranking is
    // already right; across sizes the final winner (a 180m) is far down at 25M.
    let rows = csv::Reader::from_path(imported.join("decisions.csv"))
        .unwrap()
        .into_records()
        .map(Result::unwrap)
        .collect::<Vec<_>>();
    let at_25 = |group: &str| {
        rows.iter()
            .find(|r| &r[0] == group && &r[2] == "25")
            .unwrap_or_else(|| panic!("{group} at 25M"))
            .clone()
    };
    assert_eq!(&at_25("model_size=20m")[9], "1");
    assert_eq!(&at_25("model_size=20m")[5], "1");
    let across: i64 = at_25("across_sizes,vocab_size=16000")[9].parse().unwrap();
    assert!(
        across > 3,
        "the final winner ranks {across} at 25M across sizes"
    );
    let report = fs_err::read_to_string(imported.parent().unwrap().join("report.md")).unwrap();
    let lead = report
        .split("## Which configuration wins")
        .nth(1)
        .expect("the decisions section leads");
    assert!(
        lead.contains("- `model_size=20m`: from **25M tokens** the ranking of configurations is right in 100% of pairs"),
        "{lead}"
    );
    assert!(lead.contains("- `global`: from **500M tokens**"), "{lead}");
}
