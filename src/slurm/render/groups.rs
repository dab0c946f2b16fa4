//! The plan's runs grouped by the resources they need: one array job per group.

use serde::{Deserialize, Serialize};

use crate::config::{Plan, SlurmSettings, SlurmTime};
use crate::slurm::array::TaskSet;

/// Runs that share one array job: the same nodes, ranks per node and time limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Position among the launch's groups (`train-<index>.sbatch`).
    pub index: usize,
    pub nodes: u32,
    /// Ranks (GPUs) per node: the configs.csv `gpus` column.
    pub ranks_per_node: u32,
    /// Time limit of each training task.
    pub time: String,
    /// The plan task indices of the group's runs (the array task ids).
    pub tasks: TaskSet,
}

/// Groups the plan's runs by (nodes, ranks per node, time limit), in order of first appearance.
pub fn groups(plan: &Plan, slurm: &SlurmSettings) -> Vec<Group> {
    let mut keys: Vec<(u32, u32, String)> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for run in &plan.runs {
        let key = (
            run.nodes,
            run.gpus,
            run.time
                .as_ref()
                .map_or_else(|| slurm.time.clone(), SlurmTime::to_string),
        );
        match keys.iter().position(|k| *k == key) {
            Some(g) => members[g].push(run.task_index),
            None => {
                keys.push(key);
                members.push(vec![run.task_index]);
            }
        }
    }
    keys.into_iter()
        .zip(members)
        .enumerate()
        .map(|(index, ((nodes, ranks_per_node, time), tasks))| Group {
            index,
            nodes,
            ranks_per_node,
            time,
            tasks: TaskSet::new(tasks),
        })
        .collect()
}
