//! End-to-end tests of `lmeff eval glue` on a tiny trained checkpoint and on one built the study's
//! way in transformers, with tasks made from the sample corpora (no GLUE data here): a
//! single-sentence task (TinyStories line or web line?) and a pair task with long pairs (do two
//! passages come from the same corpus?), in the layout `lmeff data fetch glue` writes. The kept
//! heads are loaded by transformers' `LlamaForSequenceClassification`, which must give the same
//! logits and token counts for every test example; and a traced run replays in a plain PyTorch
//! loop step for step.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::common;
use crate::common::glue::tasks;
use crate::common::{python, run, shared_data, study_checkpoint, train_tiny, Scratch};

const FINAL: &str = "output/models/tinystories/llama-tiny/tokenizer-1000-seed-0/budget-0.05M/final";

fn trained() -> &'static Scratch {
    static DONE: OnceLock<Scratch> = OnceLock::new();
    DONE.get_or_init(|| {
        let s = Scratch::new();
        let (ok, _, err) = train_tiny(
            &s,
            &[("LMEFF_MILESTONES", "[0.01]")],
            &["--anchor", "0.05", "--seed", "0"],
        );
        assert!(ok, "{err}");
        s
    })
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("glue_results.json")).unwrap()).unwrap()
}

/// transformers on a kept head agrees with lmeff's test predictions.
fn transformers_agrees(head: &Path, split: &Path, predictions: &Path) {
    let out = Command::new(python())
        .arg(common::repo().join("tests/python/glue_check.py"))
        .args([head, split, predictions])
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
}

#[test]
fn a_checkpoint_is_fine_tuned_learns_and_transformers_loads_its_heads() {
    let s = Scratch::new();
    tasks(&s.path().join("glue"));
    let ck = trained().path().join(FINAL);
    let glue = |extra: &[&str]| {
        run(s
            .lmeff()
            .args(["eval", "glue", "--checkpoint"])
            .arg(&ck)
            .args(["--data", "glue", "--tasks", "sst2,mrpc", "--out", "res"])
            .args(extra))
    };
    let (ok, out, err) = glue(&["--keep-heads"]);
    assert!(ok, "{err}");
    assert_eq!(out.matches("test accuracy").count(), 2, "{out}");
    let res = s.path().join("res");
    let sum = summary(&res);
    // TinyStories lines are 60% of the test set: the classifier must do clearly better.
    let acc = sum["tasks"]["sst2"]["test"]["accuracy"].as_f64().unwrap();
    assert!(acc > 0.75, "sst2 test accuracy {acc}: {sum}");
    assert!(sum["tasks"]["mrpc"]["best_epoch"].as_u64().unwrap() >= 1);
    for task in ["sst2", "mrpc"] {
        transformers_agrees(
            &res.join("heads").join(task),
            &s.path().join("glue").join(task).join("test.jsonl"),
            &res.join(format!("{task}.parquet")),
        );
        assert!(res.join(format!("{task}_epochs.parquet")).is_file());
    }
    // Unchanged: skipped.
    let (ok, out, err) = glue(&[]);
    assert!(ok && out.matches("up to date").count() == 2, "{out}{err}");
}

#[test]
fn two_epochs_equal_a_plain_pytorch_loop_with_the_same_weights_and_batches() {
    let s = Scratch::new();
    tasks(&s.path().join("glue"));
    let ck = trained().path().join(FINAL);
    let (ok, _, err) = run(s
        .lmeff()
        .args(["eval", "glue", "--checkpoint"])
        .arg(&ck)
        .args([
            "--data",
            "glue",
            "--tasks",
            "sst2,mrpc",
            "--out",
            "res",
            "--epochs",
            "2",
            "--trace",
            "trace",
        ]));
    assert!(ok, "{err}");
    for task in ["sst2", "mrpc"] {
        let out = Command::new(python())
            .arg(common::repo().join("tests/python/glue_replay.py"))
            .arg(&ck)
            .arg(s.path().join("trace").join(task))
            .arg(s.path().join("glue").join(task).join("train.jsonl"))
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{task}: {report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            report.contains("\"steps\": 20") && report.contains("\"epochs\": 2"),
            "{report}"
        );
    }
}

#[test]
fn a_study_built_checkpoint_is_encoded_as_transformers_encodes_its_pairs() {
    // GPT2TokenizerFast turns the prefix space off: lmeff's pair encoding must follow.
    let s = Scratch::new();
    tasks(&s.path().join("glue"));
    let built = s.path().join("built");
    study_checkpoint(&built);
    let (ok, _, err) = run(s
        .lmeff()
        .args([
            "eval",
            "glue",
            "--checkpoint",
            "built",
            "--data",
            "glue",
            "--tasks",
            "mrpc",
        ])
        .args(["--epochs", "1", "--keep-heads"]));
    assert!(ok, "{err}");
    let res = s.path().join("results/glue/babylm3/20m/seed-0/tok-2000/25");
    transformers_agrees(
        &res.join("heads/mrpc"),
        &s.path().join("glue/mrpc/test.jsonl"),
        &res.join("mrpc.parquet"),
    );
}

#[test]
fn bad_glue_input_is_a_clear_error_and_writes_nothing() {
    let s = Scratch::new();
    tasks(&s.path().join("glue"));
    let ck = trained().path().join(FINAL);
    let glue = |task: &str| {
        run(s
            .lmeff()
            .args(["eval", "glue", "--checkpoint"])
            .arg(&ck)
            .args(["--data", "glue", "--tasks", task, "--out", "res"]))
    };
    let dev = s.path().join("glue/sst2/dev.jsonl");
    let good = std::fs::read_to_string(&dev).unwrap();
    for (bad, says) in [
        (
            "{\"text\": \"no sentence\", \"label\": 1}\n",
            "dev.jsonl:3: sst2: no field `sentence`",
        ),
        (
            "{\"sentence\": \"x\", \"label\": 7}\n",
            "dev.jsonl:3: label 7 is not one of sst2's",
        ),
        (
            "{\"sentence\": \"x\", \"label\": 1\n",
            "dev.jsonl:3: not JSON",
        ),
    ] {
        let mut text: Vec<&str> = good.lines().take(2).collect();
        text.push(bad.trim_end());
        std::fs::write(&dev, text.join("\n") + "\n").unwrap();
        let (ok, _, err) = glue("sst2");
        assert!(!ok && err.contains(says), "{says}: {err}");
    }
    std::fs::write(&dev, "\n").unwrap();
    let (ok, _, err) = glue("sst2");
    assert!(!ok && err.contains("dev.jsonl: no examples"), "{err}");
    let (ok, _, err) = glue("squad");
    assert!(!ok && err.contains("unknown GLUE task `squad`"), "{err}");
    let (ok, _, err) = glue("rte");
    assert!(
        !ok && err.contains("no rte/{train,dev,test}.jsonl"),
        "{err}"
    );
    assert!(!s.path().join("res").exists(), "nothing is written");
}

/// Parquet files with the Hub's schemas (nyu-mll/glue's mrpc, aps/super_glue's wsc) under
/// `dir/glue/`, named as `configs/sources.toml` names them; mrpc's validation row 3 has `bad_label`.
fn hub_parquet(dir: &Path, bad_label: i64) {
    let script = r#"
import sys, pyarrow as pa, pyarrow.parquet as pq
out, bad = sys.argv[1], int(sys.argv[2])
def mrpc(n, bad_row=None):
    labels = [i % 3 != 0 for i in range(n)]
    return pa.table({"sentence1": [f"The company said {i} shares were sold ." for i in range(n)],
                     "sentence2": [f"About {i} shares were sold , the company said ." for i in range(n)],
                     "label": pa.array([bad if i == bad_row else int(l) for i, l in enumerate(labels)], pa.int64()),
                     "idx": pa.array(range(n), pa.int32())})
def wsc(n):
    return pa.table({"text": [f"Mark told Pete many lies about himself , which Pete included in his book {i} ." for i in range(n)],
                     "span1_index": pa.array([0] * n, pa.int32()), "span2_index": pa.array([13] * n, pa.int32()),
                     "span1_text": ["Mark"] * n, "span2_text": ["He"] * n,
                     "idx": pa.array(range(n), pa.int32()), "label": pa.array([i % 2 for i in range(n)], pa.int64())})
pq.write_table(mrpc(50), f"{out}/mrpc.train.parquet")
pq.write_table(mrpc(12, bad_row=2), f"{out}/mrpc.validation.parquet")
pq.write_table(wsc(40), f"{out}/wsc.train.parquet")
pq.write_table(wsc(10), f"{out}/wsc.validation.parquet")
"#;
    let glue = dir.join("glue");
    std::fs::create_dir_all(&glue).unwrap();
    let out = Command::new(python())
        .args(["-c", script])
        .arg(&glue)
        .arg(bad_label.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn jsonl_len(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[test]
fn glue_is_fetched_from_the_hubs_parquet_files_or_a_glue_filtered_folder() {
    let s = Scratch::new();
    let mirror = s.path().join("mirror");
    hub_parquet(&mirror, 1);
    let server = common::http::serve(mirror.clone(), &[]);
    let fetch = |extra: &[&str]| {
        run(s
            .lmeff()
            .args([
                "data",
                "fetch",
                "glue",
                "--dest",
                "data",
                "--mirror",
                &server.base,
            ])
            .arg("--sources")
            .arg(common::repo().join("configs/sources.toml"))
            .args(extra))
    };
    let (ok, out, err) = fetch(&["--tasks", "mrpc,wsc"]);
    assert!(ok, "{out}{err}");
    let glue = s.path().join("data/glue");
    // 10% of train (stratified) is dev; the official validation set is test.
    assert_eq!(
        [
            jsonl_len(&glue.join("mrpc/train.jsonl")),
            jsonl_len(&glue.join("mrpc/dev.jsonl")),
            jsonl_len(&glue.join("mrpc/test.jsonl"))
        ],
        [45, 5, 12]
    );
    assert_eq!(jsonl_len(&glue.join("wsc/dev.jsonl")), 4);
    let dev = std::fs::read_to_string(glue.join("mrpc/dev.jsonl")).unwrap();
    assert!(
        dev.contains("\"sentence1\"") && dev.contains("\"label\""),
        "{dev}"
    );
    let (ok, out, err) = run(s
        .lmeff()
        .args(["eval", "glue", "--checkpoint"])
        .arg(trained().path().join(FINAL))
        .args([
            "--data",
            "data/glue",
            "--tasks",
            "wsc",
            "--epochs",
            "1",
            "--out",
            "res",
        ]));
    assert!(ok && out.contains("wsc: test accuracy"), "{out}{err}");

    // A label the task does not have (GLUE's unlabeled -1): named by file and row; nothing written.
    let bad = Scratch::new();
    hub_parquet(&bad.path().join("mirror"), -1);
    let server = common::http::serve(bad.path().join("mirror"), &[]);
    let (ok, _, err) = run(bad.lmeff().args([
        "data",
        "fetch",
        "glue",
        "--dest",
        "data",
        "--mirror",
        &server.base,
        "--tasks",
        "mrpc",
        "--sources",
        common::repo()
            .join("configs/sources.toml")
            .to_str()
            .unwrap(),
    ]));
    assert!(
        !ok && err.contains("mrpc.validation.parquet: row 3: label -1 is not one of mrpc's"),
        "{err}"
    );
    assert!(!bad.path().join("data/glue/mrpc").exists());

    // The BabyLM pipeline's glue_filtered layout.
    let filtered = s.path().join("glue_filtered");
    std::fs::create_dir_all(&filtered).unwrap();
    let rows = |n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "{{\"sentence1\": \"a {i}\", \"sentence2\": \"b {i}\", \"label\": \"{}\"}}\n",
                    ["entailment", "not_entailment"][i % 2]
                )
            })
            .collect()
    };
    std::fs::write(filtered.join("rte.train.jsonl"), rows(30)).unwrap();
    std::fs::write(filtered.join("rte.valid.jsonl"), rows(8)).unwrap();
    let (ok, out, err) = run(s.lmeff().args([
        "data",
        "fetch",
        "glue",
        "--dest",
        "data",
        "--from",
        "glue_filtered",
    ]));
    assert!(ok, "{out}{err}");
    assert_eq!(
        [
            jsonl_len(&glue.join("rte/dev.jsonl")),
            jsonl_len(&glue.join("rte/test.jsonl"))
        ],
        [3, 8]
    );

    // The pipeline ships mnli-mm's validation file only: mnli-mm trains on MNLI's train file,
    // converted (without --tasks) and fine-tuned straight from the folder.
    let nli = |n: usize, tag: &str| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "{{\"premise\": \"{tag} p {i}\", \"hypothesis\": \"h {i}\", \"label\": {}}}\n",
                    i % 3
                )
            })
            .collect()
    };
    std::fs::write(filtered.join("mnli.train.jsonl"), nli(60, "train")).unwrap();
    std::fs::write(filtered.join("mnli.valid.jsonl"), nli(9, "matched")).unwrap();
    std::fs::write(filtered.join("mnli-mm.valid.jsonl"), nli(6, "mismatched")).unwrap();
    let (ok, out, err) = run(s.lmeff().args([
        "data",
        "fetch",
        "glue",
        "--dest",
        "data",
        "--from",
        "glue_filtered",
    ]));
    assert!(ok && out.contains("glue/mnli-mm"), "{out}{err}");
    let read = |p: &str| std::fs::read_to_string(glue.join(p)).unwrap();
    assert_eq!(read("mnli-mm/train.jsonl"), read("mnli/train.jsonl"));
    assert_eq!(read("mnli-mm/dev.jsonl"), read("mnli/dev.jsonl"));
    assert_eq!(jsonl_len(&glue.join("mnli-mm/test.jsonl")), 6);
    assert!(read("mnli-mm/test.jsonl").contains("mismatched p 5"));
    let (ok, out, err) = run(s
        .lmeff()
        .args(["eval", "glue", "--checkpoint"])
        .arg(trained().path().join(FINAL))
        .args([
            "--data",
            "glue_filtered",
            "--tasks",
            "mnli-mm",
            "--epochs",
            "1",
            "--out",
            "res-mm",
        ]));
    assert!(ok && out.contains("mnli-mm: test accuracy"), "{out}{err}");
    let mm = summary(&s.path().join("res-mm"));
    assert_eq!(mm["tasks"]["mnli-mm"]["train_examples"], 54, "{mm}");
    assert_eq!(
        mm["tasks"]["mnli-mm"]["reported_metric"], "accuracy",
        "{mm}"
    );
}

#[test]
fn the_aggregate_tables_glue_beside_blimp() {
    let s = Scratch::new();
    tasks(&s.path().join("glue"));
    // Two full runs (seeds 0 and 1) of 40 steps, so that there are rankings to compare.
    for seed in ["0", "1"] {
        let (ok, _, err) = train_tiny(
            &s,
            &[("LMEFF_MILESTONES", "[0.01]")],
            &["--seed", seed, "--max-steps", "40"],
        );
        assert!(ok, "{err}");
    }
    let run_of = |seed: u32| {
        s.path().join(format!(
            "output/models/tinystories/llama-tiny/tokenizer-1000-seed-{seed}"
        ))
    };
    for run_dir in [run_of(0), run_of(1)] {
        let (ok, _, err) = run(s
            .lmeff()
            .args(["eval", "glue", "--run"])
            .arg(&run_dir)
            .args(["--data", "glue", "--tasks", "sst2,mrpc", "--epochs", "1"]));
        assert!(ok, "{err}");
        let (ok, _, err) = run(s
            .lmeff()
            .arg("--blimp-dir")
            .arg(shared_data().join("blimp"))
            .args(["eval", "blimp", "--run"])
            .arg(&run_dir)
            .args(["--paradigms", "adjunct_island"]));
        assert!(ok, "{err}");
    }
    let (ok, _, err) = run(s.lmeff().args(["aggregate", "--bootstrap", "50"]));
    assert!(ok, "{err}");
    // A CSV table of an aggregate's `data/` folder, as rows of cells.
    let table_in = |data: &str, name: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(s.path().join(data).join(name))
            .unwrap()
            .lines()
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect()
    };
    let table = |name: &str| table_in("results/data", name);
    let glue = table("glue.csv");
    let col = |t: &[Vec<String>], name: &str| t[0].iter().position(|h| h == name).unwrap();
    // Two runs × two checkpoints (milestone 0.01 and final) × two tasks × two splits.
    assert_eq!(glue.len() - 1, 16, "{glue:?}");
    let (task, split, metric, seed) = (
        col(&glue, "task"),
        col(&glue, "split"),
        col(&glue, "metric"),
        col(&glue, "seed"),
    );
    // The study's measure: accuracy for sst2, F1 for mrpc; both metrics named on every row.
    let (watched, reported) = (col(&glue, "watched_metric"), col(&glue, "reported_metric"));
    for r in &glue[1..] {
        let study = if r[task] == "mrpc" { "f1" } else { "accuracy" };
        assert_eq!(
            (r[metric].as_str(), r[reported].as_str()),
            (study, study),
            "{r:?}"
        );
        assert_eq!(r[watched], "f1", "{r:?}");
        assert_eq!(r[col(&glue, study)], r[col(&glue, "value")], "{r:?}");
    }
    assert_eq!(
        glue[1..]
            .iter()
            .filter(|r| r[task] == "mrpc" && r[split] == "test" && r[seed] == "1")
            .count(),
        2
    );
    let macros = table("glue_macro.csv");
    assert_eq!(macros.len() - 1, 4, "{macros:?}");
    // The macro-average of a checkpoint is the mean of its tasks' test F1.
    let (milestone, test, value) = (
        col(&macros, "milestone"),
        col(&macros, "test"),
        col(&glue, "value"),
    );
    let m_seed = col(&macros, "seed");
    let final_row = macros
        .iter()
        .find(|r| r[milestone] == "final" && r[m_seed] == "0")
        .unwrap();
    let f1s: Vec<f64> = glue[1..]
        .iter()
        .filter(|r| r[split] == "test" && r[col(&glue, "milestone")] == "final" && r[seed] == "0")
        .map(|r| r[value].parse().unwrap())
        .collect();
    let mean = f1s.iter().sum::<f64>() / f1s.len() as f64;
    assert!((final_row[test].parse::<f64>().unwrap() - mean).abs() < 1e-9);
    // Predictiveness of the macro-average and of each task, over the two runs at milestone 0.01.
    let pred = table("glue_predictiveness.csv");
    let (measure, group, n) = (col(&pred, "measure"), col(&pred, "group"), col(&pred, "n"));
    let measures: Vec<&str> = pred[1..]
        .iter()
        .filter(|r| r[group] == "global")
        .map(|r| r[measure].as_str())
        .collect();
    assert_eq!(measures, ["macro", "mrpc", "sst2"], "{pred:?}");
    assert!(pred[1..].iter().all(|r| r[n] == "2"), "{pred:?}");
    // BLiMP against GLUE at both anchors, each ρ of two runs ±1 (or undefined on a tie).
    let agree = table("glue_agreement.csv");
    let (anchor, rho) = (col(&agree, "milestone"), col(&agree, "spearman"));
    assert_eq!(
        agree[1..]
            .iter()
            .map(|r| r[anchor].as_str())
            .collect::<Vec<_>>(),
        ["0.01", "final"],
        "{agree:?}"
    );
    // With two runs, ρ is the sign of (BLiMP difference × GLUE difference), undefined (empty)
    // when either benchmark ties them: computed here from the two tables it was made from.
    let overall = table("overall.csv");
    let value_of = |t: &[Vec<String>], value: &str, seed: &str, m: &str| -> f64 {
        t[1..]
            .iter()
            .find(|r| r[col(t, "seed")] == seed && r[col(t, "milestone")] == m)
            .unwrap_or_else(|| panic!("seed {seed} at {m}"))[col(t, value)]
        .parse()
        .unwrap()
    };
    for r in &agree[1..] {
        let m = r[anchor].as_str();
        let db = value_of(&overall, "acc", "0", m) - value_of(&overall, "acc", "1", m);
        let dg = value_of(&macros, "test", "0", m) - value_of(&macros, "test", "1", m);
        match db * dg {
            0.0 => assert_eq!(r[rho], "", "a tie leaves ρ undefined: {r:?}"),
            p => assert_eq!(r[rho].parse::<f64>().unwrap(), p.signum(), "{r:?}"),
        }
    }
    for figure in ["glue_curves", "glue_heatmap", "glue_agreement"] {
        let png = s.path().join(format!("results/plots/{figure}.png"));
        assert!(
            std::fs::metadata(&png).unwrap().len() > 1000,
            "{}",
            png.display()
        );
    }
    let report = std::fs::read_to_string(s.path().join("results/report.md")).unwrap();
    assert!(
        report.contains("## GLUE") && report.contains("8 fine-tuning results of 4 checkpoints"),
        "{report}"
    );
    assert!(
        report.contains("too few runs (n = 2, fewer than 5) to judge: no verdict"),
        "{report}"
    );
    assert!(report.contains("| final | 2 |"), "{report}");
    assert!(report.contains("plots/glue_heatmap.png"), "{report}");
    assert!(
        report.contains("**Measure: the study's reported metric per task"),
        "{report}"
    );
    assert!(!report.contains("A cheaper GLUE"), "{report}");

    // A cheaper GLUE: the same checkpoints on 64 training examples per task, kept apart from
    // the full results, and judged against them per anchor.
    for run_dir in [run_of(0), run_of(1)] {
        let (ok, _, err) = run(s
            .lmeff()
            .args(["eval", "glue", "--run"])
            .arg(&run_dir)
            .args([
                "--data",
                "glue",
                "--tasks",
                "sst2,mrpc",
                "--epochs",
                "1",
                "--max-train-examples",
                "64",
            ]));
        assert!(ok, "{err}");
    }
    let cheap = summary(
        &s.path()
            .join("results/glue/tinystories/tiny/seed-0/tok-1000/final/max-train-64"),
    );
    assert_eq!(cheap["tasks"]["sst2"]["train_examples"], 64, "{cheap}");
    assert_eq!(cheap["tasks"]["sst2"]["max_train_examples"], 64, "{cheap}");
    let full = summary(
        &s.path()
            .join("results/glue/tinystories/tiny/seed-0/tok-1000/final"),
    );
    assert_eq!(full["tasks"]["sst2"]["train_examples"], 640, "{full}");
    let (ok, _, err) = run(s
        .lmeff()
        .args(["aggregate", "--bootstrap", "50", "--out", "agg2"]));
    assert!(ok, "{err}");
    let table2 = |name: &str| table_in("agg2/data", name);
    let macros = table2("glue_macro.csv");
    assert_eq!(
        macros.len() - 1,
        8,
        "four checkpoints, each full and cheap: {macros:?}"
    );
    let fidelity = table2("glue_fidelity.csv");
    let c = |name: &str| col(&fidelity, name);
    assert_eq!(
        fidelity[1..]
            .iter()
            .map(|r| (
                r[c("max_train_examples")].as_str(),
                r[c("milestone")].as_str(),
                r[c("n")].as_str()
            ))
            .collect::<Vec<_>>(),
        [("64", "0.01", "2"), ("64", "final", "2")],
        "{fidelity:?}"
    );
    for r in &fidelity[1..] {
        assert_eq!(
            (
                r[c("full_examples")].as_str(),
                r[c("cheap_examples")].as_str()
            ),
            ("2560", "256")
        );
        assert_eq!(r[c("examples_saved")].parse::<f64>().unwrap(), 0.9);
        let da: f64 = r[c("decision_accuracy")].parse().unwrap();
        assert!(da == 0.0 || da == 1.0, "one pair of two checkpoints: {r:?}");
    }
    // The rankings still use the full results only: the same predictiveness as before.
    assert_eq!(table2("glue_predictiveness.csv"), pred);
    let report = std::fs::read_to_string(s.path().join("agg2/report.md")).unwrap();
    assert!(report.contains("### A cheaper GLUE"), "{report}");
    assert!(report.contains("| 64 | final | 2 |"), "{report}");
    assert!(report.contains("2560 → 256 | 90.0% |"), "{report}");
}
