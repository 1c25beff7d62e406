//! The physical limit: raw Argon2id hashes per second on this machine.
//!
//! One thread per core hashes in a loop with latchkey's parameters and memory allocated once,
//! the best case for the hashing itself. Nothing a sign-in does can be faster than one of
//! these per sign-in, so complete sign-ins per second divided by this is the fraction of the
//! machine that goes into the work that matters.

use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use latchkey_service::HashParams;

pub(super) fn raw_hashes_per_second(threads: usize, for_at_least: Duration) -> f64 {
    let params = HashParams::default();
    let started = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let argon2_params =
                        Params::new(params.memory_kib, params.iterations, params.lanes, Some(32))
                            .expect("latchkey's parameters are valid");
                    let argon2 =
                        Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params.clone());
                    let mut memory = vec![Block::new(); argon2_params.block_count()];
                    let mut out = [0u8; 32];
                    let salt = [t as u8; 16];
                    let mut done = 0u64;
                    while started.elapsed() < for_at_least {
                        argon2
                            .hash_password_into_with_memory(
                                b"correct horse battery staple",
                                &salt,
                                &mut out,
                                &mut memory,
                            )
                            .expect("hashing succeeds");
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("hash thread"))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    counts.iter().sum::<u64>() as f64 / elapsed
}
