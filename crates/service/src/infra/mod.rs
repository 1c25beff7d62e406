//! What the use cases stand on but do not decide: the bounded Argon2id pool
//! (`password_hasher`), OS randomness and token hashing (`secrets`), the server key, its rotation and
//! sealing (`server_key`),
//! who goes next in a queue (`slots`) and the request's place in it (`priority`), the
//! in-memory admission buckets (`admission`), the signed known-device token
//! (`known_devices`), sealing queued messages (`outbox`), the WebAuthn relying party
//! (`relying_party`) and what the fast path keeps in memory (`session_cache`).

pub mod admission;
pub mod known_devices;
pub mod outbox;
pub mod password_hasher;
pub mod priority;
pub(crate) mod relying_party;
pub mod secrets;
pub mod server_key;
pub mod session_cache;
pub mod slots;
