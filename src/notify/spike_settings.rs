//! The `[spikes]` section: how spike and drop alerts are judged and how often. Apart from the
//! checker, which takes the whole config, so that reading the config does not depend on it.

use serde::Deserialize;

use crate::config::{ConfigErrors, DurationValue};

/// `[spikes]` as written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikeConfig {
    /// Turn spike and drop alerts off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The window counted, e.g. `"1h"`.
    #[serde(default = "default_window")]
    pub window: DurationValue,
    /// Days of the same window the baseline is made of.
    #[serde(default = "default_baseline_days")]
    pub baseline_days: u32,
    /// k in mean + k·stddev: higher is less sensitive.
    #[serde(default = "default_sensitivity")]
    pub sensitivity: f64,
    /// No spike below this many mentions in the window.
    #[serde(default = "default_min_count")]
    pub min_count: i64,
    /// A complaint storm: the complaints' share rose by at least this much (0.25 = 25 points).
    #[serde(default = "default_share_rise")]
    pub complaint_share_rise: f64,
    /// A drop needs at least this many mentions per window on average before.
    #[serde(default = "default_busy")]
    pub busy_min: f64,
    /// No alerts for a watch or source with less history than this.
    #[serde(default = "default_warm_up")]
    pub warm_up: DurationValue,
    /// After an episode was last seen, the same alert stays quiet this long.
    #[serde(default = "default_cooldown")]
    pub cooldown: DurationValue,
    /// How often `webcare run` checks.
    #[serde(default = "default_check_every")]
    pub check_every: DurationValue,
}

fn yes() -> bool {
    true
}
fn default_window() -> DurationValue {
    DurationValue(std::time::Duration::from_secs(3600))
}
fn default_baseline_days() -> u32 {
    7
}
fn default_sensitivity() -> f64 {
    3.0
}
fn default_min_count() -> i64 {
    10
}
fn default_share_rise() -> f64 {
    0.25
}
fn default_busy() -> f64 {
    5.0
}
fn default_warm_up() -> DurationValue {
    DurationValue(std::time::Duration::from_secs(2 * 86_400))
}
fn default_cooldown() -> DurationValue {
    DurationValue(std::time::Duration::from_secs(3 * 3600))
}
fn default_check_every() -> DurationValue {
    DurationValue(std::time::Duration::from_secs(300))
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            enabled: true,
            window: default_window(),
            baseline_days: default_baseline_days(),
            sensitivity: default_sensitivity(),
            min_count: default_min_count(),
            complaint_share_rise: default_share_rise(),
            busy_min: default_busy(),
            warm_up: default_warm_up(),
            cooldown: default_cooldown(),
            check_every: default_check_every(),
        }
    }
}

impl SpikeConfig {
    /// Checks the settings, recording problems under `spikes.*`.
    pub fn validate(&self, errors: &mut ConfigErrors) {
        let secs = |d: &DurationValue| d.0.as_secs();
        if secs(&self.window) < 60 || secs(&self.window) > 86_400 {
            errors.push("spikes.window", "must be between 1m and 24h");
        }
        if self.baseline_days == 0 || self.baseline_days > 60 {
            errors.push("spikes.baseline_days", "must be between 1 and 60");
        }
        if !(self.sensitivity > 0.0 && self.sensitivity <= 20.0) {
            errors.push(
                "spikes.sensitivity",
                "must be above 0 and at most 20 (3 is usual)",
            );
        }
        if self.min_count < 1 {
            errors.push("spikes.min_count", "must be at least 1");
        }
        if !(self.complaint_share_rise > 0.0 && self.complaint_share_rise <= 1.0) {
            errors.push(
                "spikes.complaint_share_rise",
                "must be a fraction above 0 and at most 1 (0.25 = 25 points)",
            );
        }
        if self.busy_min <= 0.0 {
            errors.push("spikes.busy_min", "must be above 0");
        }
        if secs(&self.check_every) < 10 {
            errors.push("spikes.check_every", "must be at least 10s");
        }
    }
}
