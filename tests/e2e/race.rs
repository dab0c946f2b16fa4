//! End-to-end tests of `lmeff race --replay`: the study-shaped synthetic input of the decisions
//! test (crossing curves between sizes) plus a configuration clearly worse than its size's
//! others, replayed from lmeff's own result files and from a table; every elimination, p-value,
//! rank and compute share recomputed with scipy.

use std::fmt::Write as _;

use crate::common::{self, Scratch};
use crate::decisions::{python, study};

/// The study, and `broken` at 20m/8000: tinystories' curve 0.08 lower.
fn with_a_loser() -> String {
    let base = study();
    let mut out = base.clone();
    for line in base.lines().filter(|l| l.starts_with("tinystories,20m,")) {
        let cells: Vec<&str> = line.split(',').collect();
        if cells[3] != "8000" {
            continue;
        }
        let acc: f64 = cells[5].parse().unwrap();
        let _ = writeln!(
            out,
            "broken,20m,{},8000,{},{:.6},full",
            cells[2],
            cells[4],
            acc - 0.08
        );
    }
    out
}

fn race(s: &Scratch, args: &[&str]) -> std::process::Output {
    s.lmeff().arg("race").args(args).output().unwrap()
}

/// race_check.py of the replay in `out`, against the aggregate `agg` of the same results.
fn check(s: &Scratch, agg: &str, out: &str, group_by: &str) -> String {
    let p = |f: &str| s.path().join(f).into_os_string();
    let args = [
        p(&format!("{agg}/data/overall.csv")),
        p(&format!("{out}/race.csv")),
        p(&format!("{out}/race.json")),
        group_by.into(),
        "25".into(),
        "0.05".into(),
        "2".into(),
        common::repo().join("configs/models").into_os_string(),
    ];
    python("race_check.py", &args)
}

#[test]
fn the_guarded_race_stops_the_loser_and_never_the_best() {
    let s = Scratch::new();
    s.write("study.csv", &with_a_loser());
    let (study_csv, results) = (s.path().join("study.csv"), s.path().join("results"));
    let args = [study_csv.as_os_str(), results.as_os_str(), "2500".as_ref()];
    assert_eq!(python("write_lmeff_results.py", &args), "458");
    for (input, out) in [
        (["--results", "results"], "agg"),
        (["--import-csv", "study.csv"], "agg-table"),
    ] {
        let agg = s
            .lmeff()
            .arg("aggregate")
            .args(input)
            .args(["--out", out, "--bootstrap", "50"])
            .output()
            .unwrap();
        assert!(
            agg.status.success(),
            "{}",
            String::from_utf8_lossy(&agg.stderr)
        );
    }

    // Within a size (the default), from lmeff's result files (token counts known).
    let o = race(&s, &["--replay", "results", "--out", "race"]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Within a size the synthetic datasets differ by 0.015 and 0.03, several seed noises: the
    // race cuts every group to the two it keeps, the loser first.
    assert_eq!(check(&s, "agg", "race", "model_size"), "ok 19 13", "{said}");
    let rows = fs_err::read_to_string(s.path().join("race/race.csv")).unwrap();
    let broken = rows.lines().find(|l| l.contains(",broken,")).unwrap();
    assert!(
        broken.contains(",broken,20m,8000,cosine,25,-0.1"),
        "{broken}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&fs_err::read(s.path().join("race/race.json")).unwrap()).unwrap();
    let groups = json["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3);
    assert!(groups.iter().all(|g| g["best_survived"] == true), "{json}");
    let saved = groups
        .iter()
        .find(|g| g["group"] == "model_size=20m")
        .unwrap();
    assert!(saved["compute_fraction"].as_f64().unwrap() < 1.0, "{json}");
    assert!(
        said.contains("model_size=20m: 5 of 7 configurations stopped; the final best survived"),
        "{said}"
    );
    let png = fs_err::read(s.path().join("race/race.png")).unwrap();
    assert!(&png[1..4] == b"PNG" && png.len() > 5_000);

    // Across sizes (groups by dataset), where curves cross: the race is no longer guarded, and the
    // check still equals scipy from the table (no token counts: compute unknown).
    let o = race(
        &s,
        &[
            "--replay",
            "study.csv",
            "--group-by",
            "dataset",
            "--out",
            "by-dataset",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = check(&s, "agg-table", "by-dataset", "dataset");
    assert!(said.starts_with("ok 19 "), "{said}");
    let json: serde_json::Value =
        serde_json::from_slice(&fs_err::read(s.path().join("by-dataset/race.json")).unwrap())
            .unwrap();
    let lost = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["best_survived"] == false)
        .count();
    assert!(
        lost > 0,
        "across sizes a bigger model that starts worse is stopped: {json}"
    );
    assert!(json["compute_fraction"].is_null());

    // Bad input: a clear error, and nothing of the user's touched.
    let o = race(
        &s,
        &["--replay", "results", "--out", "race", "--alpha", "2"],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("race.alpha must lie between 0 and 1"));
    s.write("mine/notes.txt", "mine");
    let o = race(&s, &["--replay", "results", "--out", "mine"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to replace"));
    assert_eq!(
        fs_err::read_to_string(s.path().join("mine/notes.txt")).unwrap(),
        "mine"
    );
}
