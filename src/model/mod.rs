//! The LLaMA decoder in libtorch with Hugging Face `LlamaForCausalLM` semantics and tensor names,
//! its `config.json`, and safetensors I/O for its weights.

pub mod hf_config;
pub mod llama;
pub mod weights;

pub use hf_config::LlamaConfig;
pub use llama::Llama;
