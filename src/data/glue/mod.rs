//! GLUE/SuperGLUE data: the tasks as the BabyLM pipeline reads them ([`tasks`]), their splits and
//! how they are encoded ([`splits`]), and `lmeff data fetch glue` ([`fetch`]): the tasks' Hub
//! Parquet files, or a local `glue_filtered` folder, written as `<task>/{train,dev,test}.jsonl`.

pub mod fetch;
pub mod splits;
pub mod tasks;

pub use tasks::Task;
