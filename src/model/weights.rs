//! Weights as safetensors with HF names and `format=pt` metadata, written deterministically (same
//! tensors → same bytes) and atomically; and loading them back into a `VarStore` by name.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use tch::{Device, Kind, Tensor};

use crate::io::write_bytes_atomic;

/// Tensors by their Hugging Face names.
pub type Weights = BTreeMap<String, Tensor>;

/// Serialises named fp32 tensors (copied to the CPU) to safetensors bytes.
pub fn to_safetensors(tensors: &BTreeMap<String, Tensor>) -> Result<Vec<u8>> {
    let mut data: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t
            .detach()
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous();
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let n = t.numel();
        let mut bytes = vec![0u8; n * 4];
        t.f_copy_data_u8(&mut bytes, n)
            .with_context(|| format!("copying {name}"))?;
        data.push((name.clone(), bytes, shape));
    }
    let views = data
        .iter()
        .map(|(name, bytes, shape)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| anyhow!("{name}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::serialize(views, Some(metadata)).map_err(|e| anyhow!("serialising: {e}"))
}

/// Writes named tensors to `path` atomically.
pub fn save(tensors: &BTreeMap<String, Tensor>, path: &Path) -> Result<()> {
    write_bytes_atomic(path, &to_safetensors(tensors)?)
}

/// Reads every tensor of a safetensors file (fp32, bf16 or fp16 stored) as fp32 CPU tensors.
pub fn load(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let bytes = fs_err::read(path)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow!("{}: not a safetensors file: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let kind = match view.dtype() {
            Dtype::F32 => Kind::Float,
            Dtype::BF16 => Kind::BFloat16,
            Dtype::F16 => Kind::Half,
            other => bail!(
                "{}: tensor {name} has unsupported dtype {other:?}",
                path.display()
            ),
        };
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::f_from_data_size(view.data(), &shape, kind)
            .with_context(|| format!("{}: tensor {name}", path.display()))?
            .to_kind(Kind::Float);
        out.insert(name, t);
    }
    Ok(out)
}

/// Copies `tensors` into the variables of `vs` with the same names; every variable must be given,
/// with its shape (a tied model may lack `lm_head.weight`; extra tensors are an error).
pub fn copy_into(
    vs: &tch::nn::VarStore,
    tensors: &BTreeMap<String, Tensor>,
    what: &Path,
) -> Result<()> {
    let mut vars = vs.variables();
    for (name, t) in tensors {
        let Some(var) = vars.remove(name) else {
            bail!("{}: unexpected tensor {name}", what.display());
        };
        if var.size() != t.size() {
            bail!(
                "{}: tensor {name} has shape {:?}, the model expects {:?}",
                what.display(),
                t.size(),
                var.size()
            );
        }
        tch::no_grad(|| var.shallow_clone().copy_(t));
    }
    if let Some(name) = vars.keys().next() {
        bail!("{}: tensor {name} is missing", what.display());
    }
    Ok(())
}

/// The variables of `vs` by name, in name order.
pub fn variables(vs: &tch::nn::VarStore) -> BTreeMap<String, Tensor> {
    vs.variables().into_iter().collect()
}

/// Variables built by `make` and drawn on the CPU after `tch::manual_seed(seed)`, so that a seed
/// gives the same initial weights on every device (CUDA's generator draws other numbers than the
/// CPU's); for another device `make` builds them there too, and the CPU draw is copied in.
pub fn seeded<M>(
    seed: i64,
    device: Device,
    make: impl Fn(&tch::nn::VarStore) -> Result<M>,
) -> Result<(tch::nn::VarStore, M)> {
    tch::manual_seed(seed);
    let cpu = tch::nn::VarStore::new(Device::Cpu);
    let drawn = make(&cpu)?;
    if device == Device::Cpu {
        return Ok((cpu, drawn));
    }
    let mut vs = tch::nn::VarStore::new(device);
    let model = make(&vs)?;
    vs.copy(&cpu)
        .with_context(|| format!("copying the initial weights to {device:?}"))?;
    Ok((vs, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The initial weights are a function of the seed alone: whatever the generator held before,
    /// the same seed draws the same numbers, another seed others.
    #[test]
    fn seeded_draws_depend_on_the_seed_only() {
        let make = |vs: &tch::nn::VarStore| -> Result<Tensor> {
            let init = tch::nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            };
            Ok(vs.root().var("w", &[4, 8], init))
        };
        tch::manual_seed(99);
        let _ = Tensor::randn([1000], (Kind::Float, Device::Cpu));
        let (_, a) = seeded(7, Device::Cpu, make).unwrap();
        let _ = Tensor::randn([17], (Kind::Float, Device::Cpu));
        let (_, b) = seeded(7, Device::Cpu, make).unwrap();
        let (_, c) = seeded(8, Device::Cpu, make).unwrap();
        assert!(a.equal(&b));
        assert!(!a.equal(&c));
    }

    #[test]
    fn round_trip_is_exact_and_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = BTreeMap::new();
        m.insert(
            "b.weight".to_owned(),
            Tensor::randn([3, 4], (Kind::Float, Device::Cpu)),
        );
        m.insert(
            "a.weight".to_owned(),
            Tensor::randn([5], (Kind::Float, Device::Cpu)),
        );
        let p = dir.path().join("m.safetensors");
        save(&m, &p).unwrap();
        assert_eq!(fs_err::read(&p).unwrap(), to_safetensors(&m).unwrap());
        let back = load(&p).unwrap();
        assert_eq!(back.len(), 2);
        for (k, v) in &m {
            assert!(back[k].equal(v), "{k}");
        }
        let st_bytes = fs_err::read(&p).unwrap();
        let st = SafeTensors::deserialize(&st_bytes).unwrap();
        assert!(st.names().contains(&"a.weight"));
    }
}
