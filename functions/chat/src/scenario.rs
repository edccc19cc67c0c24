//! Scenarios as the assistant uses them: the process's one [`Scenarios`] service (shared through
//! the `Context` by `chat` and the `scenarios` function, so a write in one is seen by the other
//! at once), the default scenario seeded at first use, and a short cache for turns.
//!
//! - Seed: the first time the store is used for scenarios, a scenario `default` is written with
//!   this deployment's system prompt (`CHAT_SYSTEM_PROMPT_FILE` or the built-in one), the
//!   instance's model (`model: null`, which follows `OPENAI_MODEL`), the provider's temperature,
//!   every tool and language `nb`. Once per database: never overwritten by a later start, and not
//!   brought back after an admin deleted it ([`elbatt_store::scenarios::ScenarioBackend::scenario_seed`]).
//! - Cache: a turn naming a scenario would otherwise cost a store round trip before the model
//!   is called; scenarios are read at most every [`CACHE_TTL`] per instance. A write through this
//!   process drops its entry at once; another instance's write is seen within [`CACHE_TTL`].
//!   Only found scenarios are cached (an unknown name costs a read each time, bounded by the
//!   chat rate limit), so the cache never holds more entries than there are scenarios.
//! - A chat without `scenario` does not read the store: it uses this deployment's configuration,
//!   exactly as before scenarios existed (`docs/scenarios.md` says why).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use elbatt::context::Context;
use elbatt_store::scenarios::{self as sc, Scenario, ScenarioId, ScenarioInput};
use elbatt_store::{Backend, Store, StoreError};

use crate::config::ChatConfig;

/// How long a turn may use a scenario read before (per instance).
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// A store call taking longer counts as the store being down.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(5);

impl crate::Chat {
    /// Lets turns name a scenario (`"scenario": "<id>"`).
    pub fn with_scenarios(mut self, scenarios: Arc<Scenarios>) -> Self {
        // Just built: nothing else holds the assistant yet.
        if let Some(assistant) = Arc::get_mut(&mut self.assistant) {
            assistant.set_scenarios(scenarios);
        }
        self
    }
}

/// The greeting of the seeded default scenario.
pub const DEFAULT_GREETING: &str = "Hei! Jeg er Elbatt-assistenten. Spør meg om elbilbatterier, \
     lading, rekkevidde eller garanti – eller oppgi et registreringsnummer, så slår jeg opp bilen.";

/// The process's scenarios.
#[derive(Debug)]
pub struct Scenarios {
    store: Arc<Store>,
    seed: Scenario,
    seeded: tokio::sync::OnceCell<()>,
    cache: Mutex<HashMap<ScenarioId, (Instant, Arc<Scenario>)>>,
}

impl Scenarios {
    /// The one service of `ctx`, over its store; the seed is built from `cfg` by whichever
    /// function asks first (`chat` and `scenarios` read the same variables).
    pub fn shared(ctx: &Context, store: &Arc<Store>, cfg: &ChatConfig) -> Arc<Scenarios> {
        ctx.shared(|_| Arc::new(Scenarios::new(Arc::clone(store), cfg)))
    }

    pub fn new(store: Arc<Store>, cfg: &ChatConfig) -> Scenarios {
        Scenarios {
            store,
            seed: default_scenario(cfg),
            seeded: tokio::sync::OnceCell::new(),
            cache: Mutex::default(),
        }
    }

    /// Whether a store is configured at all.
    pub fn enabled(&self) -> bool {
        self.store.enabled()
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The default scenario this deployment seeds.
    pub fn seed(&self) -> &Scenario {
        &self.seed
    }

    /// The backend, with the default seeded (once per process; a failed seed is tried again on
    /// the next call).
    ///
    /// # Errors
    /// No store, or the store failed or did not answer within [`STORE_TIMEOUT`].
    pub async fn backend(&self) -> Result<Arc<dyn Backend>, StoreError> {
        let backend = bounded(self.store.backend()).await?;
        self.seeded
            .get_or_try_init(|| async {
                if bounded(backend.scenario_seed(&self.seed)).await? {
                    tracing::info!(
                        id = sc::DEFAULT_ID,
                        "scenarios: seeded the default scenario"
                    );
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(backend)
    }

    /// The scenario `id` for a turn, from the cache when read within [`CACHE_TTL`].
    ///
    /// # Errors
    /// As [`Scenarios::backend`].
    pub async fn for_turn(&self, id: &ScenarioId) -> Result<Option<Arc<Scenario>>, StoreError> {
        if let Some((at, s)) = self.lock().get(id) {
            if at.elapsed() < CACHE_TTL {
                return Ok(Some(Arc::clone(s)));
            }
        }
        let backend = self.backend().await?;
        let found = bounded(backend.scenario_get(id)).await?.map(Arc::new);
        let mut cache = self.lock();
        match &found {
            Some(s) => {
                cache.insert(id.clone(), (Instant::now(), Arc::clone(s)));
            }
            None => {
                cache.remove(id);
            }
        }
        Ok(found)
    }

    /// Drops `id` from the cache (after a write through this process).
    pub fn forget(&self, id: &ScenarioId) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ScenarioId, (Instant, Arc<Scenario>)>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn bounded<T>(f: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(STORE_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "no answer within {STORE_TIMEOUT:?}"
            )))
        })
}

/// The scenario seeded at first start: this deployment's assistant as configured today.
pub fn default_scenario(cfg: &ChatConfig) -> Scenario {
    let now = elbatt_store::now_ms();
    let with_prompt = |system_prompt: String| {
        ScenarioInput {
            id: Some(sc::DEFAULT_ID.to_owned()),
            name: "Elbatt-assistenten".to_owned(),
            system_prompt,
            model: None,
            temperature: None,
            tools: None,
            greeting: DEFAULT_GREETING.to_owned(),
            language: Some("nb".to_owned()),
            tags: Vec::new(),
            _version: None,
            _created_at_ms: None,
            _updated_at_ms: None,
        }
        .into_scenario(None, None, now)
    };
    with_prompt(cfg.system_prompt.clone()).unwrap_or_else(|e| {
        // Only a prompt file over the scenario limit (or with control characters) lands here:
        // seed what fits rather than nothing, and say so.
        tracing::warn!(error = %e, "scenarios: the system prompt does not fit a scenario; the seeded default holds what fits");
        let cut: String = cfg
            .system_prompt
            .chars()
            .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
            .take(sc::MAX_PROMPT_CHARS)
            .collect();
        with_prompt(cut)
            .or_else(|_| with_prompt(crate::config::DEFAULT_SYSTEM_PROMPT.to_owned()))
            .unwrap_or_else(|_| unreachable!("the built-in prompt fits a scenario"))
    })
}

/// "norsk bokmål" for `nb`…: the language line a scenario adds to the system prompt.
pub fn language_line(tag: &str) -> String {
    let primary = tag.split('-').next().unwrap_or(tag);
    let name = match primary {
        "nb" | "no" => "norsk bokmål",
        "nn" => "nynorsk",
        "en" => "engelsk",
        "sv" => "svensk",
        "da" => "dansk",
        "se" => "nordsamisk",
        "de" => "tysk",
        "fr" => "fransk",
        "pl" => "polsk",
        "uk" => "ukrainsk",
        _ => "",
    };
    if name.is_empty() {
        format!("Svar på språket med koden «{tag}» hvis brukeren ikke skriver på et annet språk.")
    } else {
        format!("Svar på {name} ({tag}) hvis brukeren ikke skriver på et annet språk.")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use elbatt::config::Env;

    #[test]
    fn the_default_is_todays_assistant() {
        let cfg = ChatConfig::from_env(&Env::default()).unwrap();
        let s = default_scenario(&cfg);
        assert_eq!(s.id.as_str(), "default");
        assert_eq!(s.system_prompt, cfg.system_prompt.trim());
        assert_eq!((s.model.as_deref(), s.temperature), (None, None));
        assert_eq!(s.tools, [crate::assistant::TOOL_NAME]);
        assert_eq!(s.language.as_str(), "nb");
        assert!(!s.is_published());
    }

    #[test]
    fn the_assistants_tool_is_a_known_scenario_tool() {
        assert!(sc::KNOWN_TOOLS.contains(&crate::assistant::TOOL_NAME));
    }

    #[test]
    fn language_lines_name_the_language() {
        assert!(language_line("nn").contains("nynorsk (nn)"));
        assert!(language_line("en-GB").contains("engelsk (en-GB)"));
        assert!(language_line("fi").contains("«fi»"));
    }
}
