//! End-to-end tests of `lmeff aggregate`: the study's long tables, lmeff's own results from real
//! tiny runs with a missing-results report, and bad input.

use crate::common;
use crate::common::{prepared_tinystories, run, shared_data, Scratch};

/// The figures every aggregate draws (each as PNG, SVG and PDF).
const FIGURES: [&str; 8] = [
    "learning_curves",
    "all_configurations",
    "predictiveness",
    "paradigm_heatmap",
    "group_heatmap",
    "phenomena_heatmap",
    "decision_frontier",
    "signal_noise",
];

/// `lmeff aggregate` of the scratch folder's `overall.csv` and `tasks.csv` into `agg/`.
/// (No BLiMP folder: the paradigms' phenomena are facts lmeff carries.)
fn aggregate_imports(s: &Scratch, bootstrap: u32) -> std::process::Command {
    aggregate_imports_into(s, bootstrap, "agg", &[])
}

/// The same into `out/`, with `extra` arguments.
fn aggregate_imports_into(
    s: &Scratch,
    bootstrap: u32,
    out: &str,
    extra: &[&str],
) -> std::process::Command {
    let mut cmd = s.lmeff();
    cmd.args([
        "aggregate",
        "--import-csv",
        "overall.csv",
        "--import-csv",
        "tasks.csv",
    ])
    .args(["--out", out, "--bootstrap", &bootstrap.to_string()])
    .args(extra);
    cmd
}

fn csv_rows(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

#[test]
fn imports_the_study_tables_and_finds_the_earliest_anchor() {
    let s = Scratch::new();
    let mut overall = String::from("dataset,model_size,milestone,vocab_size,seed,acc\n");
    let mut tasks = String::from("dataset,model_size,milestone,vocab_size,seed,task,acc\n");
    // Five runs: at 25M the order is scrambled (ρ = 0.3, as scipy), at 50M it is the final order (ρ = 1).
    for (seed, a25, a50, fin) in [
        (0, 0.60, 0.61, 0.70),
        (1, 0.64, 0.62, 0.72),
        (2, 0.62, 0.66, 0.74),
        (3, 0.61, 0.68, 0.76),
        (4, 0.63, 0.70, 0.78),
    ] {
        for (m, a) in [("25", a25), ("50", a50), ("final", fin)] {
            overall += &format!("tinystories,20m,{m},16000,{seed},{a}\n");
            tasks += &format!("tinystories,20m,{m},16000,{seed},blimp_adjunct_island,{a}\n");
        }
    }
    s.write("overall.csv", &overall);
    s.write("tasks.csv", &tasks);
    let (ok, out, err) = run(&mut aggregate_imports(&s, 2000));
    assert!(ok, "{err}");
    assert!(
        out.contains("global: Spearman ρ ≥ 0.9 from 50M tokens"),
        "{out}"
    );
    let p = csv_rows(&s.path().join("agg/data/predictiveness.csv"));
    let global: Vec<_> = p.iter().filter(|r| r["group"] == "global").collect();
    assert_eq!(global.len(), 2);
    assert_eq!(global[0]["milestone"], "25");
    assert!((global[0]["spearman"].parse::<f64>().unwrap() - 0.3).abs() < 1e-12);
    assert_eq!(global[0]["n"], "5");
    // p-values as scipy computes them (exact permutation test for n ≤ 8), checked in the venv.
    assert_eq!(global[0]["p_method"], "exact");
    let check = std::process::Command::new(common::python())
        .arg(common::repo().join("tests/python/spearman_p_check.py"))
        .arg(s.path().join("overall.csv"))
        .arg(s.path().join("agg/data/predictiveness.csv"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!((global[1]["spearman"].parse::<f64>().unwrap() - 1.0).abs() < 1e-12);
    assert!((global[1]["decision_accuracy"].parse::<f64>().unwrap() - 1.0).abs() < 1e-12);
    let lo: f64 = global[0]["spearman_lo"].parse().unwrap();
    let hi: f64 = global[0]["spearman_hi"].parse().unwrap();
    assert!(lo <= 0.3 && 0.3 <= hi, "{lo} {hi}");
    // The paradigm's phenomenon is known without BLiMP's files: the paper's group by default.
    let ph = csv_rows(&s.path().join("agg/data/per_phenomenon.csv"));
    assert_eq!(ph.len(), 15);
    assert!(ph.iter().all(|r| r["phenomenon"] == "Island Effects"));
    // The study's own tables, as its plotting scripts read them.
    let study = |f: &str| csv_rows(&s.path().join("agg/study").join(f));
    let rho = study("blimp_global_spearman.csv");
    assert_eq!((rho[0]["milestone"].as_str(), rho.len()), ("25", 2));
    assert!((rho[0]["global"].parse::<f64>().unwrap() - 0.3).abs() < 1e-12);
    assert_eq!(study("blimp_global_r2.csv").len(), 2);
    assert_eq!(study("blimp_all_overall.csv").len(), 15);
    let t = study("blimp_all_tasks.csv");
    assert_eq!((t.len(), t[0]["task"].as_str()), (15, "adjunct_island"));
    assert_eq!(
        std::fs::read_to_string(s.path().join("agg/study/blimp_all_tasks.csv"))
            .unwrap()
            .lines()
            .next(),
        Some("dataset,model_size,milestone,vocab_size,seed,task,acc")
    );
    let report = std::fs::read_to_string(s.path().join("agg/report.md")).unwrap();
    assert!(
        report.contains("- `global`: from **50M tokens** the ranking of runs has Spearman ρ ≥ 0.9"),
        "{report}"
    );
    assert!(
        report.contains("| `global` | 25 | 5 | 0.300 | 0.683 (exact) |"),
        "{report}"
    );
    assert!(
        report.contains("Not listed again") && report.contains("`model_size=20m` (= `global`)"),
        "{report}"
    );
    assert_eq!(report.matches("## Plots").count(), 1);
    // The last line says which lmeff wrote the report, by which command, with which settings.
    let last = report.lines().last().unwrap();
    let by = format!("Written by lmeff {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(
        last.starts_with(&by)
            && last
                .contains(" aggregate --import-csv overall.csv --import-csv tasks.csv --out agg")
            && last.contains("; settings sha256 `"),
        "{last}"
    );
    for stem in FIGURES {
        let png = std::fs::read(s.path().join(format!("agg/plots/{stem}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{stem}");
        assert!(png.len() > 5_000, "{stem}: {} bytes", png.len());
        let svg = std::fs::read_to_string(s.path().join(format!("agg/plots/{stem}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<text"), "{stem}");
        let pdf = std::fs::read(s.path().join(format!("agg/plots/{stem}.pdf"))).unwrap();
        assert!(
            pdf.starts_with(b"%PDF-") && pdf.ends_with(b"%%EOF"),
            "{stem}"
        );
    }
    let page = std::fs::read_to_string(s.path().join("agg/report.html")).unwrap();
    assert_eq!(
        page.matches("data:image/png;base64,iVBORw0KGgo").count(),
        FIGURES.len()
    );
    assert!(page.contains("<b>50M tokens</b>"));
    assert_eq!(page.matches(">Plots</h2>").count(), 1, "one Plots heading");

    // Four runs are too few for a verdict: the report and the table say so.
    let four: String = overall
        .lines()
        .filter(|l| !l.contains(",4,"))
        .map(|l| l.to_owned() + "\n")
        .collect();
    s.write("overall.csv", &four);
    s.write(
        "tasks.csv",
        "dataset,model_size,milestone,vocab_size,seed,task,acc\n",
    );
    let (ok, out, err) = run(&mut aggregate_imports(&s, 200));
    assert!(ok, "{err}");
    assert!(
        out.contains("global: too few runs (n = 4, fewer than 5) to judge"),
        "{out}"
    );
    let report = std::fs::read_to_string(s.path().join("agg/report.md")).unwrap();
    assert!(
        report.contains("- `global`: too few runs (n = 4, fewer than 5) to judge: no verdict."),
        "{report}"
    );
    let e = csv_rows(&s.path().join("agg/data/earliest.csv"));
    assert_eq!(
        e[0]["verdict"],
        "too few runs (n = 4, fewer than 5) to judge"
    );
    assert_eq!(e[0]["earliest_by_spearman"], "");
    for stem in [
        "overall",
        "per_paradigm",
        "per_phenomenon",
        "predictiveness",
        "earliest",
        "phenomenon_predictiveness",
    ] {
        assert!(
            s.path().join(format!("agg/data/{stem}.parquet")).is_file(),
            "{stem}"
        );
    }
}

#[test]
fn aggregates_lmeff_results_and_reports_what_is_missing() {
    let s = Scratch::new();
    s.write(
        "configs.csv",
        "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size,seeds\ntiny,tinystories,1,8,1,64,\"[-1]\",1000,\"[0,1,2]\"\n",
    );
    let lm = |args: &[&str]| {
        let mut cmd = s.lmeff();
        cmd.env("LMEFF_VOCAB_SIZES", "[1000]")
            .env("LMEFF_MILESTONES", "[0.01]")
            .env("LMEFF_TRAIN__EVAL_TOKENS", "2000")
            .arg("--data-dir")
            .arg(prepared_tinystories())
            .arg("--blimp-dir")
            .arg(shared_data().join("blimp"))
            .args(args);
        run(&mut cmd)
    };
    // Seeds 0 and 1 trained (25 steps, a milestone at step 20) and evaluated, seed 0 with its
    // initialisation (`--init-only`, the study's `--init`); seed 2 never ran.
    let (ok, _, err) = lm(&[
        "train",
        "--configs",
        "configs.csv",
        "--run-id",
        "tinystories_tiny_v1000_seed0_full",
        "--max-steps",
        "25",
        "--init-only",
    ]);
    assert!(ok, "{err}");
    for seed in ["0", "1"] {
        let (ok, _, err) = lm(&[
            "train",
            "--configs",
            "configs.csv",
            "--run-id",
            &format!("tinystories_tiny_v1000_seed{seed}_full"),
            "--max-steps",
            "25",
        ]);
        assert!(ok, "{err}");
        let (ok, _, err) = lm(&[
            "eval",
            "blimp",
            "--run",
            &format!("output/models/tinystories/llama-tiny/tokenizer-1000-seed-{seed}"),
            "--paradigms",
            "adjunct_island,anaphor_number_agreement",
        ]);
        assert!(ok, "{err}");
    }
    let (ok, out, err) = lm(&[
        "aggregate",
        "--configs",
        "configs.csv",
        "--bootstrap",
        "200",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "5 overall and 10 per-paradigm results; 2 planned checkpoints without results"
        ),
        "{out}"
    );
    // The initialisation is milestone 0 in the tables, and no anchor of predictiveness.
    let overall = csv_rows(&s.path().join("results/data/overall.csv"));
    let init = overall
        .iter()
        .find(|r| r["milestone"] == "0")
        .expect("an init row");
    assert_eq!(
        (init["seed"].as_str(), init["milestone_millions"].as_str()),
        ("0", "0")
    );
    let study = csv_rows(&s.path().join("results/study/blimp_all_overall.csv"));
    assert_eq!(study.iter().filter(|r| r["milestone"] == "0").count(), 1);
    let missing = csv_rows(&s.path().join("results/data/missing.csv"));
    assert_eq!(missing.len(), 2);
    assert!(missing.iter().all(|r| r["seed"] == "2"));
    assert_eq!(
        missing
            .iter()
            .map(|r| r["milestone"].as_str())
            .collect::<Vec<_>>(),
        ["0.01", "final"]
    );
    let p = csv_rows(&s.path().join("results/data/predictiveness.csv"));
    let g = p
        .iter()
        .find(|r| r["group"] == "global")
        .expect("a global row");
    assert_eq!((g["milestone"].as_str(), g["n"].as_str()), ("0.01", "2"));
    assert!(p.iter().all(|r| r["milestone"] != "0"), "{p:?}");
    let fin = overall.iter().find(|r| r["milestone"] == "final").unwrap();
    assert_eq!(
        fin["milestone_millions"], "0.0128",
        "final = 25 steps × 512 tokens"
    );
}

#[test]
fn bad_result_files_are_errors_unless_skipped() {
    let s = Scratch::new();
    let dir = s.path().join("res/blimp/ts/20m/seed-0/tok-16000/best");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("blimp_results.json"),
        r#"{"results": {"blimp": {"acc,none": 0.7}}}"#,
    )
    .unwrap();
    let (ok, _, err) = run(s
        .lmeff()
        .args(["aggregate", "--results", "res", "--out", "agg"]));
    assert!(!ok);
    assert!(
        err.contains("best/blimp_results.json") && err.contains("milestone \"best\""),
        "{err}"
    );
    let (ok, _, err) = run(s.lmeff().args([
        "aggregate",
        "--results",
        "res",
        "--out",
        "agg",
        "--skip-bad",
    ]));
    assert!(ok, "{err}");
    assert!(
        err.contains("skipped") && err.contains("best/blimp_results.json"),
        "{err}"
    );
}

/// Runs Debian's chromium headless on `page` with the flags CI can use, plus `extra`.
fn chromium(page: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--force-device-scale-factor=1",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (installed by `make setup`)")
}

/// Opens `page` in headless Chromium and checks that every image in it decoded and holds drawn
/// (non-white) pixels on a screenshot of the whole page; returns how many images it has.
fn images_drawn(s: &Scratch, page: &std::path::Path) -> usize {
    // Where each image sits and whether it decoded, as the page itself measured it (in a window
    // as wide as the screenshot's, so that text wraps, and images sit, alike in both).
    let dom = chromium(page, &["--window-size=1000,1000", "--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    let layout = dom
        .split("<pre id=\"layout\" style=\"display:none\">")
        .nth(1)
        .and_then(|t| t.split("</pre>").next())
        .unwrap_or_else(|| panic!("no layout in the DOM:\n{}", &dom[..dom.len().min(2000)]));
    let mut images = Vec::new();
    let mut height = 0u32;
    for line in layout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first() {
            Some(&"img") => {
                let n: Vec<u32> = f[2..].iter().map(|x| x.parse().unwrap()).collect();
                assert!(
                    n[0] > 0 && n[1] > 0,
                    "image {} did not decode: {line}",
                    f[1]
                );
                images.push((n[2], n[3], n[4], n[5]));
            }
            Some(&"page") => height = f[2].parse().unwrap(),
            _ => {}
        }
    }

    // A screenshot of the whole page: every image's box holds drawn (non-white) pixels (a blank
    // one holds none; thin lines on white hold a few per mille).
    let shot = s.path().join("shot.png");
    let out = chromium(
        page,
        &[
            &format!("--window-size=1000,{height}"),
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    for (i, &(x, y, w, h)) in images.iter().enumerate() {
        let (mut drawn, mut total) = (0u64, 0u64);
        for py in y..(y + h).min(info.height) {
            for px in x..(x + w).min(info.width) {
                let o = (py as usize * info.width as usize + px as usize) * channels;
                total += 1;
                if buf[o..o + 3].iter().any(|&c| c < 200) {
                    drawn += 1;
                }
            }
        }
        assert!(
            total > 10_000,
            "image {i} is off the screenshot ({x},{y} {w}x{h}, shot {}x{})",
            info.width,
            info.height
        );
        let share = drawn as f64 / total as f64;
        assert!(
            share > 0.002 && share < 0.9,
            "image {i}: {share:.3} of its pixels drawn"
        );
    }
    images.len()
}

#[test]
fn report_html_shows_every_plot_in_a_headless_browser() {
    // The study's tables as its scripts write them: 2 datasets × 20m/60m/180m × 2 vocab sizes ×
    // seeds 0–2, anchors 25…2000 and final, all 67 paradigms under lowercased task names.
    let s = Scratch::new();
    let paradigms: Vec<String> = std::fs::read_dir(shared_data().join("blimp"))
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.trim_end_matches(".jsonl").to_lowercase()
        })
        .collect();
    assert_eq!(paradigms.len(), 67);
    let anchors = [
        "25", "50", "75", "100", "250", "500", "750", "1000", "1250", "1500", "1750", "2000",
        "final",
    ];
    let mut overall = String::from("dataset,model_size,milestone,vocab_size,seed,acc\n");
    let mut tasks = String::from("dataset,model_size,milestone,vocab_size,seed,task,acc\n");
    for (d, ds) in ["tinystories", "babylm"].iter().enumerate() {
        for (m, size) in ["20m", "60m", "180m"].iter().enumerate() {
            for (v, vocab) in [8000, 50257].iter().enumerate() {
                for seed in 0..3 {
                    for (i, a) in anchors.iter().enumerate() {
                        let base = 0.6 + 0.012 * i as f64 + 0.03 * m as f64 + 0.02 * d as f64
                            - 0.01 * v as f64
                            + 0.004 * seed as f64;
                        overall += &format!("{ds},{size},{a},{vocab},{seed},{base:.4}\n");
                        for (j, p) in paradigms.iter().enumerate() {
                            // Each paradigm's own seed noise, so that the paper's group ± (the
                            // mean of the paradigms' std) differs from lmeff's.
                            let noise = 0.004 * ((j * 7 + seed * 3) % 5) as f64;
                            let acc = base + 0.002 * (j % 13) as f64 - 0.012 + noise;
                            tasks += &format!("{ds},{size},{a},{vocab},{seed},{p},{acc:.4}\n");
                        }
                    }
                }
            }
        }
    }
    s.write("overall.csv", &overall);
    s.write("tasks.csv", &tasks);
    let (ok, _, err) = run(&mut aggregate_imports(&s, 200));
    assert!(ok, "{err}");
    // Every paradigm found its phenomenon, though the study lowercases the names: the paper's 12
    // groups (BLiMP's 13 terms with --phenomena blimp, below).
    let phenomena = |out: &str| -> std::collections::BTreeSet<String> {
        csv_rows(&s.path().join(out).join("data/per_phenomenon.csv"))
            .into_iter()
            .map(|r| r["phenomenon"].clone())
            .collect()
    };
    let groups = phenomena("agg");
    assert_eq!(groups.len(), 12, "{groups:?}");
    assert!(groups.contains("Binding") && groups.contains("Argument Structure"));
    let paradigms = csv_rows(&s.path().join("agg/data/per_paradigm.csv"));
    let np = paradigms
        .iter()
        .find(|r| r["paradigm"] == "complex_NP_island")
        .unwrap();
    assert_eq!(
        (np["linguistics_term"].as_str(), np["group"].as_str()),
        ("island_effects", "Island Effects")
    );
    // The texts of a figure's SVG, in drawing order.
    let texts = |stem: &str| -> Vec<String> {
        let svg = std::fs::read_to_string(s.path().join(format!("agg/plots/{stem}.svg"))).unwrap();
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                Some(
                    t.split_once('>')?
                        .1
                        .split("</text>")
                        .next()?
                        .trim()
                        .to_owned(),
                )
            })
            .collect()
    };
    let has = |stem: &str, text: &str| texts(stem).iter().any(|t| t == text);
    // The anchors are named on the axes, the paradigms and the paper's groups on the heatmaps.
    for a in ["25", "75", "250", "1750", "2000"] {
        assert!(
            has("predictiveness", a),
            "{a}: {:?}",
            texts("predictiveness")
        );
    }
    assert!(has("paradigm_heatmap", "complex_NP_island"));
    assert!(has("group_heatmap", "Filler-Gap Dependencies"));
    assert!(has("group_heatmap", "overall"));
    assert!(has("all_configurations", "babylm 180m 50257"));
    // Model sizes in order of size: 20m, 60m, 180m.
    let curves = texts("learning_curves");
    let at = |t: &str| {
        curves
            .iter()
            .position(|x| x.starts_with(t))
            .unwrap_or_else(|| panic!("{t}"))
    };
    assert!(at("tinystories · 20m") < at("tinystories · 60m"));
    assert!(at("tinystories · 60m") < at("tinystories · 180m"));

    let page = s.path().join("agg/report.html");
    assert_eq!(images_drawn(&s, &page), FIGURES.len());

    // For print: 300 dpi PNGs, three times the pixels of the default 100 dpi, of the same drawing;
    // std bands and a logit scale drawn on request.
    let (ok, _, err) = run(&mut aggregate_imports_into(
        &s,
        200,
        "agg300",
        &[
            "--dpi",
            "300",
            "--band",
            "std",
            "--y-scale",
            "logit",
            "--phenomena",
            "blimp",
        ],
    ));
    assert!(ok, "{err}");
    let dims = |path: &str| {
        let png = std::fs::read(s.path().join(path)).unwrap();
        let word = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
        (word(16), word(20))
    };
    // (Not the phenomena heatmap: its rows are the phenomena, 13 here against the paper's 12.)
    for stem in FIGURES.iter().filter(|s| **s != "phenomena_heatmap") {
        let (w, h) = dims(&format!("agg/plots/{stem}.png"));
        assert_eq!(
            dims(&format!("agg300/plots/{stem}.png")),
            (3 * w, 3 * h),
            "{stem}"
        );
    }
    let curves =
        std::fs::read_to_string(s.path().join("agg300/plots/learning_curves.svg")).unwrap();
    assert!(curves.contains("logit scale") && curves.contains("mean ± std over seeds"));
    let terms = phenomena("agg300");
    assert_eq!(terms.len(), 13, "{terms:?}");
    assert!(terms.contains("s-selection") && terms.contains("binding"));

    // The paper's figures: curves over tokens, heatmaps at 2000M tokens scaled per row, the
    // group cells as the study computes them (pandas, below), and a heatmap per group.
    let imports = |out: &str, extra: &[&str]| aggregate_imports_into(&s, 200, out, extra);
    let (ok, _, err) = run(&mut imports(
        "aggpaper",
        &["--figures", "paper", "--heatmap-milestone", "2000"],
    ));
    assert!(ok, "{err}");
    let paper = |stem: &str| {
        std::fs::read_to_string(s.path().join(format!("aggpaper/plots/{stem}.svg"))).unwrap()
    };
    assert!(paper("learning_curves").contains("anchor (in million tokens)"));
    assert!(paper("paradigm_heatmap").contains("at 2000M tokens"));
    assert!(
        paper("group_heatmap").contains("mean of paradigm means ± mean of their std over seeds")
    );
    for stem in [
        "group_detail_binding",
        "group_detail_filler_gap_dependencies",
    ] {
        for ext in ["png", "svg", "pdf"] {
            assert!(
                s.path()
                    .join(format!("aggpaper/plots/{stem}.{ext}"))
                    .is_file(),
                "{stem}.{ext}"
            );
        }
    }
    assert!(paper("group_detail_binding").contains("principle_A_case_1"));
    let check = std::process::Command::new(common::python())
        .arg(common::repo().join("tests/python/paper_figures_check.py"))
        .arg(s.path().join("tasks.csv"))
        .arg(s.path().join("aggpaper/data/per_paradigm.csv"))
        .arg("2000")
        .arg(s.path().join("aggpaper/plots/group_heatmap.svg"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let report = std::fs::read_to_string(s.path().join("aggpaper/report.md")).unwrap();
    assert!(
        report.contains("plots/group_detail_<group>.png"),
        "{report}"
    );
    // A checkpoint no run has is refused.
    let (ok, _, err) = run(&mut imports("aggnone", &["--heatmap-milestone", "3000"]));
    assert!(
        !ok && err.contains("no full run has BLiMP results at 3000M tokens"),
        "{err}"
    );
}

#[test]
fn budgets_trained_both_ways_are_compared() {
    // Five runs' 25M and 50M budgets, cosine and WSD: at 25M WSD keeps the cosine order (ρ = 1),
    // at 50M it reverses it (ρ = −1); WSD is 0.01 better throughout.
    let s = Scratch::new();
    let mut overall =
        String::from("dataset,model_size,milestone,vocab_size,seed,acc,anchor,schedule\n");
    for seed in 0..5 {
        let a = 0.6 + 0.01 * seed as f64;
        for (schedule, shift) in [("cosine", 0.0), ("wsd", 0.01)] {
            overall += &format!(
                "ts,20m,final,16000,{seed},{:.3},25M,{schedule}\n",
                a + shift
            );
            let b = if schedule == "wsd" {
                0.64 - 0.01 * seed as f64
            } else {
                a - 0.01
            };
            overall += &format!(
                "ts,20m,final,16000,{seed},{:.3},50M,{schedule}\n",
                b + shift
            );
        }
        overall += &format!("ts,20m,final,16000,{seed},{a},full,cosine\n");
    }
    s.write("overall.csv", &overall);
    let (ok, _, err) = run(s.lmeff().args([
        "aggregate",
        "--import-csv",
        "overall.csv",
        "--out",
        "agg",
        "--bootstrap",
        "100",
    ]));
    assert!(ok, "{err}");
    let rows = csv_rows(&s.path().join("agg/data/schedules.csv"));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0]["anchor"].as_str(), rows[0]["n"].as_str()),
        ("25M", "5")
    );
    assert!((rows[0]["spearman"].parse::<f64>().unwrap() - 1.0).abs() < 1e-12);
    assert!((rows[1]["spearman"].parse::<f64>().unwrap() + 1.0).abs() < 1e-12);
    assert!((rows[0]["mean_difference"].parse::<f64>().unwrap() - 0.01).abs() < 1e-9);
    let report = std::fs::read_to_string(s.path().join("agg/report.md")).unwrap();
    assert!(report.contains("## WSD against cosine budgets"), "{report}");
    assert!(
        report.contains("| 25M | 5 | 1.000 | 0.017 (exact) | +0.0100 |"),
        "{report}"
    );
}

/// The study's metric per task (its plotting code's `GLUE_TASK_METRICS`).
const STUDY_METRIC: [(&str, &str); 7] = [
    ("boolq", "accuracy"),
    ("mnli", "accuracy"),
    ("mrpc", "f1"),
    ("multirc", "accuracy"),
    ("qqp", "f1"),
    ("rte", "accuracy"),
    ("wsc", "accuracy"),
];

/// `glue_all_results.csv` as the study writes it: 3 datasets × 3 sizes × 3 seeds × 7 tasks ×
/// val/test at 25M … 2000M and final; the reported metric's own column empty, its value in
/// `value`. Scores are seeded noise around a level per configuration, rising with the anchor.
fn study_glue_table() -> String {
    let anchors = [
        "25M", "50M", "75M", "100M", "250M", "500M", "750M", "1000M", "1250M", "1500M", "1750M",
        "2000M", "final",
    ];
    let mut t = String::from(
        "dataset,model_size,milestone,vocab_size,seed,task,split,metric,value,accuracy,f1,mcc\n",
    );
    let mut state = 12345u64;
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 40) as f64 / (1u64 << 24) as f64
    };
    for (d, ds) in ["tinystories", "babylm3", "hybrid_3.7B"].iter().enumerate() {
        for (m, size) in ["20m", "60m", "180m"].iter().enumerate() {
            for seed in 0..3 {
                for (a, anchor) in anchors.iter().enumerate() {
                    for (task, metric) in STUDY_METRIC {
                        for split in ["val", "test"] {
                            let level = 0.5 + 0.01 * a as f64 + 0.03 * m as f64 - 0.02 * d as f64;
                            let acc = ((level + 0.05 * noise()) * 1e4).round() / 1e4;
                            let f1 = ((level - 0.1 + 0.1 * noise()) * 1e4).round() / 1e4;
                            let mcc = ((0.3 * noise() - 0.05) * 1e4).round() / 1e4;
                            let (value, acc, f1) = match metric {
                                "f1" => (f1, acc.to_string(), String::new()),
                                _ => (acc, String::new(), f1.to_string()),
                            };
                            t += &format!(
                                "{ds},{size},{anchor},16000,{seed},{task},{split},{metric},{value},{acc},{f1},{mcc}\n"
                            );
                        }
                    }
                }
            }
        }
    }
    t
}

/// A CSV's rows keyed by their identity columns, each with its other cells (numbers parsed).
fn keyed(
    path: &std::path::Path,
    id: &[&str],
) -> std::collections::BTreeMap<Vec<String>, Vec<String>> {
    let rows = csv_rows(path);
    let mut out = std::collections::BTreeMap::new();
    for r in rows {
        let key: Vec<String> = id.iter().map(|c| r[*c].clone()).collect();
        let mut rest: Vec<(String, String)> = r
            .into_iter()
            .filter(|(k, _)| !id.contains(&k.as_str()))
            .map(|(k, v)| {
                let v = v.parse::<f64>().map_or(v, |x| format!("{x:.12}"));
                (k, v)
            })
            .collect();
        rest.sort();
        let prev = out.insert(
            key.clone(),
            rest.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        );
        assert!(prev.is_none(), "{key:?} twice in {}", path.display());
    }
    out
}

#[test]
fn the_studys_glue_tables_are_read_averaged_by_its_metrics_and_written_back() {
    let s = Scratch::new();
    let table = study_glue_table();
    s.write("glue_all_results.csv", &table);
    let (ok, out, err) = run(s.lmeff().args([
        "aggregate",
        "--import-csv",
        "glue_all_results.csv",
        "--out",
        "agg",
        "--bootstrap",
        "50",
        "--heatmap-milestone",
        "2000",
        "--heatmap-scale",
        "row",
        "--figure-configs",
        "tinystories/*,babylm3/60m,hybrid*/180m/16000",
    ]));
    assert!(ok, "{out}{err}");

    // Written back in the study's shape: the same rows and values, row order aside.
    let id = [
        "dataset",
        "model_size",
        "milestone",
        "vocab_size",
        "seed",
        "task",
        "split",
    ];
    let input = s.path().join("glue_all_results.csv");
    let back = s.path().join("agg/study/glue_all_results.csv");
    assert_eq!(keyed(&back, &id), keyed(&input, &id));
    assert_eq!(csv_rows(&back).len(), 3 * 3 * 3 * 13 * 7 * 2);
    let header = std::fs::read_to_string(&back).unwrap();
    assert!(header.starts_with(
        "dataset,model_size,milestone,vocab_size,seed,task,split,metric,value,accuracy,f1,mcc\n"
    ));
    // The by-task table has every metric in its column, `25M` milestones; read back in, it is
    // told apart by its header and agrees with the first (the same result twice is kept once).
    let by_task = s.path().join("agg/study/glue_overall_by_task.csv");
    let rows = csv_rows(&by_task);
    assert!(rows
        .iter()
        .all(|r| !r["accuracy"].is_empty() && !r["f1"].is_empty()));
    assert!(rows.iter().any(|r| r["milestone"] == "25M"));
    assert!(!rows[0].contains_key("metric"));

    // Every checkpoint's macro-average is the mean over its 7 tasks of the study's metric.
    let mut want: std::collections::BTreeMap<(String, String, String, String), Vec<f64>> =
        Default::default();
    for r in csv_rows(&input)
        .into_iter()
        .filter(|r| r["split"] == "test")
    {
        let metric = STUDY_METRIC
            .iter()
            .find(|(t, _)| *t == r["task"])
            .unwrap()
            .1;
        assert_eq!(r["metric"], metric);
        assert!(
            r[metric].is_empty(),
            "the reported metric's own column is empty"
        );
        let key = (
            r["dataset"].clone(),
            r["model_size"].clone(),
            r["seed"].clone(),
            r["milestone"].trim_end_matches('M').to_owned(),
        );
        want.entry(key)
            .or_default()
            .push(r["value"].parse().unwrap());
    }
    let macros = csv_rows(&s.path().join("agg/data/glue_macro.csv"));
    assert_eq!(macros.len(), want.len());
    for m in &macros {
        let key = (
            m["dataset"].clone(),
            m["model_size"].clone(),
            m["seed"].clone(),
            m["milestone"].clone(),
        );
        let vs = &want[&key];
        assert_eq!((vs.len(), m["tasks"].as_str()), (7, "7"));
        let mean = vs.iter().sum::<f64>() / 7.0;
        let got: f64 = m["test"].parse().unwrap();
        assert!((got - mean).abs() < 1e-12, "{key:?}: {got} vs {mean}");
    }
    let again = Scratch::new();
    again.write("a.csv", &table);
    again.write("b.csv", &std::fs::read_to_string(&by_task).unwrap());
    let (ok, _, err) = run(again.lmeff().args([
        "aggregate",
        "--import-csv",
        "a.csv",
        "--import-csv",
        "b.csv",
        "--out",
        "agg",
        "--bootstrap",
        "50",
    ]));
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read_to_string(again.path().join("agg/data/glue_macro.csv")).unwrap(),
        std::fs::read_to_string(s.path().join("agg/data/glue_macro.csv")).unwrap()
    );
    // With early stopping's metric instead, WSC and the others are averaged by F1.
    let (ok, _, err) = run(again.lmeff().args([
        "aggregate",
        "--import-csv",
        "a.csv",
        "--import-csv",
        "b.csv",
        "--out",
        "watched",
        "--bootstrap",
        "50",
        "--glue-measure",
        "watched",
    ]));
    assert!(ok, "{err}");
    let glue = csv_rows(&again.path().join("watched/data/glue.csv"));
    assert!(
        glue.iter()
            .all(|r| r["metric"] == "f1" || r["task"] == "mnli"),
        "{:?}",
        glue[0]
    );
    let report = std::fs::read_to_string(again.path().join("watched/report.md")).unwrap();
    assert!(
        report.contains("**Measure: the metric early stopping watched"),
        "{report}"
    );

    // The paper's heatmap: 2000M, rows `BOOLQ (accuracy)`, coloured per row, with a colour bar,
    // for the configurations chosen (all of tinystories, babylm3 60m, hybrid 180m).
    let svg = std::fs::read_to_string(s.path().join("agg/plots/glue_heatmap.svg")).unwrap();
    // Each text of the figure with its y (top = 0).
    let texts: Vec<(String, f64)> = svg
        .split("<text")
        .skip(1)
        .filter_map(|t| {
            let y = t.split("y=\"").nth(1)?.split('"').next()?.parse().ok()?;
            let body = t
                .split_once('>')?
                .1
                .split("</text>")
                .next()?
                .trim()
                .to_owned();
            Some((body, y))
        })
        .collect();
    let y_of = |text: &str| {
        texts
            .iter()
            .find(|(t, _)| t == text)
            .unwrap_or_else(|| panic!("{text}: {texts:?}"))
            .1
    };
    for text in [
        "BOOLQ (accuracy)",
        "MRPC (f1)",
        "QQP (f1)",
        "MACRO-AVERAGE",
        "row best",
        "GLUE at 2000M tokens: test scores, mean ± std over seeds; colours per row",
        "tinystories 20m 16k",
        "babylm3 60m 16k",
        "hybrid_3.7B 180m 16k",
    ] {
        y_of(text);
    }
    let shown = |t: &str| texts.iter().any(|(x, _)| x == t);
    assert!(!shown("babylm3 20m 16k") && !shown("hybrid_3.7B 60m 16k"));
    // Accuracy tasks first (from the top), then F1, as the study orders them.
    assert!(y_of("BOOLQ (accuracy)") < y_of("WSC (accuracy)"));
    assert!(y_of("WSC (accuracy)") < y_of("MRPC (f1)"));
    assert!(y_of("MRPC (f1)") < y_of("MACRO-AVERAGE"));
    let page = s.path().join("agg/report.html");
    // The GLUE curves and heatmap (BLiMP–GLUE agreement needs BLiMP results).
    assert_eq!(images_drawn(&s, &page), 2);
    let report = std::fs::read_to_string(s.path().join("agg/report.md")).unwrap();
    assert!(
        report.contains("**Measure: the study's reported metric per task"),
        "{report}"
    );

    // A pattern that matches nothing is an error naming the configurations there are.
    let (ok, _, err) = run(s.lmeff().args([
        "aggregate",
        "--import-csv",
        "glue_all_results.csv",
        "--out",
        "agg3",
        "--figure-configs",
        "babylm/60m",
    ]));
    assert!(
        !ok && err.contains("babylm/60m") && err.contains("babylm3/60m/16000"),
        "{err}"
    );
    assert!(!s.path().join("agg3").exists());
}

#[test]
fn impossible_unknown_or_conflicting_glue_results_are_errors() {
    let s = Scratch::new();
    let head =
        "dataset,model_size,milestone,vocab_size,seed,task,split,metric,value,accuracy,f1,mcc\n";
    let aggregate = |file: &str, extra: &[&str]| {
        let mut cmd = s.lmeff();
        cmd.args([
            "aggregate",
            "--import-csv",
            file,
            "--out",
            "agg",
            "--bootstrap",
            "20",
        ])
        .args(extra);
        run(&mut cmd)
    };
    for (name, body, says) in [
        ("acc.csv", "ts,20m,25M,8000,0,rte,test,accuracy,1.7,,0.5,0.1\n", "acc.csv: line 2: accuracy 1.7 is impossible"),
        ("f1.csv", "ts,20m,25M,8000,0,rte,test,accuracy,0.7,,-3,0.1\n", "f1.csv: line 2: f1 -3 is impossible"),
        ("task.csv", "ts,20m,25M,8000,0,squad,test,accuracy,0.7,,0.5,0.1\n", "task.csv: line 2: unknown GLUE task `squad`"),
        ("split.csv", "ts,20m,25M,8000,0,rte,train,accuracy,0.7,,0.5,0.1\n", "split.csv: line 2: split \"train\""),
        ("twice.csv", "ts,20m,25M,8000,0,rte,test,accuracy,0.7,,0.5,0.1\nts,20m,25,8000,0,rte,test,accuracy,0.8,,0.5,0.1\n", "with different scores"),
    ] {
        s.write(name, &format!("{head}{body}"));
        let (ok, _, err) = aggregate(name, &[]);
        assert!(!ok && err.contains(says), "{name}: {err}");
        assert!(!s.path().join("agg").exists(), "{name}: nothing written");
    }
    // The same result twice with the same scores is one result.
    s.write("same.csv", &format!("{head}ts,20m,25M,8000,0,rte,test,accuracy,0.7,,0.5,0.1\nts,20m,25,8000,0,rte,test,accuracy,0.7,,0.5,0.1\n"));
    let (ok, _, err) = aggregate("same.csv", &[]);
    assert!(ok, "{err}");
    assert_eq!(csv_rows(&s.path().join("agg/data/glue.csv")).len(), 1);

    // A broken glue_results.json stops the aggregate, unless --skip-bad lists it and goes on.
    let r = Scratch::new();
    let bad = r.path().join("results/glue/ts/20m/seed-0/tok-8000/final");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("glue_results.json"), "{\"identity\": 3").unwrap();
    let aggregate_results = |extra: &[&str]| {
        run(r
            .lmeff()
            .args([
                "aggregate",
                "--results",
                "results",
                "--out",
                "agg",
                "--bootstrap",
                "20",
            ])
            .args(extra))
    };
    let (ok, _, err) = aggregate_results(&[]);
    assert!(
        !ok && err.contains("glue_results.json") && err.contains("--skip-bad"),
        "{err}"
    );
    let (ok, _, err) = aggregate_results(&["--skip-bad"]);
    assert!(
        ok && err.contains("skipped") && err.contains("final/glue_results.json"),
        "{err}"
    );
}
