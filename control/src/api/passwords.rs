//! Password checks (argon2) on a few dedicated threads.
//!
//! Each check takes 19 MiB for a fraction of a second. Run on tokio's blocking pool, a burst of logins
//! ran one check per request at once (1.5 GB for 48 requests), and the allocator kept that memory in
//! the many threads' arenas afterwards. Here at most [`CHECKERS`] checks run and [`CHECKERS`] more wait;
//! a login beyond that is refused at once (503) instead of queued. Each thread allocates its argon2
//! memory once and reuses it, so the checks' memory is fixed (even one thread allocating and freeing
//! 19 MiB per check kept up to twice that in its arena).

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Threads checking passwords; also how many checks may wait for one.
pub const CHECKERS: usize = 2;

struct Job {
    hash: String,
    password: String,
    reply: oneshot::Sender<bool>,
}

/// The check could not start: too many are running or waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks in progress")]
pub struct Busy;

pub struct PasswordCheckers {
    jobs: SyncSender<Job>,
}

impl PasswordCheckers {
    pub fn start() -> Self {
        let (jobs, queue) = sync_channel::<Job>(CHECKERS);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..CHECKERS {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-check-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        // The lock is held only while waiting for a job, never while checking one.
                        let job = match queue.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        let ok = verify_with(&mut memory, &job.hash, job.password.as_bytes());
                        let _ = job.reply.send(ok);
                    }
                })
                .expect("cannot start a password check thread");
        }
        PasswordCheckers { jobs }
    }

    /// Whether `password` matches the argon2 PHC string `hash`; `Err(Busy)` at once when the checkers
    /// are saturated.
    pub async fn verify(&self, hash: String, password: String) -> Result<bool, Busy> {
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job { hash, password, reply }) {
            Ok(()) => Ok(answer.await.unwrap_or(false)),
            Err(TrySendError::Full(_)) => Err(Busy),
            Err(TrySendError::Disconnected(_)) => Ok(false),
        }
    }
}

/// `PasswordVerifier::verify_password` with the caller's memory: `memory` grows once to the largest
/// cost among the hashes checked (the configured users' and the dummy one) and is reused.
fn verify_with(memory: &mut Vec<Block>, phc: &str, password: &[u8]) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(hash.algorithm), Params::try_from(&hash)) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
        .is_ok()
        && crate::auth::constant_time_eq(&out, expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn excess_checks_are_refused_at_once() {
        let hash = hash("pw");
        let checkers = Arc::new(PasswordCheckers::start());
        let started = std::time::Instant::now();
        let burst: Vec<_> = (0..20)
            .map(|_| {
                let (c, h) = (checkers.clone(), hash.clone());
                tokio::spawn(async move { c.verify(h, "pw".into()).await })
            })
            .collect();
        let mut results = Vec::new();
        for b in burst {
            results.push(b.await.unwrap());
        }
        let busy = results.iter().filter(|r| **r == Err(Busy)).count();
        assert!(busy >= 20 - 2 * CHECKERS, "{results:?}");
        assert!(results.iter().all(|r| *r != Ok(false)), "{results:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        assert_eq!(checkers.verify(hash.clone(), "pw".into()).await, Ok(true), "free again afterwards");
        assert_eq!(checkers.verify(hash, "wrong".into()).await, Ok(false));
    }

    fn hash(password: &str) -> String {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        Argon2::default().hash_password(password.as_bytes(), &salt).unwrap().to_string()
    }

    #[test]
    fn agrees_with_the_crates_verifier() {
        use argon2::PasswordVerifier;
        let mut memory = Vec::new();
        let phc = hash("secret");
        let parsed = PasswordHash::new(&phc).unwrap();
        for (password, expected) in [("secret", true), ("Secret", false), ("", false)] {
            assert_eq!(verify_with(&mut memory, &phc, password.as_bytes()), expected, "{password}");
            assert_eq!(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(), expected);
        }
        // Other parameters (argon2i, smaller cost) reuse the larger memory.
        let salt = argon2::password_hash::SaltString::encode_b64(b"another-salt-123").unwrap();
        let small = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(1024, 3, 2, Some(16)).unwrap());
        let phc = argon2::PasswordHasher::hash_password(&small, b"pw", &salt).unwrap().to_string();
        assert!(verify_with(&mut memory, &phc, b"pw") && !verify_with(&mut memory, &phc, b"px"));
        assert!(!verify_with(&mut memory, "$argon2id$garbage", b"pw"));
    }
}
