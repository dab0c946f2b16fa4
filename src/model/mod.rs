//! The LLaMA decoder in libtorch with Hugging Face `LlamaForCausalLM` semantics and tensor names,
//! its `config.json`, safetensors I/O for its weights, the checkpoint folder they live in, and the
//! classification head GLUE fine-tunes (`LlamaForSequenceClassification`).

pub mod checkpoint;
pub mod classifier;
pub mod hf_config;
pub mod kernels;
mod layers;
pub mod llama;
pub mod weights;

pub use hf_config::LlamaConfig;
pub use llama::Llama;
