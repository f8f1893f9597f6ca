//! The communicator this crate talks through, and agreement on errors.
//!
//! Every collective operation of the crate starts with [`Comm::agree`]: one `allreduce`
//! that checks all ranks are at the same step and learns whether any rank failed. A rank
//! that failed sends its error to all; everybody then returns the same error, so no rank
//! is left waiting in a collective call that the others never make.

use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::AsRaw;

use crate::error::{Error, ErrorKind, Result};

/// The collective steps, so that ranks at different steps are caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub(crate) enum Step {
    /// Creating a result.
    Create = 1,
    /// A flush.
    Flush = 2,
    /// `mark_started` / `mark_finished`.
    Mark = 3,
    /// Start of a write: local validation.
    Write = 4,
    /// Rank 0 laid the file out.
    Layout = 5,
    /// The ranks wrote their samples.
    Data = 6,
    /// The file was committed under its final name.
    Commit = 7,
}

impl Step {
    fn from_code(code: i64) -> &'static str {
        match code {
            1 => "create",
            2 => "flush",
            3 => "mark",
            4 => "write",
            5 => "layout",
            6 => "data",
            7 => "commit",
            _ => "?",
        }
    }
}

/// A duplicate of the application's communicator, private to one result.
pub(crate) struct Comm {
    comm: SimpleCommunicator,
    rank: i32,
    size: i32,
    /// How many times `agree` was called: equal on all ranks while they are in step.
    sequence: i64,
}

impl Comm {
    /// Duplicates `comm` so the crate's messages never mix with the application's.
    ///
    /// # Collective
    /// `MPI_Comm_dup` on every rank of `comm`.
    pub(crate) fn new(comm: &impl Communicator) -> Self {
        let comm = comm.duplicate();
        let (rank, size) = (comm.rank(), comm.size());
        Comm { comm, rank, size, sequence: 0 }
    }

    pub(crate) fn rank(&self) -> i32 {
        self.rank
    }
    pub(crate) fn size(&self) -> i32 {
        self.size
    }
    pub(crate) fn is_root(&self) -> bool {
        self.rank == 0
    }
    /// The raw communicator, for HDF5's MPI-IO driver.
    pub(crate) fn as_raw(&self) -> mpi::ffi::MPI_Comm {
        self.comm.as_raw()
    }

    /// Agrees on the outcome of `step`: every rank returns `Ok` only if every rank's
    /// `local` is `Ok`; otherwise every rank returns the same [`Error::OnRank`] naming the
    /// lowest failing rank (a lone rank returns its own error unchanged).
    ///
    /// # Collective
    /// One `allreduce`, plus a broadcast when a rank failed.
    ///
    /// # Errors
    /// [`Error::Collective`] when the ranks are at different steps; [`Error::OnRank`] when
    /// any rank's `local` is an error.
    pub(crate) fn agree<T>(&mut self, step: Step, local: Result<T>) -> Result<T> {
        self.sequence += 1;
        let failed = if local.is_err() { i64::from(self.rank) } else { i64::MAX };
        let code = step as i64;
        let send = [code, -code, self.sequence, -self.sequence, failed];
        let mut min = [0i64; 5];
        self.comm.all_reduce_into(&send[..], &mut min[..], SystemOperation::min());
        if min[0] != -min[1] || min[2] != -min[3] {
            return Err(self.out_of_step(code));
        }
        if min[4] == i64::MAX {
            return local;
        }
        let failing = i32::try_from(min[4]).expect("a rank fits in i32");
        if self.size == 1 {
            return local;
        }
        let mine = match &local {
            Err(e) if self.rank == failing => serde_json::to_vec(&(e.kind(), e.to_string())).expect("plain data"),
            _ => Vec::new(),
        };
        let bytes = self.broadcast_bytes(failing, mine);
        let (kind, message): (ErrorKind, String) =
            serde_json::from_slice(&bytes).unwrap_or((ErrorKind::Collective, "undecodable error".into()));
        Err(Error::OnRank { rank: failing, kind, message })
    }

    /// Names where each rank is, after `agree` found them out of step.
    fn out_of_step(&self, code: i64) -> Error {
        let mine = [code, self.sequence];
        let mut all = vec![0i64; 2 * usize::try_from(self.size).expect("positive size")];
        self.comm.all_gather_into(&mine[..], &mut all[..]);
        let at: Vec<String> = all
            .chunks(2)
            .enumerate()
            .map(|(rank, c)| format!("rank {rank} at {} (collective call #{})", Step::from_code(c[0]), c[1]))
            .collect();
        Error::Collective(format!(
            "{}; every rank must call flush and write equally often, in the same order",
            at.join(", ")
        ))
    }

    /// Broadcasts `bytes` from `root`; every rank returns root's bytes.
    ///
    /// # Collective
    pub(crate) fn broadcast_bytes(&self, root: i32, mut bytes: Vec<u8>) -> Vec<u8> {
        let process = self.comm.process_at_rank(root);
        let mut len = bytes.len() as u64;
        process.broadcast_into(&mut len);
        bytes.resize(usize::try_from(len).expect("message fits in memory"), 0);
        process.broadcast_into(&mut bytes[..]);
        bytes
    }

    /// Gathers every rank's `bytes` on rank 0 (in rank order); other ranks get `None`.
    /// The messages go in rounds of at most [`GATHER_ROUND`] bytes in all, so their total
    /// is not bound by MPI's `int` counts.
    ///
    /// # Collective
    pub(crate) fn gather_bytes(&self, bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
        let lens = self.all_gather_u64(bytes.len() as u64);
        let per_rank = (GATHER_ROUND / lens.len() as u64).max(1);
        let rounds = lens.iter().map(|l| l.div_ceil(per_rank)).max().unwrap_or(0);
        let root = self.comm.process_at_rank(0);
        let mut all: Option<Vec<Vec<u8>>> = self.is_root().then(|| lens.iter().map(|&l| Vec::with_capacity(usize::try_from(l).unwrap_or(0))).collect());
        for round in 0..rounds {
            let counts = round_counts(&lens, per_rank, round);
            let at = usize::try_from(round * per_rank).unwrap_or(usize::MAX).min(bytes.len());
            let mine = &bytes[at..at + counts[usize::try_from(self.rank).expect("rank fits")] as usize];
            match all.as_mut() {
                Some(all) => {
                    let displs = displacements(&counts).expect("a round holds at most GATHER_ROUND bytes");
                    let mut buf = vec![0u8; counts.iter().map(|&c| c as usize).sum()];
                    {
                        let mut partition = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
                        root.gather_varcount_into_root(mine, &mut partition);
                    }
                    for (a, part) in all.iter_mut().zip(split(&buf, &counts, &displs)) {
                        a.extend_from_slice(&part);
                    }
                }
                None => root.gather_varcount_into(mine),
            }
        }
        all
    }

    /// Sends `parts[r]` from rank 0 to rank `r`; every rank returns its part. The parts
    /// must have passed [`scatter_check`] (on rank 0, before the ranks agreed to go on).
    ///
    /// # Collective
    pub(crate) fn scatter_bytes(&self, parts: Option<Vec<Vec<u8>>>) -> Vec<u8> {
        let root = self.comm.process_at_rank(0);
        let mut len = 0i32;
        match parts {
            Some(parts) => {
                let (counts, displs) = scatter_check(&parts).expect("checked before the agreement");
                root.scatter_into_root(&counts[..], &mut len);
                let flat = parts.concat();
                let mut mine = vec![0u8; usize::try_from(len).expect("non-negative")];
                let partition = Partition::new(&flat[..], &counts[..], &displs[..]);
                root.scatter_varcount_into_root(&partition, &mut mine[..]);
                mine
            }
            None => {
                root.scatter_into(&mut len);
                let mut mine = vec![0u8; usize::try_from(len).expect("non-negative")];
                root.scatter_varcount_into(&mut mine[..]);
                mine
            }
        }
    }

    /// Gathers one `u64` from every rank onto every rank.
    ///
    /// # Collective
    pub(crate) fn all_gather_u64(&self, value: u64) -> Vec<u64> {
        self.all_gather_u64s(&[value])
    }

    /// Gathers `values` (the same count on every rank) onto every rank, in rank order.
    ///
    /// # Collective
    pub(crate) fn all_gather_u64s(&self, values: &[u64]) -> Vec<u64> {
        let mut all = vec![0u64; values.len() * usize::try_from(self.size).expect("positive size")];
        self.comm.all_gather_into(values, &mut all[..]);
        all
    }
}

/// The most bytes one round of [`Comm::gather_bytes`] carries, over all ranks.
const GATHER_ROUND: u64 = 1 << 30;

/// What each rank sends in round `round` of a gather of messages of `lens` bytes, at most
/// `per_rank` bytes each.
fn round_counts(lens: &[u64], per_rank: u64, round: u64) -> Vec<i32> {
    let from = round * per_rank;
    lens.iter().map(|&l| i32::try_from(l.saturating_sub(from).min(per_rank)).expect("per_rank fits i32")).collect()
}

/// The counts and displacements of a scatter of `parts`.
///
/// # Errors
/// [`Error::Validation`] when the parts are more than one MPI message can carry (2 GiB).
pub(crate) fn scatter_check(parts: &[Vec<u8>]) -> Result<(Vec<i32>, Vec<i32>)> {
    let counts = parts.iter().map(|p| count(p.len())).collect::<Result<Vec<_>>>()?;
    let displs = displacements(&counts)?;
    Ok((counts, displs))
}

/// An MPI count for `len` bytes.
fn count(len: usize) -> Result<i32> {
    i32::try_from(len).map_err(|_| {
        Error::invalid("rank message", format!("{len} bytes is more than one MPI message can carry (2 GiB)"))
    })
}

/// Exclusive prefix sums of `counts`.
fn displacements(counts: &[i32]) -> Result<Vec<i32>> {
    let mut displs = Vec::with_capacity(counts.len());
    let mut at = 0i32;
    for &c in counts {
        displs.push(at);
        at = at.checked_add(c).ok_or_else(|| Error::invalid("gathered messages", "more than 2 GiB in total"))?;
    }
    Ok(displs)
}

/// Splits a gathered buffer back into the ranks' messages.
fn split(buf: &[u8], counts: &[i32], displs: &[i32]) -> Vec<Vec<u8>> {
    counts.iter().zip(displs).map(|(&c, &d)| buf[d as usize..(d + c) as usize].to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displacements_are_exclusive_prefix_sums() {
        assert_eq!(displacements(&[3, 0, 2]).unwrap(), [0, 3, 3]);
        assert!(displacements(&[i32::MAX, 1, 1]).is_err());
        let parts = split(b"abcde", &[3, 0, 2], &[0, 3, 3]);
        assert_eq!(parts, [b"abc".to_vec(), vec![], b"de".to_vec()]);
    }

    #[test]
    fn gather_rounds_cover_every_byte_once() {
        let lens = [10u64, 0, 25];
        let per = 8;
        let rounds = lens.iter().map(|l| l.div_ceil(per)).max().unwrap();
        let sent: Vec<u64> = (0..rounds).map(|r| round_counts(&lens, per, r)).fold(vec![0; 3], |mut acc, c| {
            acc.iter_mut().zip(&c).for_each(|(a, c)| *a += u64::try_from(*c).unwrap());
            acc
        });
        assert_eq!(sent, lens);
        assert_eq!(round_counts(&lens, per, 1), [2, 0, 8]);
        assert!(scatter_check(&[vec![0; 3], vec![]]).is_ok());
    }
}
