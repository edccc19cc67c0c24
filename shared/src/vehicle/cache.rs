//! An in-process TTL cache with single-flight, shared by all requests of one instance.
//!
//! Vehicle data changes rarely and Statens vegvesen allows 50 000 calls per key per day, so the
//! plate lookup keeps answers in memory: hits for hours, not-found answers for minutes (the
//! caller picks the TTL per value). Concurrent lookups of the same key share one fetch, which
//! runs in its own task so that a caller that goes away neither cancels it for the others nor
//! leaves them waiting.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Why a shared fetch produced no outcome for its waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The fetch task ended without a result: its future panicked, or the runtime shut down
    /// under it.
    #[error("the shared fetch ended without a result (it panicked or was cancelled)")]
    FetchAborted,
}

/// Counters since the cache was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Calls answered from a stored, unexpired entry.
    pub hits: u64,
    /// Calls that found no fresh entry (they either started a fetch or joined one).
    pub misses: u64,
    /// Fetches started.
    pub fetches: u64,
}

/// A bounded map from `K` to `V` whose entries expire, filled by [`Cache::get_or_fetch`].
pub struct Cache<K, V> {
    state: Arc<Mutex<State<K, V>>>,
}

struct State<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Each value is a `watch::Receiver<Outcome<V, E>>` for the `E` of the call that started
    /// the fetch. `E` is chosen per call, not per cache, hence the type erasure.
    in_flight: HashMap<K, Box<dyn Any + Send + Sync>>,
    capacity: usize,
    /// Tells negative answers ("no such vehicle") apart: they may never push a positive one
    /// out, and at most `negative_capacity` of them are kept.
    negative: Option<fn(&V) -> bool>,
    negative_capacity: usize,
    /// A logical clock for least-recently-used eviction: bumped on every store and hit.
    clock: u64,
    stats: CacheStats,
}

struct Entry<V> {
    value: V,
    /// `None` when the TTL is too large to represent: such an entry never expires.
    expires_at: Option<Instant>,
    last_used: u64,
}

/// What waiters see: `None` until the fetch has finished.
type Outcome<V, E> = Option<Result<V, E>>;

impl<K, V> Cache<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache that stores at most `capacity` entries (0 stores nothing but still shares
    /// concurrent fetches).
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                entries: HashMap::new(),
                in_flight: HashMap::new(),
                capacity,
                negative: None,
                negative_capacity: 0,
                clock: 0,
                stats: CacheStats::default(),
            })),
        }
    }

    /// A cache where values for which `is_negative` holds (cheap to get again, and what a
    /// client can produce at will by asking for made-up keys) take at most
    /// `negative_capacity` slots and never evict a positive value.
    pub fn with_negatives(
        capacity: usize,
        negative_capacity: usize,
        is_negative: fn(&V) -> bool,
    ) -> Self {
        let cache = Self::new(capacity);
        {
            let mut state = cache.lock();
            state.negative = Some(is_negative);
            state.negative_capacity = negative_capacity.min(capacity);
        }
        cache
    }

    /// Returns the fresh value stored for `key`, or fetches it.
    ///
    /// `fetch` returns the value with its TTL; the value is stored only on `Ok` and only for a
    /// non-zero TTL. Errors are never stored: the next call fetches again. While a fetch for
    /// `key` is running, further calls wait for it and get a clone of its outcome instead of
    /// fetching again.
    ///
    /// The fetch runs in a spawned Tokio task (inline when no Tokio runtime is present), so it
    /// completes even if every caller is dropped. If it panics, each waiter gets
    /// `E::from(CacheError::FetchAborted)` and the next call fetches again.
    ///
    /// Sharing is per key and error type: a call with a different `E` than the running fetch
    /// (which the program never does on purpose) starts its own fetch.
    pub async fn get_or_fetch<F, Fut, E>(&self, key: K, fetch: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(V, Duration), E>> + Send + 'static,
        E: From<CacheError> + Clone + Send + Sync + 'static,
    {
        let (mut receiver, flight) = {
            let mut state = self.lock();
            let now = Instant::now();
            if let Some(value) = state.fresh(&key, now) {
                return Ok(value);
            }
            state.stats.misses += 1;
            let joined = state
                .in_flight
                .get(&key)
                .and_then(|any| any.downcast_ref::<watch::Receiver<Outcome<V, E>>>())
                .cloned();
            match joined {
                Some(receiver) => (receiver, None),
                None => {
                    state.stats.fetches += 1;
                    let (sender, receiver) = watch::channel(None);
                    let owns_slot = !state.in_flight.contains_key(&key);
                    if owns_slot {
                        state
                            .in_flight
                            .insert(key.clone(), Box::new(receiver.clone()));
                    }
                    let flight = Flight {
                        key,
                        owns_slot,
                        state: Arc::clone(&self.state),
                        sender,
                        finished: false,
                    };
                    (receiver, Some(flight))
                }
            }
        };

        if let Some(flight) = flight {
            // The flight guard exists before `fetch` is called, so even a panicking `fetch`
            // frees the in-flight slot on unwind.
            let future = fetch();
            let task = async move {
                let outcome = future.await;
                flight.finish(outcome);
            };
            match tokio::runtime::Handle::try_current() {
                // Detached: the task outlives every caller.
                Ok(runtime) => drop(runtime.spawn(task)),
                Err(_) => task.await,
            }
        }

        match receiver.wait_for(Option::is_some).await {
            Ok(outcome) => match &*outcome {
                Some(result) => result.clone(),
                None => Err(E::from(CacheError::FetchAborted)),
            },
            // The sender was dropped without a value: the fetch task panicked or was dropped.
            Err(_) => Err(E::from(CacheError::FetchAborted)),
        }
    }

    /// The stored value for `key` if it is fresh (counted as a hit), without starting a fetch:
    /// the hit path of [`Cache::get_or_fetch`] without building its fetch.
    pub fn get(&self, key: &K) -> Option<V> {
        self.lock().fresh(key, Instant::now())
    }

    /// Stored entries, including expired ones not yet purged.
    /// Whether a call for `key` now would be answered without a fetch (a fresh entry or one
    /// already being fetched). Counts nothing.
    pub fn is_warm(&self, key: &K) -> bool {
        let state = self.lock();
        state.in_flight.contains_key(key)
            || state
                .entries
                .get(key)
                .is_some_and(|e| e.expires_at.is_none_or(|at| at > Instant::now()))
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        lock(&self.state)
    }
}

/// A `std` mutex rather than Tokio's: it is held only for short map operations and never across
/// an `.await`, so it cannot block the runtime for long and needs no async locking. Poisoning is
/// ignored because no code panics while holding it, so the state is consistent even then.
fn lock<K, V>(state: &Mutex<State<K, V>>) -> MutexGuard<'_, State<K, V>> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K: Eq + Hash + Clone, V: Clone> State<K, V> {
    /// The stored value if it has not expired; an expired entry is dropped on the way.
    fn fresh(&mut self, key: &K, now: Instant) -> Option<V> {
        let entry = self.entries.get_mut(key)?;
        if entry.expires_at.is_some_and(|at| at <= now) {
            self.entries.remove(key);
            return None;
        }
        self.clock += 1;
        entry.last_used = self.clock;
        self.stats.hits += 1;
        Some(entry.value.clone())
    }

    fn store(&mut self, key: K, value: V, ttl: Duration, now: Instant) {
        if self.capacity == 0 || ttl.is_zero() {
            return;
        }
        let classify = self.negative;
        let is_negative = move |v: &V| classify.is_some_and(|f| f(v));
        let negative = is_negative(&value);
        let replacing = self.entries.contains_key(&key);
        if !replacing && self.entries.len() >= self.capacity {
            self.entries
                .retain(|_, entry| entry.expires_at.is_none_or(|at| at > now));
        }
        if !replacing && negative {
            let negatives = self
                .entries
                .values()
                .filter(|e| is_negative(&e.value))
                .count();
            if negatives >= self.negative_capacity {
                // Make room among the negatives only; with none to give up, keep nothing.
                if !self.evict_lru(|e| is_negative(&e.value)) {
                    return;
                }
            }
        }
        if !replacing && self.entries.len() >= self.capacity {
            // Negatives go first; a negative never takes a positive's place.
            if !self.evict_lru(|e| is_negative(&e.value)) && (negative || !self.evict_lru(|_| true))
            {
                return;
            }
        }
        self.clock += 1;
        let entry = Entry {
            value,
            expires_at: now.checked_add(ttl),
            last_used: self.clock,
        };
        self.entries.insert(key, entry);
    }

    /// Removes the least recently used entry among those `eligible`; whether there was one. A
    /// linear scan: eviction happens only when the cache is full, and at the sizes we use
    /// (thousands) it costs microseconds, less than keeping an ordered index.
    fn evict_lru(&mut self, eligible: impl Fn(&Entry<V>) -> bool) -> bool {
        let oldest = self
            .entries
            .iter()
            .filter(|(_, entry)| eligible(entry))
            .min_by_key(|(_, entry)| entry.last_used)
            .map(|(key, _)| key.clone());
        match oldest {
            Some(oldest) => self.entries.remove(&oldest).is_some(),
            None => false,
        }
    }
}

/// One running fetch. Dropping it unfinished (the fetch panicked or its task was dropped)
/// frees the in-flight slot and, by dropping the sender, wakes the waiters with an error.
struct Flight<K: Eq + Hash, V, E> {
    key: K,
    /// False when another call (with a different error type) already held the slot.
    owns_slot: bool,
    state: Arc<Mutex<State<K, V>>>,
    sender: watch::Sender<Outcome<V, E>>,
    finished: bool,
}

impl<K: Eq + Hash + Clone, V: Clone, E> Flight<K, V, E> {
    fn finish(mut self, outcome: Result<(V, Duration), E>) {
        let result = {
            let mut state = lock(&self.state);
            if self.owns_slot {
                state.in_flight.remove(&self.key);
            }
            match outcome {
                Ok((value, ttl)) => {
                    state.store(self.key.clone(), value.clone(), ttl, Instant::now());
                    Ok(value)
                }
                Err(error) => Err(error),
            }
        };
        self.finished = true;
        // Sent after the lock is released; waiters that joined before the slot was freed get
        // this, later callers already see the stored entry.
        self.sender.send_replace(Some(result));
    }
}

impl<K: Eq + Hash, V, E> Drop for Flight<K, V, E> {
    fn drop(&mut self) {
        if !self.finished && self.owns_slot {
            lock(&self.state).in_flight.remove(&self.key);
        }
    }
}

impl<K, V> fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Cache")
            .field("len", &state.entries.len())
            .field("capacity", &state.capacity)
            .field("in_flight", &state.in_flight.len())
            .field("stats", &state.stats)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};
    use tokio::sync::oneshot;

    const HOUR: Duration = Duration::from_secs(3600);

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum TestError {
        Upstream(&'static str),
        Cache(CacheError),
    }

    impl From<CacheError> for TestError {
        fn from(error: CacheError) -> Self {
            TestError::Cache(error)
        }
    }

    type BoxedFetch =
        std::pin::Pin<Box<dyn Future<Output = Result<(usize, Duration), TestError>> + Send>>;

    /// A fetch that counts its calls and returns the call number as the value, so a test can
    /// tell a stored value from a fresh one.
    fn counting(calls: &Arc<AtomicUsize>, ttl: Duration) -> impl FnOnce() -> BoxedFetch {
        let calls = Arc::clone(calls);
        move || {
            Box::pin(async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                Ok((n, ttl))
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hundred_concurrent_callers_share_one_fetch() {
        let cache = Arc::new(Cache::<String, usize>::new(16));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let cache = Arc::clone(&cache);
            let calls = Arc::clone(&calls);
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("EC47213".to_owned(), move || async move {
                        // Paused time only moves on once every caller is parked waiting.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                        Ok::<_, TestError>((n * 7, HOUR))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.expect("caller task"), Ok(7));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 0,
                misses: 100,
                fetches: 1
            }
        );
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stored_value_is_served_until_its_ttl_runs_out() {
        let cache = Cache::<&str, usize>::new(16);
        let calls = Arc::new(AtomicUsize::new(0));
        let ttl = Duration::from_secs(600);

        assert_eq!(cache.get_or_fetch("a", counting(&calls, ttl)).await, Ok(1));
        tokio::time::advance(ttl - Duration::from_secs(1)).await;
        assert_eq!(cache.get_or_fetch("a", counting(&calls, ttl)).await, Ok(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cache.get_or_fetch("a", counting(&calls, ttl)).await, Ok(2));

        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 1,
                misses: 2,
                fetches: 2
            }
        );
    }

    #[tokio::test]
    async fn errors_are_not_stored_so_the_next_call_fetches_again() {
        let cache = Cache::<&str, usize>::new(16);
        let calls = Arc::new(AtomicUsize::new(0));
        let failing = {
            let calls = Arc::clone(&calls);
            move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(usize, Duration), _>(TestError::Upstream("503"))
            }
        };

        assert_eq!(
            cache.get_or_fetch("a", failing).await,
            Err(TestError::Upstream("503"))
        );
        assert!(cache.is_empty());
        assert_eq!(cache.get_or_fetch("a", counting(&calls, HOUR)).await, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_all_get_a_clone_of_the_shared_error() {
        let cache = Arc::new(Cache::<&str, usize>::new(16));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let cache = Arc::clone(&cache);
            let calls = Arc::clone(&calls);
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("a", move || async move {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        calls.fetch_add(1, Ordering::SeqCst);
                        Err::<(usize, Duration), _>(TestError::Upstream("timeout"))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(
                task.await.expect("caller task"),
                Err(TestError::Upstream("timeout"))
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_full_cache_evicts_the_least_recently_used_entry() {
        let cache = Cache::<&str, usize>::new(2);
        let calls = Arc::new(AtomicUsize::new(0));

        cache
            .get_or_fetch("a", counting(&calls, HOUR))
            .await
            .expect("a");
        cache
            .get_or_fetch("b", counting(&calls, HOUR))
            .await
            .expect("b");
        // Touch "a" so that "b" becomes the least recently used.
        cache
            .get_or_fetch("a", counting(&calls, HOUR))
            .await
            .expect("a again");
        cache
            .get_or_fetch("c", counting(&calls, HOUR))
            .await
            .expect("c");
        assert_eq!(cache.len(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        assert_eq!(cache.get_or_fetch("a", counting(&calls, HOUR)).await, Ok(1));
        assert_eq!(cache.get_or_fetch("c", counting(&calls, HOUR)).await, Ok(3));
        assert_eq!(calls.load(Ordering::SeqCst), 3, "a and c were still stored");
        assert_eq!(cache.get_or_fetch("b", counting(&calls, HOUR)).await, Ok(4));
        assert_eq!(cache.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_cache_drops_expired_entries_before_live_ones() {
        let cache = Cache::<&str, usize>::new(2);
        let calls = Arc::new(AtomicUsize::new(0));

        // "old" is the least recently used but still fresh; "short" expires first.
        cache
            .get_or_fetch("old", counting(&calls, HOUR))
            .await
            .expect("old");
        cache
            .get_or_fetch("short", counting(&calls, Duration::from_secs(1)))
            .await
            .expect("short");
        tokio::time::advance(Duration::from_secs(2)).await;
        cache
            .get_or_fetch("new", counting(&calls, HOUR))
            .await
            .expect("new");

        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.get_or_fetch("old", counting(&calls, HOUR)).await,
            Ok(1)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_zero_capacity_or_zero_ttl_stores_nothing_but_still_answers() {
        let calls = Arc::new(AtomicUsize::new(0));
        let no_room = Cache::<&str, usize>::new(0);
        assert_eq!(
            no_room.get_or_fetch("a", counting(&calls, HOUR)).await,
            Ok(1)
        );
        assert!(no_room.is_empty());

        let cache = Cache::<&str, usize>::new(4);
        assert_eq!(
            cache
                .get_or_fetch("a", counting(&calls, Duration::ZERO))
                .await,
            Ok(2)
        );
        assert!(cache.is_empty());
        assert_eq!(
            cache
                .get_or_fetch("a", counting(&calls, Duration::ZERO))
                .await,
            Ok(3)
        );
    }

    #[tokio::test]
    async fn a_ttl_too_large_for_the_clock_means_never_expiring() {
        let cache = Cache::<&str, usize>::new(4);
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(
            cache
                .get_or_fetch("a", counting(&calls, Duration::MAX))
                .await,
            Ok(1)
        );
        assert_eq!(
            cache
                .get_or_fetch("a", counting(&calls, Duration::MAX))
                .await,
            Ok(1)
        );
    }

    /// Waits (in real time, briefly) until `misses` calls have registered with the cache.
    async fn until_misses(cache: &Cache<&'static str, usize>, misses: u64) {
        for _ in 0..1000 {
            if cache.stats().misses >= misses {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("callers never reached the cache");
    }

    #[tokio::test]
    async fn a_cancelled_caller_does_not_break_the_other_waiters() {
        let cache = Arc::new(Cache::<&'static str, usize>::new(4));
        let (release, released) = oneshot::channel::<()>();

        let leader = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                cache
                    .get_or_fetch("a", move || async move {
                        match released.await {
                            Ok(()) => Ok((42, HOUR)),
                            Err(_) => Err(TestError::Upstream("test dropped the release")),
                        }
                    })
                    .await
            })
        };
        until_misses(&cache, 1).await;
        let follower = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                let unused = || async { Ok::<_, TestError>((0, HOUR)) };
                cache.get_or_fetch("a", unused).await
            })
        };
        until_misses(&cache, 2).await;

        leader.abort();
        assert!(leader.await.expect_err("leader was aborted").is_cancelled());
        release.send(()).expect("the fetch is still running");

        assert_eq!(follower.await.expect("follower task"), Ok(42));
        assert_eq!(cache.stats().fetches, 1);
        assert_eq!(
            cache.len(),
            1,
            "the fetch stored its value though its caller left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_fetch_wakes_its_waiters_with_an_error_and_frees_the_key() {
        let cache = Arc::new(Cache::<&'static str, usize>::new(4));
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let cache = Arc::clone(&cache);
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("a", || async {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        if cache_test_always_true() {
                            panic!("fetch bug");
                        }
                        Ok::<_, TestError>((1, HOUR))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(
                task.await.expect("caller task"),
                Err(TestError::Cache(CacheError::FetchAborted))
            );
        }
        assert_eq!(cache.stats().fetches, 1);

        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(cache.get_or_fetch("a", counting(&calls, HOUR)).await, Ok(1));
    }

    /// Keeps the code after `panic!` reachable in the eyes of the compiler.
    fn cache_test_always_true() -> bool {
        std::hint::black_box(true)
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct OtherError;

    impl From<CacheError> for OtherError {
        fn from(_: CacheError) -> Self {
            OtherError
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_with_another_error_type_fetches_on_its_own_without_disturbing_the_first() {
        let cache = Arc::new(Cache::<&'static str, usize>::new(4));
        let first = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                let slow = || async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok::<_, TestError>((1, HOUR))
                };
                cache.get_or_fetch("a", slow).await
            })
        };
        until_misses(&cache, 1).await;
        let other = cache
            .get_or_fetch("a", || async { Ok::<_, OtherError>((2, HOUR)) })
            .await;

        assert_eq!(other, Ok(2));
        assert_eq!(first.await.expect("first caller"), Ok(1));
        assert_eq!(cache.stats().fetches, 2);
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(cache.get_or_fetch("a", counting(&calls, HOUR)).await, Ok(1));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "the slot was freed and the value stored"
        );
    }

    #[test]
    fn without_a_tokio_runtime_the_fetch_runs_inline() {
        let cache = Cache::<&str, usize>::new(4);
        let calls = Arc::new(AtomicUsize::new(0));
        let mut lookup = std::pin::pin!(cache.get_or_fetch("a", counting(&calls, HOUR)));
        let mut context = Context::from_waker(Waker::noop());
        assert_eq!(lookup.as_mut().poll(&mut context), Poll::Ready(Ok(1)));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_lookup_future_can_move_between_threads() {
        fn assert_send<T: Send>(_: &T) {}
        let cache = Cache::<String, usize>::new(1);
        let calls = Arc::new(AtomicUsize::new(0));
        assert_send(&cache.get_or_fetch("a".to_owned(), counting(&calls, HOUR)));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "a future does nothing until polled"
        );
    }

    #[tokio::test]
    async fn negative_answers_never_push_out_positive_ones_and_keep_to_their_share() {
        // Keys below 100 are vehicles that exist, the rest plates that do not.
        let cache = Cache::<usize, usize>::with_negatives(4, 2, |v| *v >= 100);
        let calls = Arc::new(AtomicUsize::new(0));
        let get = |k: usize| {
            let calls = Arc::clone(&calls);
            cache.get_or_fetch(k, move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, TestError>((k, HOUR))
            })
        };
        for k in 0..3 {
            get(k).await.unwrap();
        }
        // A flood of made-up plates: two negatives at a time at most, the three vehicles stay.
        for k in 100..200 {
            get(k).await.unwrap();
        }
        assert_eq!(cache.len(), 4);
        let before = calls.load(Ordering::SeqCst);
        for k in 0..3 {
            assert_eq!(get(k).await, Ok(k));
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            before,
            "every vehicle is still cached"
        );
        // New vehicles take the negatives' slots first; only then is a vehicle evicted.
        get(3).await.unwrap();
        assert_eq!(cache.len(), 4);
        let before = calls.load(Ordering::SeqCst);
        for k in 0..4 {
            assert_eq!(get(k).await, Ok(k));
        }
        assert_eq!(calls.load(Ordering::SeqCst), before, "four vehicles fit");
        get(4).await.unwrap();
        let before = calls.load(Ordering::SeqCst);
        for k in 1..5 {
            assert_eq!(get(k).await, Ok(k));
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            before,
            "the least recently used one went"
        );
    }
}
