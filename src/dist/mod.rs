//! Ranks of a data-parallel run and their collectives.
//!
//! [`World`] finds out whether the process was started by a launcher (`srun --mpi=pmix`,
//! `mpirun`): then it initializes MPI and knows its rank, the world size and its local rank on the
//! node; otherwise it is a world of one and makes no MPI call. Gradients are averaged across ranks
//! after the backward pass in flat buckets of about 25 MB: with `MPI_Allreduce` on CPUs, with NCCL
//! (through cudarc, the unique id broadcast over MPI) on GPUs. tch exposes no autograd hooks per
//! parameter, so communication does not overlap the backward pass.

#[cfg(feature = "mpi")]
mod nccl;

use anyhow::{bail, Result};
use tch::Tensor;

pub use crate::config::CommDtype;

/// Bytes per all-reduce bucket.
pub const BUCKET_BYTES: usize = 25 << 20;

/// This process's place in the run.
pub struct World {
    rank: usize,
    size: usize,
    local_rank: usize,
    #[cfg(feature = "mpi")]
    mpi: Option<mpi::topology::SimpleCommunicator>,
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
    #[cfg(feature = "mpi")]
    nccl: Option<nccl::Nccl>,
}

/// The world size a launcher announced in the environment, if any.
fn launcher_size() -> Option<usize> {
    [
        "OMPI_COMM_WORLD_SIZE",
        "PMIX_SIZE",
        "PMI_SIZE",
        "SLURM_NTASKS",
    ]
    .iter()
    .filter(|k| **k != "SLURM_NTASKS" || std::env::var_os("SLURM_STEP_ID").is_some())
    .find_map(|k| std::env::var(k).ok()?.parse().ok())
}

#[cfg(feature = "mpi")]
fn local_rank_from_env() -> usize {
    [
        "SLURM_LOCALID",
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "MPI_LOCALRANKID",
    ]
    .iter()
    .find_map(|k| std::env::var(k).ok()?.parse().ok())
    .unwrap_or(0)
}

impl World {
    /// A world of one process.
    pub fn single() -> World {
        World {
            rank: 0,
            size: 1,
            local_rank: 0,
            #[cfg(feature = "mpi")]
            mpi: None,
            #[cfg(feature = "mpi")]
            _universe: None,
            #[cfg(feature = "mpi")]
            nccl: None,
        }
    }

    /// Joins the launcher's world (MPI) when there is one, else a world of one.
    pub fn init() -> Result<World> {
        let Some(announced) = launcher_size() else {
            return Ok(World::single());
        };
        #[cfg(feature = "mpi")]
        {
            use mpi::topology::Communicator;
            let Some(universe) = mpi::initialize() else {
                bail!("MPI was already initialized in this process");
            };
            let comm = universe.world();
            let (rank, size) = (comm.rank() as usize, comm.size() as usize);
            if size != announced {
                tracing::warn!("the launcher announced {announced} ranks, MPI has {size}");
            }
            Ok(World {
                rank,
                size,
                local_rank: local_rank_from_env(),
                mpi: Some(comm),
                _universe: Some(universe),
                nccl: None,
            })
        }
        #[cfg(not(feature = "mpi"))]
        {
            if announced > 1 {
                bail!("started as one of {announced} ranks, but this lmeff was built without the `mpi` feature");
            }
            Ok(World::single())
        }
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Rank on this node (the CUDA device of the rank).
    pub fn local_rank(&self) -> usize {
        self.local_rank
    }

    /// Rank 0: the one that writes checkpoints, metrics and logs.
    pub fn is_main(&self) -> bool {
        self.rank == 0
    }

    /// True when collectives go through a communicator (more than one rank, or MPI started).
    pub fn is_distributed(&self) -> bool {
        #[cfg(feature = "mpi")]
        {
            self.mpi.is_some()
        }
        #[cfg(not(feature = "mpi"))]
        {
            false
        }
    }

    /// The device this rank computes on: with several ranks and CUDA, the GPU of its local rank
    /// among the visible ones ([`crate::device::cuda_ordinal_for`]), with NCCL set up for the
    /// gradients; otherwise `requested`.
    pub fn rank_device(
        &mut self,
        requested: crate::device::Device,
    ) -> Result<crate::device::Device> {
        use crate::device::Device;
        match requested {
            Device::Cuda(_) if self.is_distributed() => {
                let visible = crate::device::visible_cuda_devices()?;
                let ordinal = crate::device::cuda_ordinal_for(self.local_rank, visible)?;
                let device = Device::Cuda(ordinal);
                device.activate()?;
                self.use_nccl(ordinal)?;
                Ok(device)
            }
            d => Ok(d),
        }
    }

    /// Sets up NCCL for gradients on CUDA device `device` (one communicator over all ranks).
    pub fn use_nccl(&mut self, device: usize) -> Result<()> {
        #[cfg(feature = "mpi")]
        {
            let comm = self
                .mpi
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("NCCL needs an MPI launcher"))?;
            self.nccl = Some(nccl::Nccl::new(comm, self.rank, self.size, device)?);
            Ok(())
        }
        #[cfg(not(feature = "mpi"))]
        {
            let _ = device;
            bail!("NCCL needs the `mpi` feature")
        }
    }

    /// Sums `values` over all ranks (in place).
    pub fn sum_f64(&self, values: &mut [f64]) {
        #[cfg(feature = "mpi")]
        if let Some(comm) = &self.mpi {
            use mpi::collective::{CommunicatorCollectives, SystemOperation};
            let send = values.to_vec();
            comm.all_reduce_into(&send[..], values, SystemOperation::sum());
        }
        let _ = values;
    }

    /// True on every rank when `flag` is true on any rank.
    pub fn any(&self, flag: bool) -> bool {
        let mut v = [flag as u8 as f64];
        self.sum_f64(&mut v);
        v[0] > 0.0
    }

    /// Waits for every rank.
    pub fn barrier(&self) {
        #[cfg(feature = "mpi")]
        if let Some(comm) = &self.mpi {
            use mpi::collective::CommunicatorCollectives;
            comm.barrier();
        }
    }

    /// Averages `grads` across ranks in place, bucket by bucket.
    pub fn average_gradients(&self, grads: &[Tensor], dtype: CommDtype) -> Result<()> {
        if !self.is_distributed() {
            return Ok(());
        }
        for bucket in buckets(grads) {
            let parts: Vec<Tensor> = bucket.iter().map(|g| g.reshape([-1])).collect();
            let flat = Tensor::cat(&parts, 0);
            let reduced = self.sum_flat(&flat, dtype)? / self.size as f64;
            let mut offset = 0;
            for g in bucket {
                let n = g.numel() as i64;
                g.shallow_clone()
                    .copy_(&reduced.narrow(0, offset, n).view_as(g));
                offset += n;
            }
        }
        Ok(())
    }

    #[cfg(feature = "mpi")]
    fn sum_flat(&self, flat: &Tensor, dtype: CommDtype) -> Result<Tensor> {
        if let Some(nccl) = &self.nccl {
            return nccl.sum(flat, dtype);
        }
        if dtype == CommDtype::Bf16 {
            bail!("bf16 gradient all-reduce needs NCCL (CUDA); use comm_dtype = \"fp32\" on CPUs");
        }
        let comm = self.mpi.as_ref().expect("distributed");
        use mpi::collective::{CommunicatorCollectives, SystemOperation};
        let host = flat
            .to_device(tch::Device::Cpu)
            .to_kind(tch::Kind::Float)
            .contiguous();
        let send: Vec<f32> = Vec::try_from(&host)?;
        let mut recv = vec![0f32; send.len()];
        comm.all_reduce_into(&send[..], &mut recv[..], SystemOperation::sum());
        Ok(Tensor::from_slice(&recv).to_device(flat.device()))
    }

    #[cfg(not(feature = "mpi"))]
    fn sum_flat(&self, flat: &Tensor, _dtype: CommDtype) -> Result<Tensor> {
        Ok(flat.shallow_clone())
    }
}

/// Consecutive groups of tensors of about [`BUCKET_BYTES`] (a larger tensor is a bucket alone).
fn buckets(ts: &[Tensor]) -> Vec<&[Tensor]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, t) in ts.iter().enumerate() {
        let b = t.numel() * 4;
        if bytes > 0 && bytes + b > BUCKET_BYTES {
            out.push(&ts[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += b;
    }
    if start < ts.len() {
        out.push(&ts[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn buckets_cover_all_tensors_in_order() {
        let big = (BUCKET_BYTES / 4) as i64;
        let ts: Vec<Tensor> = [big / 2, big / 2, 10, 2 * big, 3]
            .iter()
            .map(|&n| Tensor::arange(n, (Kind::Float, tch::Device::Cpu)) * 0.5 - 1.0)
            .collect();
        let sizes: Vec<usize> = buckets(&ts).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [2, 1, 1, 1]);
        let w = World::single();
        assert!(!w.is_distributed() && w.is_main() && !w.any(false) && w.any(true));
        // One rank's average is its own gradients: every element of every bucket unchanged
        // (whatever the communication dtype: a single rank sends nothing).
        let before: Vec<Tensor> = ts.iter().map(Tensor::copy).collect();
        for dtype in [CommDtype::Fp32, CommDtype::Bf16] {
            w.average_gradients(&ts, dtype).unwrap();
            for (t, b) in ts.iter().zip(&before) {
                assert!(t.equal(b), "{dtype:?}: a gradient changed");
            }
        }
    }
}
