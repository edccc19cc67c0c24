//! The chat function's configuration: which provider and model, its limits, timeouts, guards
//! and the system prompt. Read once at start; the API key is a [`Secret`].
//!
//! Providers are presets over one OpenAI-compatible client (`LLM_PROVIDER`): each sets a base
//! URL, a default model and the wire details that differ (token-limit field, usage streaming,
//! attribution headers). `OPENAI_BASE_URL` and `OPENAI_MODEL` override the preset.

use std::time::Duration;

use elbatt::config::{ConfigError, Env, Secret, VarSpec, derived, optional, secret, var};
use elbatt::limit::{ClientIdentity, Rate};

use crate::clock::Clock;
use crate::llm::wire::TokenLimit;

/// The built-in system prompt (Norwegian bokmål); `CHAT_SYSTEM_PROMPT_FILE` replaces it.
pub const DEFAULT_SYSTEM_PROMPT: &str = include_str!("../prompts/system.nb.md");

pub const LLM_PROVIDER: VarSpec = var(
    "LLM_PROVIDER",
    "openai",
    "preset: openai, scaleway, openrouter, gemini, ollama",
);
pub const OPENAI_BASE_URL: VarSpec = derived(
    "OPENAI_BASE_URL",
    "the preset's URL",
    "OpenAI-compatible base URL (…/v1)",
);
pub const OPENAI_API_KEY: VarSpec = secret(
    "OPENAI_API_KEY",
    "the provider's API key; unset = offline mode (built-in FAQ)",
);
pub const LLM_API_KEY: VarSpec = secret(
    "LLM_API_KEY",
    "read when `OPENAI_API_KEY` is unset (the same key under a provider-neutral name)",
);
pub const OPENAI_MODEL: VarSpec = derived(
    "OPENAI_MODEL",
    "the preset's model (gpt-4o-mini for openai)",
    "default model",
);
pub const LLM_MODELS_INCLUDE: VarSpec = derived(
    "LLM_MODELS_INCLUDE",
    "`OPENAI_MODEL` + fallbacks",
    "models a request may ask for, comma-separated",
);
pub const LLM_FALLBACK_MODELS: VarSpec = optional(
    "LLM_FALLBACK_MODELS",
    "models tried in order if the default fails before answering",
);
pub const LLM_TOKEN_LIMIT_FIELD: VarSpec = derived(
    "LLM_TOKEN_LIMIT_FIELD",
    "max_completion_tokens (openai), max_tokens (others)",
    "which field caps output tokens",
);
pub const LLM_STREAM_USAGE: VarSpec = var(
    "LLM_STREAM_USAGE",
    "true",
    "send stream_options.include_usage",
);
pub const LLM_CONNECT_TIMEOUT_SECS: VarSpec =
    var("LLM_CONNECT_TIMEOUT_SECS", "5", "connect timeout");
pub const LLM_FIRST_TOKEN_TIMEOUT_SECS: VarSpec = var(
    "LLM_FIRST_TOKEN_TIMEOUT_SECS",
    "20",
    "time to the first token",
);
pub const LLM_IDLE_TIMEOUT_SECS: VarSpec = var(
    "LLM_IDLE_TIMEOUT_SECS",
    "30",
    "longest silence inside a stream",
);
pub const CHAT_TURN_TIMEOUT_SECS: VarSpec = var(
    "CHAT_TURN_TIMEOUT_SECS",
    "90",
    "whole turn, tool rounds included",
);
pub const CHAT_MAX_TOOL_ROUNDS: VarSpec = var(
    "CHAT_MAX_TOOL_ROUNDS",
    "3",
    "model rounds per turn that may call tools; the next round gets no tools and must answer",
);
pub const CHAT_MAX_TOOL_CALLS_PER_ROUND: VarSpec = var(
    "CHAT_MAX_TOOL_CALLS_PER_ROUND",
    "3",
    "vehicle lookups run per model round; further calls get a tool result saying so, unrun",
);
pub const CHAT_MAX_TOOL_CALLS_PER_TURN: VarSpec = var(
    "CHAT_MAX_TOOL_CALLS_PER_TURN",
    "6",
    "vehicle lookups run per turn, all rounds together; further calls likewise unrun",
);
pub const LLM_MAX_RETRIES: VarSpec = var("LLM_MAX_RETRIES", "2", "retries before the first token");
pub const LLM_RETRY_MAX_DELAY_SECS: VarSpec = var(
    "LLM_RETRY_MAX_DELAY_SECS",
    "8",
    "cap on backoff and Retry-After",
);
pub const CHAT_MAX_OUTPUT_TOKENS: VarSpec = var(
    "CHAT_MAX_OUTPUT_TOKENS",
    "800",
    "output-token cap per model call",
);
pub const CHAT_DAILY_TOKEN_BUDGET: VarSpec = var(
    "CHAT_DAILY_TOKEN_BUDGET",
    "0",
    "tokens per day before offline mode, one budget for every instance on the store (else per instance); 0 = no budget",
);
pub const CHAT_SYSTEM_PROMPT_FILE: VarSpec = optional(
    "CHAT_SYSTEM_PROMPT_FILE",
    "file replacing the built-in system prompt",
);
pub const CHAT_MAX_BODY_BYTES: VarSpec = var(
    "CHAT_MAX_BODY_BYTES",
    "32768",
    "request body limit (413 above it)",
);
pub const CHAT_MAX_MESSAGE_CHARS: VarSpec =
    var("CHAT_MAX_MESSAGE_CHARS", "2000", "message length limit");
pub const CHAT_MAX_HISTORY_TURNS: VarSpec =
    var("CHAT_MAX_HISTORY_TURNS", "20", "history items limit");
pub const CHAT_MAX_HISTORY_CHARS: VarSpec =
    var("CHAT_MAX_HISTORY_CHARS", "16000", "history size limit");
pub const CHAT_RATE_LIMIT_PER_MINUTE: VarSpec = var(
    "CHAT_RATE_LIMIT_PER_MINUTE",
    "20",
    "requests per client per minute, counted across every instance on the store (else per instance)",
);
pub const CHAT_RATE_LIMIT_BURST: VarSpec = var("CHAT_RATE_LIMIT_BURST", "5", "burst allowance");
pub const OPENROUTER_REFERER: VarSpec = var(
    "OPENROUTER_REFERER",
    "https://elbatt.no",
    "OpenRouter attribution (HTTP-Referer)",
);
pub const OPENROUTER_TITLE: VarSpec = var(
    "OPENROUTER_TITLE",
    "Elbatt Chatbot",
    "OpenRouter attribution (X-Title)",
);

/// Every variable the chat function reads (besides the vehicle lookup's).
pub const VARIABLES: &[VarSpec] = &[
    LLM_PROVIDER,
    OPENAI_BASE_URL,
    OPENAI_API_KEY,
    LLM_API_KEY,
    OPENAI_MODEL,
    LLM_MODELS_INCLUDE,
    LLM_FALLBACK_MODELS,
    LLM_TOKEN_LIMIT_FIELD,
    LLM_STREAM_USAGE,
    LLM_CONNECT_TIMEOUT_SECS,
    LLM_FIRST_TOKEN_TIMEOUT_SECS,
    LLM_IDLE_TIMEOUT_SECS,
    CHAT_TURN_TIMEOUT_SECS,
    CHAT_MAX_TOOL_ROUNDS,
    CHAT_MAX_TOOL_CALLS_PER_ROUND,
    CHAT_MAX_TOOL_CALLS_PER_TURN,
    LLM_MAX_RETRIES,
    LLM_RETRY_MAX_DELAY_SECS,
    CHAT_MAX_OUTPUT_TOKENS,
    CHAT_DAILY_TOKEN_BUDGET,
    CHAT_SYSTEM_PROMPT_FILE,
    CHAT_MAX_BODY_BYTES,
    CHAT_MAX_MESSAGE_CHARS,
    CHAT_MAX_HISTORY_TURNS,
    CHAT_MAX_HISTORY_CHARS,
    CHAT_RATE_LIMIT_PER_MINUTE,
    CHAT_RATE_LIMIT_BURST,
    OPENROUTER_REFERER,
    OPENROUTER_TITLE,
];

/// A provider preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Scaleway,
    OpenRouter,
    Gemini,
    /// Ollama, vLLM, llama.cpp and other local servers: no key needed.
    Local,
}

impl Provider {
    fn parse(raw: &str) -> Option<Provider> {
        Some(match raw.to_ascii_lowercase().as_str() {
            "openai" => Provider::OpenAi,
            "scaleway" => Provider::Scaleway,
            "openrouter" => Provider::OpenRouter,
            "gemini" => Provider::Gemini,
            "ollama" | "local" | "vllm" | "llamacpp" | "llama.cpp" => Provider::Local,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Scaleway => "scaleway",
            Provider::OpenRouter => "openrouter",
            Provider::Gemini => "gemini",
            Provider::Local => "local",
        }
    }

    fn base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com/v1",
            Provider::Scaleway => "https://api.scaleway.ai/v1",
            Provider::OpenRouter => "https://openrouter.ai/api/v1",
            Provider::Gemini => "https://generativelanguage.googleapis.com/v1beta/openai",
            Provider::Local => "http://localhost:11434/v1",
        }
    }

    fn default_model(self) -> &'static str {
        match self {
            Provider::OpenAi => "gpt-4o-mini",
            Provider::Scaleway => "mistral-small-3.2-24b-instruct-2506",
            Provider::OpenRouter => "openai/gpt-oss-120b",
            Provider::Gemini => "gemini-2.5-flash",
            Provider::Local => "llama3.1",
        }
    }

    fn needs_key(self) -> bool {
        self != Provider::Local
    }
}

/// Everything the chat function reads from the environment.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub provider: Provider,
    pub base_url: String,
    /// `None`: offline mode (the built-in FAQ) for every request.
    pub api_key: Option<Secret>,
    pub model: String,
    /// Models a request may ask for; the default model and the fallbacks are always in it.
    pub allowed_models: Vec<String>,
    /// Tried in order when the model fails before anything reached the user.
    pub fallback_models: Vec<String>,
    /// Extra headers for every upstream request (OpenRouter attribution).
    pub extra_headers: Vec<(String, String)>,
    pub max_output_tokens: u32,
    pub token_limit_field: TokenLimitField,
    /// Send `stream_options.include_usage` (some servers reject it).
    pub stream_usage: bool,
    pub connect_timeout: Duration,
    pub first_token_timeout: Duration,
    /// Longest silence between two stream chunks once the answer has started.
    pub idle_timeout: Duration,
    pub turn_timeout: Duration,
    pub max_retries: u32,
    pub retry_max_delay: Duration,
    /// Model rounds per turn that are offered the tool.
    pub max_tool_rounds: u32,
    /// Tool calls run per model round, and per turn; calls beyond either are answered with a
    /// tool result saying they were not run.
    pub max_tool_calls_per_round: usize,
    pub max_tool_calls_per_turn: usize,
    pub daily_token_budget: Option<u64>,
    pub system_prompt: String,
    /// Where "now" comes from: today's date (Europe/Oslo) is added to the system prompt each
    /// turn. Always the system clock from the environment; tests set a fixed one.
    pub clock: Clock,
    pub limits: Limits,
    pub rate_limit: RateLimit,
    /// `LLM_DEBUG_DIR` and its bounds; `None`: no debug logs (the default).
    pub debug_log: Option<crate::llm::debug::DebugConfig>,
}

/// Which field carries the output-token cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLimitField {
    MaxTokens,
    MaxCompletionTokens,
}

impl TokenLimitField {
    pub fn limit(self, n: u32) -> TokenLimit {
        match self {
            TokenLimitField::MaxTokens => TokenLimit::MaxTokens(n),
            TokenLimitField::MaxCompletionTokens => TokenLimit::MaxCompletionTokens(n),
        }
    }
}

/// Request-size guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_message_chars: usize,
    pub max_history_turns: usize,
    pub max_history_chars: usize,
}

/// Per-client request rate on `/chat` (per instance), and how the client is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub rate: Rate,
    pub client: ClientIdentity,
}

impl ChatConfig {
    /// # Errors
    /// A chat variable is malformed; the error names it.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let provider: String = env.value(&LLM_PROVIDER)?;
        let provider = Provider::parse(&provider).ok_or_else(|| {
            ConfigError::new(
                LLM_PROVIDER.name,
                "use openai, scaleway, openrouter, gemini or ollama",
            )
        })?;
        let base_url = env
            .get(OPENAI_BASE_URL.name)
            .unwrap_or(provider.base_url())
            .trim()
            .trim_end_matches('/')
            .to_owned();
        // The key travels with every request: plain HTTP only to loopback (the local preset's
        // `http://localhost:11434/v1`) unless ALLOW_PLAIN_HTTP_UPSTREAMS says otherwise.
        elbatt::outbound::check_upstream_url(env, OPENAI_BASE_URL.name, &base_url)?;
        let api_key = env
            .secret(OPENAI_API_KEY.name)
            .or_else(|| env.secret(LLM_API_KEY.name));
        let api_key = match (api_key, provider.needs_key()) {
            (Some(k), _) => Some(k),
            // Local servers ignore the key; send a placeholder so the client is "configured".
            (None, false) => Some(Secret::new("local".to_owned())),
            (None, true) => None,
        };
        let model = env
            .get(OPENAI_MODEL.name)
            .unwrap_or(provider.default_model())
            .trim()
            .to_owned();
        let fallback_models = env.list(&LLM_FALLBACK_MODELS);
        let mut allowed_models = env.list(&LLM_MODELS_INCLUDE);
        for m in std::iter::once(&model).chain(&fallback_models) {
            if !allowed_models.contains(m) {
                allowed_models.push(m.clone());
            }
        }
        let extra_headers = if provider == Provider::OpenRouter {
            vec![
                ("HTTP-Referer".to_owned(), env.value(&OPENROUTER_REFERER)?),
                ("X-Title".to_owned(), env.value(&OPENROUTER_TITLE)?),
            ]
        } else {
            Vec::new()
        };
        let token_limit_field = match env.get(LLM_TOKEN_LIMIT_FIELD.name) {
            Some("max_tokens") => TokenLimitField::MaxTokens,
            Some("max_completion_tokens") => TokenLimitField::MaxCompletionTokens,
            Some(_) => {
                return Err(ConfigError::new(
                    LLM_TOKEN_LIMIT_FIELD.name,
                    "use max_tokens or max_completion_tokens",
                ));
            }
            // OpenAI's newer models reject `max_tokens`; most compatible servers only know it.
            None if provider == Provider::OpenAi => TokenLimitField::MaxCompletionTokens,
            None => TokenLimitField::MaxTokens,
        };
        let system_prompt = match env.get(CHAT_SYSTEM_PROMPT_FILE.name) {
            None => DEFAULT_SYSTEM_PROMPT.to_owned(),
            Some(path) => std::fs::read_to_string(path.trim()).map_err(|e| {
                ConfigError::new(CHAT_SYSTEM_PROMPT_FILE.name, format!("cannot read it: {e}"))
            })?,
        };
        let budget: u64 = env.value(&CHAT_DAILY_TOKEN_BUDGET)?;
        let per_minute: u32 = env.value(&CHAT_RATE_LIMIT_PER_MINUTE)?;
        if per_minute == 0 {
            return Err(ConfigError::new(
                CHAT_RATE_LIMIT_PER_MINUTE.name,
                "must be at least 1",
            ));
        }
        Ok(ChatConfig {
            provider,
            base_url,
            api_key,
            model,
            allowed_models,
            fallback_models,
            extra_headers,
            max_output_tokens: env.value(&CHAT_MAX_OUTPUT_TOKENS)?,
            token_limit_field,
            // Mistral (via Scaleway or directly) rejected `stream_options` in 2025.
            stream_usage: env.value(&LLM_STREAM_USAGE)?,
            connect_timeout: env.duration(&LLM_CONNECT_TIMEOUT_SECS)?,
            first_token_timeout: env.duration(&LLM_FIRST_TOKEN_TIMEOUT_SECS)?,
            idle_timeout: env.duration(&LLM_IDLE_TIMEOUT_SECS)?,
            turn_timeout: env.duration(&CHAT_TURN_TIMEOUT_SECS)?,
            max_retries: env.value(&LLM_MAX_RETRIES)?,
            retry_max_delay: env.duration(&LLM_RETRY_MAX_DELAY_SECS)?,
            max_tool_rounds: env.value(&CHAT_MAX_TOOL_ROUNDS)?,
            max_tool_calls_per_round: env.value(&CHAT_MAX_TOOL_CALLS_PER_ROUND)?,
            max_tool_calls_per_turn: env.value(&CHAT_MAX_TOOL_CALLS_PER_TURN)?,
            daily_token_budget: (budget > 0).then_some(budget),
            system_prompt,
            clock: Clock::System,
            limits: Limits {
                max_body_bytes: env.value(&CHAT_MAX_BODY_BYTES)?,
                max_message_chars: env.value(&CHAT_MAX_MESSAGE_CHARS)?,
                max_history_turns: env.value(&CHAT_MAX_HISTORY_TURNS)?,
                max_history_chars: env.value(&CHAT_MAX_HISTORY_CHARS)?,
            },
            rate_limit: RateLimit {
                rate: Rate {
                    per_minute,
                    burst: env.value::<u32>(&CHAT_RATE_LIMIT_BURST)?.max(1),
                },
                client: ClientIdentity::from_env(env)?,
            },
            debug_log: crate::llm::debug::DebugConfig::from_env(env)?,
        })
    }

    pub fn is_offline(&self) -> bool {
        self.api_key.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_means_offline_with_openai_defaults() {
        let cfg = ChatConfig::from_env(&Env::default()).unwrap();
        assert!(cfg.is_offline());
        assert_eq!(cfg.model, "gpt-4o-mini");
        assert_eq!(cfg.base_url, "https://api.openai.com/v1");
        assert_eq!(cfg.allowed_models, ["gpt-4o-mini"]);
        assert!(cfg.system_prompt.contains("Elbatt"));
    }

    #[test]
    fn presets_set_url_model_and_wire_details() {
        let env = Env::from_pairs([
            ("LLM_PROVIDER", "openrouter"),
            ("OPENAI_API_KEY", "sk-or-x"),
            ("LLM_MODELS_INCLUDE", "a/b,c/d"),
        ]);
        let cfg = ChatConfig::from_env(&env).unwrap();
        assert_eq!(cfg.base_url, "https://openrouter.ai/api/v1");
        assert_eq!(cfg.allowed_models, ["a/b", "c/d", "openai/gpt-oss-120b"]);
        assert!(
            cfg.extra_headers
                .iter()
                .any(|(k, v)| k == "HTTP-Referer" && v == "https://elbatt.no")
        );
        assert_eq!(cfg.token_limit_field, TokenLimitField::MaxTokens);
        let local = ChatConfig::from_env(&Env::from_pairs([("LLM_PROVIDER", "ollama")])).unwrap();
        assert!(!local.is_offline(), "local servers need no key");
        let scw = ChatConfig::from_env(&Env::from_pairs([
            ("LLM_PROVIDER", "scaleway"),
            ("OPENAI_BASE_URL", "https://api.scaleway.ai/p1/v1/"),
        ]))
        .unwrap();
        assert_eq!(scw.base_url, "https://api.scaleway.ai/p1/v1");
        assert_eq!(scw.model, "mistral-small-3.2-24b-instruct-2506");
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for (k, v) in [
            ("LLM_PROVIDER", "skynet"),
            ("OPENAI_BASE_URL", "api.openai.com"),
            ("CHAT_RATE_LIMIT_PER_MINUTE", "0"),
            ("LLM_FIRST_TOKEN_TIMEOUT_SECS", "soon"),
            ("CHAT_SYSTEM_PROMPT_FILE", "/nonexistent/prompt.md"),
        ] {
            assert_eq!(
                ChatConfig::from_env(&Env::from_pairs([(k, v)]))
                    .unwrap_err()
                    .var,
                k
            );
        }
    }

    #[test]
    fn a_plain_http_base_url_is_refused_except_to_loopback_or_with_the_opt_in() {
        let remote = ("OPENAI_BASE_URL", "http://llm.example.com/v1");
        let err = ChatConfig::from_env(&Env::from_pairs([remote])).unwrap_err();
        assert_eq!(err.var, "OPENAI_BASE_URL");
        assert!(
            err.to_string().contains("ALLOW_PLAIN_HTTP_UPSTREAMS"),
            "{err}"
        );
        let allowed = ChatConfig::from_env(&Env::from_pairs([
            remote,
            ("ALLOW_PLAIN_HTTP_UPSTREAMS", "1"),
        ]))
        .unwrap();
        assert_eq!(allowed.base_url, "http://llm.example.com/v1");
        for url in [
            "http://127.0.0.1:8080/v1",
            "http://[::1]:8080/v1",
            "http://localhost/v1",
        ] {
            assert!(
                ChatConfig::from_env(&Env::from_pairs([("OPENAI_BASE_URL", url)])).is_ok(),
                "{url}"
            );
        }
        // The local preset's default is loopback.
        let local = ChatConfig::from_env(&Env::from_pairs([("LLM_PROVIDER", "ollama")])).unwrap();
        assert_eq!(local.base_url, "http://localhost:11434/v1");
    }

    #[test]
    fn tool_call_caps_have_defaults_and_can_be_set() {
        let cfg = ChatConfig::from_env(&Env::default()).unwrap();
        assert_eq!(
            (
                cfg.max_tool_rounds,
                cfg.max_tool_calls_per_round,
                cfg.max_tool_calls_per_turn
            ),
            (3, 3, 6)
        );
        let cfg = ChatConfig::from_env(&Env::from_pairs([
            ("CHAT_MAX_TOOL_CALLS_PER_ROUND", "1"),
            ("CHAT_MAX_TOOL_CALLS_PER_TURN", "2"),
        ]))
        .unwrap();
        assert_eq!(
            (cfg.max_tool_calls_per_round, cfg.max_tool_calls_per_turn),
            (1, 2)
        );
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let cfg =
            ChatConfig::from_env(&Env::from_pairs([("OPENAI_API_KEY", "sk-live-abcdef")])).unwrap();
        assert!(!format!("{cfg:?}").contains("abcdef"));
    }
}
