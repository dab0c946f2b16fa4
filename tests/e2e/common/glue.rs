//! GLUE tasks made from the sample corpora (there is no GLUE data here), in the layout `lmeff data
//! fetch glue` writes.

use std::path::Path;

use super::shared_data;

fn lines(path: &str, min_words: usize) -> Vec<String> {
    std::fs::read_to_string(shared_data().join(path))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| l.split_whitespace().count() >= min_words && !l.starts_with('='))
        .map(str::to_owned)
        .collect()
}

pub fn write_split(dir: &Path, name: &str, rows: &[serde_json::Value]) {
    std::fs::create_dir_all(dir).unwrap();
    let text: String = rows.iter().map(|r| r.to_string() + "\n").collect();
    std::fs::write(dir.join(format!("{name}.jsonl")), text).unwrap();
}

/// `sst2`: is a line from TinyStories (1) or the web (0)? `mrpc`: do two passages of up to 100
/// words come from the same corpus? 640 / 160 / 200 examples.
pub fn tasks(root: &Path) {
    let stories = lines("corpora/tinystories/train/TinyStories-sample.txt", 6);
    let web = lines("corpora/web/train/wikitext-2-raw.test.txt", 6);
    let words = |l: &str, n: usize| l.split_whitespace().take(n).collect::<Vec<_>>().join(" ");
    let mut single = Vec::new();
    let mut pairs = Vec::new();
    for i in 0..1000 {
        let story = i % 5 < 3;
        let line = if story { &stories[i] } else { &web[i] };
        single.push(serde_json::json!({"sentence": words(line, 30), "label": u8::from(story)}));
        let other = if i % 2 == 0 {
            &stories[i + 1000]
        } else {
            &web[i + 1000]
        };
        let same = story == (i % 2 == 0);
        pairs.push(serde_json::json!({"sentence1": words(line, 100), "sentence2": words(other, 100), "label": u8::from(same)}));
    }
    for (task, rows) in [("sst2", &single), ("mrpc", &pairs)] {
        let dir = root.join(task);
        write_split(&dir, "train", &rows[..640]);
        write_split(&dir, "dev", &rows[640..800]);
        write_split(&dir, "test", &rows[800..]);
    }
}
