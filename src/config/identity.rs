//! The study's vocabulary of identity: what names a run and a checkpoint, in one place. Every
//! stage that names a run or a checkpoint (the plan, checkpoint metadata, the launch manifest,
//! results, the analysis) speaks these types.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::train::ScheduleKind;
use super::units::{Anchor, Millions};

/// What names a run: its row's dataset, model preset and tokenizer size, its seed, its anchor and
/// its schedule (absent when read: the study's cosine). Runs order by dataset, model, vocabulary,
/// seed, schedule, then anchor (budgets by size, the full run last).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RunKey {
    pub dataset: String,
    pub model: String,
    pub vocab_size: u32,
    pub seed: u64,
    /// `full` or a budget such as `25M`.
    pub anchor: Anchor,
    #[serde(default)]
    pub schedule: ScheduleKind,
}

impl RunKey {
    /// `tinystories_20m_v16000_seed0_full`, `…_budget25M`, `…_full_wsd`.
    pub fn run_id(&self) -> RunId {
        let tail = match self.anchor {
            Anchor::Full => "full".to_owned(),
            Anchor::Budget(m) => format!("budget{m}M"),
        };
        RunId(format!(
            "{}_{}_v{}_seed{}_{tail}{}",
            self.dataset,
            self.model,
            self.vocab_size,
            self.seed,
            schedule_suffix(self.schedule, "_")
        ))
    }
}

impl RunKey {
    fn order(&self) -> impl Ord + '_ {
        let (d, m) = (&self.dataset, &self.model);
        (d, m, self.vocab_size, self.seed, self.schedule, self.anchor)
    }

    /// Whether this is a full run (not a budget run).
    pub fn is_full(&self) -> bool {
        self.anchor == Anchor::Full
    }
}

impl PartialOrd for RunKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RunKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

impl fmt::Display for RunKey {
    /// `tinystories 20m vocab 16000 seed 0 full`, `… 25M wsd`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} vocab {} seed {} {}{}",
            self.dataset,
            self.model,
            self.vocab_size,
            self.seed,
            self.anchor,
            schedule_suffix(self.schedule, " ")
        )
    }
}

impl RunKey {
    /// The configuration this run is a seed of.
    pub fn configuration(&self) -> Configuration {
        Configuration {
            dataset: self.dataset.clone(),
            model: self.model.clone(),
            vocab_size: self.vocab_size,
            anchor: self.anchor,
            schedule: self.schedule,
        }
    }
}

/// A configuration: what the seeds of a run share (every part of its [`RunKey`] but the seed).
/// Seeds are its replicates; the study's questions compare configurations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Configuration {
    pub dataset: String,
    pub model: String,
    pub vocab_size: u32,
    pub anchor: Anchor,
    pub schedule: ScheduleKind,
}

impl Configuration {
    /// A short label: `tinystories 20m 16k`, `… 25M wsd` (the anchor only for budget runs).
    pub fn label(&self) -> String {
        let v = self.vocab_size;
        let vocab = match v % 1000 {
            0 => format!("{}k", v / 1000),
            _ => v.to_string(),
        };
        let budget = match self.anchor {
            Anchor::Full => String::new(),
            Anchor::Budget(_) => format!(" {}", self.anchor),
        };
        let schedule = schedule_suffix(self.schedule, " ");
        format!("{} {} {vocab}{budget}{schedule}", self.dataset, self.model)
    }
}

/// Which checkpoint of a run a folder holds; its folder name is its [`fmt::Display`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckpointLabel {
    /// The seeded initialisation (`--init-only`).
    Init,
    /// A milestone after this many million tokens.
    Milestone(Millions),
    /// The run's end (a full run's best evaluation).
    Final,
}

impl CheckpointLabel {
    /// Reads a folder name: `init`, `milestone-<M>M`, `final`.
    pub fn parse(folder: &str) -> Option<CheckpointLabel> {
        match folder {
            "init" => Some(CheckpointLabel::Init),
            "final" => Some(CheckpointLabel::Final),
            _ => folder
                .strip_prefix("milestone-")?
                .strip_suffix('M')?
                .parse()
                .ok()
                .and_then(|m| Millions::new(m).ok())
                .map(CheckpointLabel::Milestone),
        }
    }

    /// The label results carry: `init`, the milestone in millions (`25`, `0.05`), `final`.
    pub fn label(&self) -> String {
        match self {
            CheckpointLabel::Init => "init".into(),
            CheckpointLabel::Milestone(m) => m.to_string(),
            CheckpointLabel::Final => "final".into(),
        }
    }

    /// The label of any folder: its checkpoint label when it is one of lmeff's names, else the name.
    pub fn label_of(folder: &str) -> String {
        CheckpointLabel::parse(folder).map_or_else(|| folder.to_owned(), |n| n.label())
    }
}

impl fmt::Display for CheckpointLabel {
    /// The folder name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointLabel::Init => f.write_str("init"),
            CheckpointLabel::Milestone(m) => write!(f, "milestone-{m}M"),
            CheckpointLabel::Final => f.write_str("final"),
        }
    }
}

impl Serialize for CheckpointLabel {
    /// As its folder name.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CheckpointLabel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CheckpointLabel::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not a checkpoint (init, milestone-<M>M, final)"
            ))
        })
    }
}

/// One checkpoint of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointKey {
    pub run: RunKey,
    pub label: CheckpointLabel,
}

/// A run's stable identifier, e.g. `tinystories_20m_v16000_seed0_full` or `…_budget25M`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `""` for the study's cosine schedule, `<sep>wsd` for WSD (run ids, folders, results).
pub fn schedule_suffix(schedule: ScheduleKind, sep: &str) -> String {
    match schedule {
        ScheduleKind::Cosine => String::new(),
        ScheduleKind::Wsd => format!("{sep}wsd"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(anchor: &str, schedule: ScheduleKind) -> RunKey {
        RunKey {
            dataset: "tinystories".into(),
            model: "20m".into(),
            vocab_size: 16000,
            seed: 3,
            anchor: anchor.parse().unwrap(),
            schedule,
        }
    }

    #[test]
    fn run_ids_name_every_field() {
        assert_eq!(
            key("full", ScheduleKind::Cosine).run_id().as_str(),
            "tinystories_20m_v16000_seed3_full"
        );
        assert_eq!(
            key("25M", ScheduleKind::Cosine).run_id().as_str(),
            "tinystories_20m_v16000_seed3_budget25M"
        );
        assert_eq!(
            key("0.05M", ScheduleKind::Wsd).run_id().as_str(),
            "tinystories_20m_v16000_seed3_budget0.05M_wsd"
        );
    }

    #[test]
    fn keys_round_trip_and_read_a_missing_schedule_as_cosine() {
        let cosine = key("25M", ScheduleKind::Cosine);
        let text = serde_json::to_string(&cosine).unwrap();
        assert_eq!(
            text,
            r#"{"dataset":"tinystories","model":"20m","vocab_size":16000,"seed":3,"anchor":"25M","schedule":"cosine"}"#
        );
        assert_eq!(serde_json::from_str::<RunKey>(&text).unwrap(), cosine);
        let unsaid = text.replace(r#","schedule":"cosine""#, "");
        assert_eq!(serde_json::from_str::<RunKey>(&unsaid).unwrap(), cosine);
        let wsd = key("full", ScheduleKind::Wsd);
        let text = serde_json::to_string(&wsd).unwrap();
        assert!(
            text.ends_with(r#""anchor":"full","schedule":"wsd"}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<RunKey>(&text).unwrap(), wsd);
        let bad = text.replace("full", "lots");
        assert!(serde_json::from_str::<RunKey>(&bad)
            .unwrap_err()
            .to_string()
            .contains("`lots` is not an anchor"));
    }

    #[test]
    fn labels_read_back_their_folder_names() {
        for folder in ["init", "milestone-25M", "milestone-0.05M", "final"] {
            let label = CheckpointLabel::parse(folder).unwrap();
            assert_eq!(label.to_string(), folder);
            let json = serde_json::to_string(&label).unwrap();
            assert_eq!(
                serde_json::from_str::<CheckpointLabel>(&json).unwrap(),
                label
            );
        }
        for bad in ["milestone-25", "milestone-xM", "best", "milestone--1M"] {
            assert_eq!(CheckpointLabel::parse(bad), None, "{bad}");
        }
        assert_eq!(
            CheckpointLabel::parse("milestone-25M").unwrap().label(),
            "25"
        );
        assert_eq!(
            CheckpointLabel::label_of("checkpoint-500"),
            "checkpoint-500"
        );
    }

    #[test]
    fn runs_order_by_budget_then_full_and_configurations_drop_the_seed() {
        let mut keys = [
            key("full", ScheduleKind::Cosine),
            key("100M", ScheduleKind::Cosine),
            key("25M", ScheduleKind::Wsd),
            key("25M", ScheduleKind::Cosine),
        ];
        keys.sort();
        let shown: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        assert_eq!(
            shown,
            [
                "tinystories 20m vocab 16000 seed 3 25M",
                "tinystories 20m vocab 16000 seed 3 100M",
                "tinystories 20m vocab 16000 seed 3 full",
                "tinystories 20m vocab 16000 seed 3 25M wsd",
            ],
            "budgets by size (not as text: 100M after 25M), the full run last, schedules apart"
        );
        let other_seed = RunKey {
            seed: 4,
            ..key("25M", ScheduleKind::Wsd)
        };
        assert_eq!(
            other_seed.configuration(),
            key("25M", ScheduleKind::Wsd).configuration()
        );
        assert_ne!(
            key("full", ScheduleKind::Wsd).configuration(),
            key("25M", ScheduleKind::Wsd).configuration()
        );
        assert_eq!(
            key("25M", ScheduleKind::Wsd).configuration().label(),
            "tinystories 20m 16k 25M wsd"
        );
        assert_eq!(
            key("full", ScheduleKind::Cosine).configuration().label(),
            "tinystories 20m 16k"
        );
    }
}
