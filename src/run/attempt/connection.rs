//! One attempt's connections: the command supervised, and the reattach
//! that reads on from the spool offsets when the channel is lost mid-suite.

use super::*;

impl Runner<'_> {
    pub(super) fn supervise(&mut self, n: u32, nonce: Option<&str>) -> Outcome {
        let plan = self.plan;
        let control = self.session.as_ref().map(|s| s.control.clone());
        let argv = match plan.attempt_argv(nonce.unwrap_or(""), control.as_deref()) {
            Ok(a) => a,
            Err(e) => {
                return Outcome {
                    spawn_error: Some(e.to_string()),
                    ..Outcome::default()
                };
            }
        };
        if plan.report_path().is_some() && !plan.transport.wrapped() {
            // A report left by an earlier run must not pass for this one's.
            let _ = std::fs::remove_file(plan.report_path().unwrap_or_default());
        }
        let end_seen = Arc::new(AtomicBool::new(false));
        let (out, err) = self.scanners(nonce, &end_seen);
        let opts = self.options(n, end_seen);
        let mut sup = Supervisor::new(out, err);
        let mut conn = self.connect(&mut sup, &argv, &opts, nonce);
        let mut reattaches = Vec::new();
        while plan.transport.wrapped() && self.may_reattach(&sup, &conn) {
            let r = self.reattach(&mut sup, &mut conn, &opts);
            let resumed = r.resumed;
            reattaches.push(r);
            if !resumed {
                break;
            }
        }
        let run_nonce = sup.nonce();
        let mut outcome = sup.finish(conn);
        outcome.reattaches = reattaches;
        outcome.nonce = run_nonce;
        outcome
    }

    pub(super) fn options(&self, n: u32, end_seen: Arc<AtomicBool>) -> supervise::Options {
        let plan = self.plan;
        let per_attempt = Instant::now() + plan.settings.timeout.0;
        let deadline = match plan.deadline {
            Some(d) => d.min(per_attempt),
            None => per_attempt,
        };
        let echo = match (plan.quiet, plan.json) {
            (true, _) => None,
            (false, true) => Some((Stream::Err, Stream::Err)),
            (false, false) => Some((Stream::Out, Stream::Err)),
        };
        let mut env = Vec::new();
        if !plan.transport.wrapped() {
            // Live output: a piped Python otherwise buffers stdout to the end.
            env.push(("PYTHONUNBUFFERED".to_string(), "1".to_string()));
        }
        supervise::Options {
            deadline,
            grace: plan.settings.grace.0,
            heartbeat: plan.settings.heartbeat.0,
            echo,
            env,
            live_status: !plan.quiet && crate::diag::live_status(),
            label: format!(
                "attempt {n}/{} ({} per attempt{})",
                plan.attempts_allowed(),
                secs(plan.settings.timeout.0),
                plan.time_left()
                    .map(|l| format!(", {} of the run left", secs(l)))
                    .unwrap_or_default()
            ),
            signals_since: self.signals_before,
            end_seen,
            // Run directly, the suite's descendants are swept for here;
            // wrapped, the wrapper does it where the suite runs.
            tag: (!plan.transport.wrapped()).then(markers::nonce),
            keepalive: plan.transport.wrapped().then(|| keepalive_every(plan)),
        }
    }

    /// One connection of the attempt, recorded so that a SIGKILLed stagerun's
    /// successor finds what it left.
    pub(super) fn connect(
        &mut self,
        sup: &mut Supervisor,
        argv: &[String],
        opts: &supervise::Options,
        nonce: Option<&str>,
    ) -> Connection {
        let nonce_owned = nonce.map(str::to_string);
        let identity = self.plan.identity();
        let recorder = &mut self.recorder;
        let conn = sup.connect(argv, opts, |pgid| {
            registry::set_local_group(Some(pgid));
            recorder.set(nonce_owned.clone(), Some(pgid), Some(identity));
        });
        registry::set_local_group(None);
        conn
    }

    /// The channel was lost while the suite ran, and nothing says to stop.
    pub(super) fn may_reattach(&self, sup: &Supervisor, conn: &Connection) -> bool {
        sup.lost_mid_suite()
            && !sup.gone()
            && conn.spawn_error.is_none()
            && !conn.timed_out
            && conn.interrupted.is_none()
            && crate::signals::count() == self.signals_before
            && self.plan.settings.reattach_attempts.0 > 0
    }

    /// Reads on in the same run over a new connection (a new master when
    /// the old one is gone), from the offsets already scanned; tries again
    /// with backoff within the reattach budget and the attempt's deadline.
    pub(super) fn reattach(
        &mut self,
        sup: &mut Supervisor,
        conn: &mut Connection,
        opts: &supervise::Options,
    ) -> Reattach {
        let plan = self.plan;
        let lost = Instant::now();
        let mut r = Reattach {
            at: chrono::Utc::now(),
            cause: lost_how(conn),
            ..Reattach::default()
        };
        sup.disconnect();
        let resumes_before = sup.resumes();
        while r.tries < plan.settings.reattach_attempts.0 {
            if r.tries > 0 {
                let pause = reattach_pause(r.tries)
                    .min(opts.deadline.saturating_duration_since(Instant::now()));
                if !crate::signals::sleep_unless_signalled(pause, self.signals_before) {
                    conn.interrupted = crate::signals::last();
                    break;
                }
            }
            if Instant::now() >= opts.deadline {
                conn.timed_out = true;
                break;
            }
            r.tries += 1;
            let (offsets, nonce) = (sup.offsets(), sup.nonce().unwrap_or_default());
            (r.stdout_offset, r.stderr_offset) = offsets;
            crate::note!(
                "the channel was lost mid-suite ({}); reattaching to the same run at stdout byte {}, stderr byte {} (try {}/{})",
                r.cause,
                offsets.0,
                offsets.1,
                r.tries,
                plan.settings.reattach_attempts.0
            );
            if let Some(f) = self.ensure_session() {
                crate::note!(
                    "reattach: the ssh master could not connect: {}",
                    f.stderr.trim()
                );
                continue;
            }
            let control = self.session.as_ref().map(|s| s.control.clone());
            let argv = match plan.follow_argv(&nonce, offsets, control.as_deref()) {
                Ok(a) => a,
                Err(_) => break,
            };
            *conn = self.connect(sup, &argv, opts, Some(&nonce));
            if sup.gone() {
                break;
            }
            if sup.resumes() > resumes_before {
                r.resumed = true;
                r.away = sup
                    .resumed_at()
                    .map_or(lost.elapsed(), |t| t.saturating_duration_since(lost));
                return r;
            }
            if sup.gone() || conn.interrupted.is_some() || conn.timed_out {
                break;
            }
            sup.disconnect();
        }
        r.away = lost.elapsed();
        r
    }
}

/// How often the wrapper's follower hears from us: well within its lease.
fn keepalive_every(plan: &Plan) -> Duration {
    (plan.settings.reattach_lease.0 / 6).clamp(Duration::from_secs(1), Duration::from_secs(5))
}

/// The pause before a reattach's next try: none before the first (a
/// dropped session usually comes back at once), then 0.5 s doubling to 5 s.
fn reattach_pause(tries: u32) -> Duration {
    (Duration::from_millis(500) * (1u32 << (tries - 1).min(4))).min(Duration::from_secs(5))
}

/// How a connection ended, in words for the reattach note and record.
fn lost_how(c: &Connection) -> String {
    match (c.code, c.signal) {
        (Some(code), _) => format!("the channel's client exited {code}"),
        (None, Some(sig)) => format!(
            "the channel's client was killed by {}",
            crate::signals::name(sig)
        ),
        _ => "the channel's client ended without a status".into(),
    }
}
