//! Bounded retries for transient infrastructure faults: exponential backoff
//! with jitter, capped. Time and randomness are injected so the policy is
//! tested without sleeping.

use crate::classify::Class;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// Delay before retry number `retry` (1-based): half of the capped
    /// exponential step is fixed, the other half is jitter, so retries from
    /// several runners spread out but never collapse to zero.
    pub fn delay(&self, retry: u32, unit_random: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let step = exp.min(self.cap);
        let unit = unit_random.clamp(0.0, 1.0);
        step / 2 + step.mul_f64(0.5 * unit)
    }
}

/// Waits between attempts; returns false when interrupted.
pub trait Sleeper {
    fn sleep(&mut self, d: Duration) -> bool;
}

/// A small xorshift generator: jitter needs spread, not cryptography.
pub struct Jitter(u64);

impl Jitter {
    pub fn seeded() -> Jitter {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Jitter(nanos ^ ((std::process::id() as u64) << 32) | 1)
    }
    pub fn fixed(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }
    pub fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the loop needs to know about one finished attempt.
pub trait AttemptResult {
    fn class(&self) -> Class;
    fn interrupted(&self) -> bool;
}

/// Runs attempts until one is not transient, the budget is spent, or a
/// sleep is interrupted. Returns every attempt and the delays slept.
pub fn run_with_retries<A: AttemptResult>(
    retries: u32,
    backoff: Backoff,
    jitter: &mut Jitter,
    sleeper: &mut dyn Sleeper,
    mut attempt: impl FnMut(u32) -> A,
    mut on_retry: impl FnMut(u32, Duration, &A),
) -> (Vec<A>, Vec<Duration>) {
    let mut attempts = Vec::new();
    let mut delays = Vec::new();
    for n in 1..=retries + 1 {
        let result = attempt(n);
        let again =
            result.class() == Class::TransientInfra && !result.interrupted() && n <= retries;
        if !again {
            attempts.push(result);
            break;
        }
        let delay = backoff.delay(n, jitter.next_unit());
        on_retry(n, delay, &result);
        attempts.push(result);
        delays.push(delay);
        if !sleeper.sleep(delay) {
            break;
        }
    }
    (attempts, delays)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeSleeper {
        slept: Vec<Duration>,
        interrupt_after: Option<usize>,
    }
    impl Sleeper for FakeSleeper {
        fn sleep(&mut self, d: Duration) -> bool {
            self.slept.push(d);
            self.interrupt_after.is_none_or(|n| self.slept.len() < n)
        }
    }
    struct R(Class, bool);
    impl AttemptResult for R {
        fn class(&self) -> Class {
            self.0
        }
        fn interrupted(&self) -> bool {
            self.1
        }
    }

    fn backoff() -> Backoff {
        Backoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(30),
        }
    }

    #[test]
    fn transient_is_retried_up_to_the_budget() {
        let mut s = FakeSleeper {
            slept: vec![],
            interrupt_after: None,
        };
        let (attempts, delays) = run_with_retries(
            2,
            backoff(),
            &mut Jitter::fixed(7),
            &mut s,
            |_| R(Class::TransientInfra, false),
            |_, _, _| {},
        );
        assert_eq!(attempts.len(), 3);
        assert_eq!(delays.len(), 2);
        assert_eq!(s.slept, delays);
    }

    #[test]
    fn permanent_and_suite_ran_stop_at_once() {
        for class in [Class::PermanentEnv, Class::SuiteRan] {
            let mut s = FakeSleeper {
                slept: vec![],
                interrupt_after: None,
            };
            let (attempts, _) = run_with_retries(
                5,
                backoff(),
                &mut Jitter::fixed(1),
                &mut s,
                |_| R(class, false),
                |_, _, _| {},
            );
            assert_eq!(attempts.len(), 1);
            assert!(s.slept.is_empty());
        }
    }

    #[test]
    fn transient_then_success_stops() {
        let mut s = FakeSleeper {
            slept: vec![],
            interrupt_after: None,
        };
        let (attempts, _) = run_with_retries(
            5,
            backoff(),
            &mut Jitter::fixed(1),
            &mut s,
            |n| {
                R(
                    if n < 3 {
                        Class::TransientInfra
                    } else {
                        Class::SuiteRan
                    },
                    false,
                )
            },
            |_, _, _| {},
        );
        assert_eq!(attempts.len(), 3);
        assert_eq!(s.slept.len(), 2);
    }

    #[test]
    fn interrupted_sleep_or_attempt_ends_the_loop() {
        let mut s = FakeSleeper {
            slept: vec![],
            interrupt_after: Some(1),
        };
        let (attempts, _) = run_with_retries(
            5,
            backoff(),
            &mut Jitter::fixed(1),
            &mut s,
            |_| R(Class::TransientInfra, false),
            |_, _, _| {},
        );
        assert_eq!(attempts.len(), 1);
        let mut s = FakeSleeper {
            slept: vec![],
            interrupt_after: None,
        };
        let (attempts, _) = run_with_retries(
            5,
            backoff(),
            &mut Jitter::fixed(1),
            &mut s,
            |_| R(Class::TransientInfra, true),
            |_, _, _| {},
        );
        assert_eq!(attempts.len(), 1);
        assert!(s.slept.is_empty());
    }

    #[test]
    fn delays_grow_exponentially_within_jitter_bounds_and_cap() {
        let b = backoff();
        let mut j = Jitter::fixed(42);
        for retry in 1..=12u32 {
            let step = (Duration::from_secs(2) * 2u32.pow(retry - 1)).min(b.cap);
            for _ in 0..200 {
                let d = b.delay(retry, j.next_unit());
                assert!(
                    d >= step / 2 && d <= step,
                    "retry {retry}: {d:?} vs step {step:?}"
                );
            }
        }
        assert_eq!(b.delay(1, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(1, 1.0), Duration::from_secs(2));
        assert_eq!(b.delay(40, 1.0), Duration::from_secs(30));
    }

    #[test]
    fn jitter_is_spread() {
        let mut j = Jitter::fixed(3);
        let v: Vec<f64> = (0..1000).map(|_| j.next_unit()).collect();
        assert!(v.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((0.4..0.6).contains(&mean), "{mean}");
    }
}
