#!/usr/bin/env python3
"""stagerun benchmarks: `make bench` (builds release first).

Every figure is the median of several runs and is printed next to a baseline
measured in the same run, with the ratio or difference and the target.
Needs python3; the connection-reuse figure also needs sshd and docker and is
skipped with a reason without them.
"""

import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "stagerun")
SUITE = os.path.join(ROOT, "fixtures", "staging_check.py")
PY = shutil.which("python3", path="/usr/bin") or sys.executable
RUNS = int(os.environ.get("BENCH_RUNS", "31"))
RESULTS = []


def report(name, value, baseline, unit, target, ok, baseline_unit=None):
    bu = baseline_unit or unit
    line = f"{name:<46} {value:>10.2f} {unit:<4} baseline {baseline:>10.2f} {bu:<4} {target:<34} {'ok' if ok else 'MISSED'}"
    RESULTS.append((name, ok))
    print(line, flush=True)


def timed(cmd, env=None, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
    """Wall time (ms) and peak RSS (KiB, the process and its descendants) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss, proc.returncode


def interleaved(a, b, runs=RUNS):
    """Alternate two commands so drift on a shared machine hits both alike."""
    xs, ys = [], []
    for _ in range(runs):
        xs.append(a())
        ys.append(b())
    return statistics.median(xs), statistics.median(ys)


def env_with(**kv):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith(("ORCH_STAGING_RUNNER_", "STAGING_CHECK_", "GITHUB_", "GITLAB_")):
            del e[k]
    e.update({k: str(v) for k, v in kv.items()})
    return e


def work_item(base, name="ORCH-900"):
    path = os.path.join(base, name)
    os.makedirs(path, exist_ok=True)
    return path


def stagerun_local(item, *extra):
    return [BIN, "run", item, "--repo", "bench", "--transport", "local", "--no-push", "--quiet",
            "--python", PY, "--check-script", SUITE, *extra]


def bench_overhead(tmp):
    item = work_item(tmp)
    e = env_with(STAGING_CHECK_SCENARIO="pass")
    direct = [PY, SUITE, "--work-item", "ORCH-900", "--mode", "stub"]
    d, s = interleaved(lambda: timed(direct, e, stdout=subprocess.PIPE)[0], lambda: timed(stagerun_local(item), e)[0])
    report("1a overhead, trivial suite (added ms)", s - d, d, "ms", "added <= 5 ms", s - d <= 5.0)
    e = env_with(STAGING_CHECK_SCENARIO="slow", STAGING_CHECK_SLOW_SECONDS="0.2")
    d, s = interleaved(lambda: timed(direct, e, stdout=subprocess.PIPE)[0], lambda: timed(stagerun_local(item), e)[0], runs=max(11, RUNS // 3))
    pct = (s - d) / d * 100
    report("1b overhead, 200 ms suite (added %)", pct, d, "%", "added <= 2 %", pct <= 2.0, baseline_unit="ms")


FLOOD = r"""
line=$(printf '%099d' 0)
( yes "$line" | head -c "$ERR_BYTES" >&2 ) &
yes "$line" | head -c "$OUT_BYTES"
wait
echo "C1 PASS flood done"
"""


def bench_memory(tmp):
    item = work_item(tmp, "ORCH-901")
    script = os.path.join(tmp, "flood.sh")
    with open(script, "w") as f:
        f.write(FLOOD)
    runs = max(3, RUNS // 10)

    def run(out_mb, err_mb):
        e = env_with(OUT_BYTES=out_mb << 20, ERR_BYTES=err_mb << 20)
        cmd = [BIN, "run", item, "--repo", "bench", "--transport", "local", "--no-push", "--python", "/bin/sh", "--check-script", script]
        return timed(cmd, e)

    small = [run(10, 1) for _ in range(runs)]
    big = [run(1024, 100) for _ in range(runs)]
    rss_small = statistics.median(r[1] for r in small) / 1024
    rss_big = statistics.median(r[1] for r in big) / 1024
    report("2a peak RSS, 1 GiB out + 100 MiB err (MiB)", rss_big, rss_small, "MiB", "<= 32 MiB, baseline = 10 MiB run", rss_big <= 32 and rss_big <= rss_small * 1.5 + 2)
    e = env_with(OUT_BYTES=1024 << 20, ERR_BYTES=100 << 20)
    cat = lambda: timed(["sh", "-c", f"sh {script} 2>&1 | cat > /dev/null"], e)[0]
    ours = statistics.median(r[0] for r in big)
    base = statistics.median(cat() for _ in range(runs))
    ratio = base / ours
    report("2b pass-through throughput vs cat (ratio)", ratio, 1.0, "x", ">= 0.5 of cat", ratio >= 0.5)
    print(f"   (1.1 GiB through stagerun {ours:.0f} ms, through cat {base:.0f} ms)")


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def bench_kill(tmp):
    grace = 0.5
    timeout = 1.0
    lat, survivors = [], 0
    for i in range(max(5, RUNS // 5)):
        item = work_item(tmp, f"ORCH-91{i}")
        pids = os.path.join(tmp, f"pids{i}")
        e = env_with(STAGING_CHECK_SCENARIO="grandchild", STAGING_CHECK_PID_FILE=pids, ORCH_STAGING_RUNNER_GRACE=grace)
        start = time.perf_counter()
        proc = subprocess.Popen(stagerun_local(item, "--timeout", str(timeout), "--retries", "0"), env=e,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(pids, "a"):
            pass
        proc.wait()
        # The last process gone: stagerun waits for the group to empty before it exits.
        while True:
            with open(pids) as f:
                alive = [int(l.split()[1]) for l in f if l.strip() and pid_alive(int(l.split()[1]))]
            if not alive or time.perf_counter() - start > timeout + grace + 5:
                break
            time.sleep(0.001)
        gone = time.perf_counter()
        survivors += len(alive)
        lat.append((gone - start - timeout) * 1000)
    med = statistics.median(lat)
    report("3  kill latency, deadline -> last gone (ms)", med, grace * 1000, "ms", f"<= grace + 100 ms, 0 survivors ({survivors})", med <= grace * 1000 + 100 and survivors == 0)


def bench_startup(tmp):
    item = work_item(tmp, "ORCH-920")
    subprocess.run(stagerun_local(item), env=env_with(STAGING_CHECK_SCENARIO="pass"), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t, v = interleaved(lambda: timed(["true"])[0], lambda: timed([BIN, "--version"])[0], runs=RUNS * 3)
    report("5a start-up: --version (added ms vs true)", v - t, t, "ms", "<= 3 ms", v - t <= 3)
    t, g = interleaved(lambda: timed(["true"])[0], lambda: timed([BIN, "gate", item])[0], runs=RUNS * 3)
    report("5b start-up: gate on a log (added ms vs true)", g - t, t, "ms", "<= 3 ms", g - t <= 3)


def bench_reuse(tmp):
    reason = None
    if not os.path.exists("/usr/sbin/sshd"):
        reason = "sshd not installed"
    elif subprocess.run(["docker", "version"], capture_output=True).returncode != 0:
        reason = "docker engine not answering"
    if reason:
        print(f"4  connection reuse: SKIPPED ({reason})")
        return
    d = os.path.join(tmp, "ssh")
    os.makedirs(d)
    for k in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, k)], check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pub = lambda k: " ".join(open(os.path.join(d, k + ".pub")).read().split()[:2])
    open(os.path.join(d, "authorized_keys"), "w").write(pub("client") + "\n")
    open(os.path.join(d, "known_hosts"), "w").write(f"[127.0.0.1]:{port} {pub('host')}\n")
    open(os.path.join(d, "sshd_config"), "w").write(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n"
        f"PidFile {d}/sshd.pid\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        f"StrictModes no\nUsePAM no\nMaxStartups 100\nLogLevel VERBOSE\n")
    os.makedirs("/run/sshd", exist_ok=True)
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", os.path.join(d, "sshd_config"), "-E", os.path.join(d, "sshd.log")])
    rootfs = os.path.join(tmp, "rootfs")
    for sub in ("etc", "tmp", "proc", "sys", "dev", "staging", "usr"):
        os.makedirs(os.path.join(rootfs, sub))
    for link, target in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")):
        os.symlink(target, os.path.join(rootfs, link))
    shutil.copy(SUITE, os.path.join(rootfs, "staging", "staging_check.py"))
    subprocess.run(["tar", "-C", rootfs, "-cf", rootfs + ".tar", "."], check=True)
    subprocess.run(["docker", "import", rootfs + ".tar", "stagerun-bench:1"], check=True, capture_output=True)
    name = f"stagerun-bench-{os.getpid()}"
    subprocess.run(["docker", "run", "-d", "--name", name, "--network", "none", "-v", "/usr:/usr:ro", "-e",
                    "STAGING_CHECK_SCENARIO=flaky", "stagerun-bench:1", "/usr/bin/sleep", "infinity"], check=True, capture_output=True)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.02)
        user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        item = work_item(tmp, "ORCH-930")

        def cycle(reuse):
            cfg = os.path.join(tmp, f"reuse-{reuse}.yaml")
            open(cfg, "w").write(
                f"host: 127.0.0.1\nport: {port}\nuser: {user}\nidentity_file: {d}/client\nknown_hosts: {d}/known_hosts\n"
                f"ssh_config: /dev/null\ncontainer: {name}\ncheck_script: /staging/staging_check.py\npush: false\n"
                f"infra_retries: 2\nbackoff_base: 0\nbackoff_cap: 0\nconnection_reuse: {str(reuse).lower()}\n")
            before = open(os.path.join(d, "sshd.log")).read().count("Accepted publickey")
            start = time.perf_counter()
            subprocess.run([BIN, "preflight", "--repo", "bench", "--config", cfg], capture_output=True)
            subprocess.run([BIN, "run", item, "--repo", "bench", "--config", cfg, "--quiet"], capture_output=True)
            wall = (time.perf_counter() - start) * 1000
            time.sleep(0.05)
            logins = open(os.path.join(d, "sshd.log")).read().count("Accepted publickey") - before
            return wall, logins

        base = [f"-F", "/dev/null", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={d}/known_hosts", "-i", f"{d}/client", "-p", str(port)]
        handshake = statistics.median(timed(["ssh", *base, "--", "127.0.0.1", "true"])[0] for _ in range(7))
        runs = max(3, RUNS // 10)
        with_r = [cycle(True) for _ in range(runs)]
        without = [cycle(False) for _ in range(runs)]
        logins_with = statistics.median(r[1] for r in with_r)
        logins_without = statistics.median(r[1] for r in without)
        hs_with = logins_with * handshake
        hs_without = logins_without * handshake
        ratio = hs_without / hs_with if hs_with else float("inf")
        report("4  ssh handshake ms, preflight+run+2 retries", hs_with, hs_without, "ms", ">= 3x fewer with reuse", ratio >= 3)
        print(f"   ({logins_with:.0f} vs {logins_without:.0f} ssh authentications, {handshake:.1f} ms each; "
              f"{ratio:.1f}x fewer; wall {statistics.median(r[0] for r in with_r):.0f} ms vs {statistics.median(r[0] for r in without):.0f} ms)")
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        sshd.kill()
        sshd.wait()


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} missing: run `make bench` (it builds release first)")
    print(f"stagerun bench: {RUNS} runs per figure (BENCH_RUNS), python {PY}, {os.cpu_count()} cores")
    print(f"{'figure':<46} {'median':>10} {'':<4} {'':>8} {'':>10} {'':<4} {'target':<34} result")
    with tempfile.TemporaryDirectory(prefix="stagerun-bench-") as tmp:
        bench_overhead(tmp)
        bench_memory(tmp)
        bench_kill(tmp)
        bench_reuse(tmp)
        bench_startup(tmp)
    missed = [n for n, ok in RESULTS if not ok]
    print(f"{len(RESULTS) - len(missed)} of {len(RESULTS)} targets met" + (f"; missed: {', '.join(missed)}" if missed else ""))


if __name__ == "__main__":
    main()
