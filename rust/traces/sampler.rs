//! Sampling: decided once, at span start, from the parent and the trace id.

use super::span::SpanContext;

#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// Samples when the trace id's low 64 bits fall under `rate * 2^64` (OpenTelemetry's rule,
    /// so every service with the same rate agrees on the same traces).
    TraceIdRatio(f64),
    /// Follows a parent's decision; `root` decides for spans without one.
    ParentBased(Box<Sampler>),
}

impl Sampler {
    /// From `OTEL_TRACES_SAMPLER` names; `arg` is `OTEL_TRACES_SAMPLER_ARG` (the ratio).
    pub fn from_name(name: &str, arg: Option<f64>) -> Option<Sampler> {
        let ratio = arg.unwrap_or(1.0).clamp(0.0, 1.0);
        Some(match name {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio),
            "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            "parentbased_traceidratio" => Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(ratio))),
            _ => return None,
        })
    }

    #[inline]
    pub fn should_sample(&self, parent: Option<&SpanContext>, trace_id: u128) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(rate) => {
                let bound = (rate * 18_446_744_073_709_551_616.0).round() as u128;
                (trace_id & u64::MAX as u128) < bound
            }
            Sampler::ParentBased(root) => match parent {
                Some(p) if p.is_valid() => p.sampled(),
                _ => root.should_sample(None, trace_id),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_about_right_and_deterministic() {
        let sampler = Sampler::TraceIdRatio(0.25);
        let sampled = (0..40_000u128)
            .filter(|i| sampler.should_sample(None, i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)))
            .count();
        assert!((9_000..11_000).contains(&sampled), "{sampled}");
        assert!(Sampler::TraceIdRatio(1.0).should_sample(None, u128::MAX));
        assert!(!Sampler::TraceIdRatio(0.0).should_sample(None, 1));
    }

    #[test]
    fn parent_based_follows_parent() {
        let sampler = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        let parent = SpanContext {
            trace_id: 1,
            span_id: 1,
            flags: 1,
            ..Default::default()
        };
        assert!(sampler.should_sample(Some(&parent), 1));
        let unsampled = SpanContext { flags: 0, ..parent };
        assert!(!sampler.should_sample(Some(&unsampled), 1));
        assert!(!sampler.should_sample(None, 1));
    }
}
