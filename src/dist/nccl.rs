//! NCCL through cudarc (the library is loaded at run time, `libnccl.so` from the torch wheel's
//! `nvidia/nccl/lib`): one communicator over all ranks, its unique id broadcast over MPI, sums on
//! torch's default (legacy, null) stream so they are ordered with the step's kernels.

use anyhow::{anyhow, Result};
use cudarc::nccl::{result, sys};
use mpi::topology::SimpleCommunicator;
use tch::{Kind, Tensor};

use super::CommDtype;

pub struct Nccl {
    comm: sys::ncclComm_t,
}

impl Nccl {
    /// Creates the communicator; `device` becomes this thread's current CUDA device.
    pub fn new(mpi: &SimpleCommunicator, rank: usize, size: usize, device: usize) -> Result<Nccl> {
        use cudarc::driver::result as drv;
        use mpi::collective::Root;
        use mpi::topology::Communicator;
        drv::init().map_err(|e| anyhow!("CUDA driver: {e:?}"))?;
        let dev =
            drv::device::get(device as i32).map_err(|e| anyhow!("CUDA device {device}: {e:?}"))?;
        // SAFETY: the primary context of a valid device, made current for NCCL's runtime calls.
        unsafe {
            let ctx = drv::primary_ctx::retain(dev).map_err(|e| anyhow!("CUDA context: {e:?}"))?;
            drv::ctx::set_current(ctx).map_err(|e| anyhow!("CUDA context: {e:?}"))?;
        }
        let mut id = if rank == 0 {
            result::get_uniqueid().map_err(|e| anyhow!("ncclGetUniqueId: {e:?}"))?
        } else {
            sys::ncclUniqueId { internal: [0; 128] }
        };
        let mut bytes: Vec<u8> = id.internal.iter().map(|&c| c as u8).collect();
        mpi.process_at_rank(0).broadcast_into(&mut bytes[..]);
        for (d, s) in id.internal.iter_mut().zip(&bytes) {
            *d = *s as _;
        }
        let mut comm = std::ptr::null_mut();
        // SAFETY: `comm` receives the new communicator; every rank passes the same id.
        unsafe { result::comm_init_rank(&mut comm, size as i32, id, rank as i32) }
            .map_err(|e| anyhow!("ncclCommInitRank (rank {rank} of {size}): {e:?}"))?;
        Ok(Nccl { comm })
    }

    /// The sum over ranks of `flat` (a contiguous CUDA tensor), in `dtype` on the wire.
    pub fn sum(&self, flat: &Tensor, dtype: CommDtype) -> Result<Tensor> {
        let (buf, ty) = match dtype {
            CommDtype::Fp32 => (
                flat.to_kind(Kind::Float).contiguous(),
                sys::ncclDataType_t::ncclFloat32,
            ),
            CommDtype::Bf16 => (
                flat.to_kind(Kind::BFloat16).contiguous(),
                sys::ncclDataType_t::ncclBfloat16,
            ),
        };
        let ptr = buf.data_ptr();
        // SAFETY: in-place all-reduce of `numel` elements of a live CUDA buffer on the null stream.
        unsafe {
            result::all_reduce(
                ptr,
                ptr,
                buf.numel(),
                ty,
                sys::ncclRedOp_t::ncclSum,
                self.comm,
                std::ptr::null_mut(),
            )
        }
        .map_err(|e| anyhow!("ncclAllReduce: {e:?}"))?;
        Ok(buf.to_kind(Kind::Float))
    }
}

impl Drop for Nccl {
    fn drop(&mut self) {
        // SAFETY: the communicator is ours and no longer used.
        unsafe {
            let _ = result::comm_destroy(self.comm);
        }
    }
}
