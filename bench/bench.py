#!/usr/bin/env python3
"""stagerun benchmarks: `make bench` (builds the release binary first).

Every figure is measured end to end against a baseline measured in the same
run (interleaved, so drift on a shared machine hits both alike), printed with
its median, its spread (25th-75th percentile) and its goal, MET or MISSED,
and written to target/bench.json. The ssh figures use a real OpenSSH server
on loopback and the real Docker engine; without them they are SKIPPED with
the reason.

  1  overhead on a trivial suite, local transport, against running it directly
  2  a pass run over sshd + docker against the raw ssh + docker exec command;
     the in-container wrapper's own cost
  3  preflight, run, gate chained with connection_persist against its floor
     (one ssh handshake and the same remote commands typed over one master),
     and sshd's `Accepted publickey` count
  4  peak RSS with 1 GiB of stdout and 100 MiB of stderr, throughput against
     cat, kill latency after the deadline (TERM-ignoring grandchildren),
     locally and in the container
  5  gate on a 10 KB and on a 300 MB log
  6  history over 10,000 logged runs (git fast-import) against git log -p; its
     peak RSS against 1,000 runs; a failing run's history time, warm cache
     (bench/history_bench.py)
  7  a dropped connection mid-suite: the reattach latency against one ssh
     handshake; the dropped run's wall time against the same run undropped
     (bench/reattach_bench.py)

BENCH_RUNS (default 31) sets the samples per figure; BENCH_ONLY=1,3 picks figures;
BENCH_BIN=path measures another stagerun binary.
"""

import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import history_bench
import reattach_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BENCH_BIN: another build (say, the previous commit's) measured the same way.
BIN = os.environ.get("BENCH_BIN") or os.path.join(ROOT, "target", "release", "stagerun")
SUITE = os.path.join(ROOT, "fixtures", "staging_check.py")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
RUNS = int(os.environ.get("BENCH_RUNS", "31"))
ONLY = {s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()}
FIGURES = []


# --- measuring ---------------------------------------------------------------

def quartiles(xs):
    xs = sorted(xs)
    if len(xs) < 4:
        return xs[0], xs[-1]
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def figure(fid, name, samples, unit, baseline, baseline_unit, goal, met, note=""):
    """One row: the median of `samples` (the figure's own metric, one value per
    measured pair or run), its spread, the baseline's median and the goal."""
    value = statistics.median(samples)
    lo, hi = quartiles(samples)
    row = {
        "id": fid, "name": name, "median": round(value, 3), "p25": round(lo, 3), "p75": round(hi, 3),
        "unit": unit, "samples": len(samples), "baseline": round(baseline, 3), "baseline_unit": baseline_unit,
        "goal": goal, "result": "MET" if met(value) else "MISSED", "note": note,
    }
    FIGURES.append(row)
    print(f"{fid:<3} {name:<44} {value:>9.2f} {unit:<3} [{lo:>8.2f} .. {hi:>8.2f}]  "
          f"baseline {baseline:>9.2f} {baseline_unit:<3}  {goal:<30} {row['result']}", flush=True)
    if note:
        print(f"    {note}", flush=True)


def skipped(fid, name, why):
    FIGURES.append({"id": fid, "name": name, "result": "SKIPPED", "note": why})
    print(f"{fid:<3} {name:<44} SKIPPED: {why}", flush=True)


def timed(cmd, env=None, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=None, stdin_text=None):
    """Wall time (ms), peak RSS (MiB) and exit code of one run; stdin_text,
    when given, is what the command reads on stdin (then end of file)."""
    start = time.perf_counter()
    stdin = subprocess.PIPE if stdin_text is not None else None
    proc = subprocess.Popen(cmd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd)
    if stdin_text is not None:
        try:
            proc.stdin.write(stdin_text.encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it ended without reading: its exit code says how
    _, status, usage = os.wait4(proc.pid, 0)
    return (time.perf_counter() - start) * 1000, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def clean_env(**kv):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("ORCH_STAGING_RUNNER_", "STAGING_CHECK_", "GITHUB_", "GITLAB_", "CI_"))
         and k not in ("CI", "STAGERUN_CONFIG")}
    e.update({k: str(v) for k, v in kv.items()})
    return e


def work_item(base, name):
    path = os.path.join(base, "docs", "work-items", name)
    os.makedirs(path, exist_ok=True)
    return path


def wanted(fid):
    return not ONLY or fid in ONLY


# --- 1: the fixed per-run cost ------------------------------------------------

TRIVIAL = "echo 'C1 PASS trivial'\n"


def fsync_cost(directory):
    """What the contract's durable write costs here: a log-sized file written,
    fsynced and renamed, and its folder fsynced (median ms)."""
    xs = []
    for i in range(RUNS):
        start = time.perf_counter()
        tmp = os.path.join(directory, f".probe{i}.tmp")
        with open(tmp, "wb") as f:
            f.write(b"x" * 2048)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(directory, ".probe"))
        fd = os.open(directory, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        xs.append((time.perf_counter() - start) * 1000)
    return statistics.median(xs)


def overhead_on(fid, where, base, goal_ms):
    item = work_item(base, "ORCH-900")
    suite = os.path.join(base, "trivial.sh")
    with open(suite, "w") as f:
        f.write(TRIVIAL)
    env = clean_env()
    ours = [BIN, "run", item, "--repo", "bench", "--transport", "local", "--no-push", "--quiet",
            "--python", "/bin/sh", "--check-script", suite]
    direct = ["/bin/sh", suite, "--work-item", "ORCH-900", "--mode", "stub"]
    code = timed(ours, env)[2]
    if code != 0:
        sys.exit(f"figure {fid}: stagerun exited {code} on the trivial suite")
    added, base_ms = [], []
    for _ in range(RUNS):
        d = timed(direct, env)[0]
        s = timed(ours, env)[0]
        added.append(s - d)
        base_ms.append(d)
    durable = fsync_cost(item)
    figure(fid, f"overhead, trivial suite, {where} (added)", added, "ms", statistics.median(base_ms), "ms",
           f"added <= {goal_ms:g} ms", lambda v: v <= goal_ms,
           f"of which the durable log write (file + folder fsync) costs {durable:.2f} ms here")


def bench_overhead(tmp):
    overhead_on("1a", "work dir on disk", tmp, 3.0)
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        with tempfile.TemporaryDirectory(prefix="stagerun-bench-", dir="/dev/shm") as shm:
            overhead_on("1b", "work dir on tmpfs", shm, 2.5)


# --- the staging host: a real sshd on loopback and a Docker container ---------

class Staging:
    """sshd on 127.0.0.1 with its own keys, and containers of an image made
    from an empty rootfs with the host's /usr bind-mounted read-only."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.dir = os.path.join(tmp, "ssh")
        self.containers = []
        self.sshd = None

    def unavailable(self):
        if not os.path.exists("/usr/sbin/sshd"):
            return "/usr/sbin/sshd not installed"
        if shutil.which("docker") is None:
            return "docker CLI not installed"
        if subprocess.run(["docker", "version"], capture_output=True).returncode != 0:
            return "docker engine not answering"
        if not os.path.exists("/usr/bin/python3"):
            return "/usr/bin/python3 missing (bind-mounted into the container)"
        return None

    def start(self):
        d = self.dir
        os.makedirs(d)
        for k in ("host", "client"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, k)], check=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        pub = lambda k: " ".join(open(os.path.join(d, k + ".pub")).read().split()[:2])
        with open(os.path.join(d, "authorized_keys"), "w") as f:
            f.write(pub("client") + "\n")
        with open(os.path.join(d, "known_hosts"), "w") as f:
            f.write(f"[127.0.0.1]:{self.port} {pub('host')}\n")
        with open(os.path.join(d, "sshd_config"), "w") as f:
            f.write(f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n"
                    f"PidFile {d}/sshd.pid\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    f"PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nMaxStartups 100\nMaxSessions 100\nLogLevel VERBOSE\n")
        os.makedirs("/run/sshd", exist_ok=True)
        self.log = os.path.join(d, "sshd.log")
        self.sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", os.path.join(d, "sshd_config"), "-E", self.log])
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
                break
            except OSError:
                time.sleep(0.02)
        self.user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        self.image = self.build_image()

    def build_image(self):
        rootfs = os.path.join(self.tmp, "rootfs")
        for sub in ("etc", "tmp", "proc", "sys", "dev", "staging", "usr", "root"):
            os.makedirs(os.path.join(rootfs, sub))
        os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
        for link, target in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/sbin")):
            os.symlink(target, os.path.join(rootfs, link))
        with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")
        shutil.copy(SUITE, os.path.join(rootfs, "staging", "staging_check.py"))
        subprocess.run(["tar", "-C", rootfs, "-cf", rootfs + ".tar", "."], check=True)
        tag = f"localhost/stagerun-bench:{os.getpid()}"
        subprocess.run(["docker", "import", rootfs + ".tar", tag], check=True, capture_output=True)
        return tag

    def container(self, scenario):
        name = f"stagerun-bench-{os.getpid()}-{len(self.containers)}"
        subprocess.run(["docker", "run", "-d", "--name", name, "--network", "none", "-v", "/usr:/usr:ro",
                        "-e", f"STAGING_CHECK_SCENARIO={scenario}", "-e", "STAGING_CHECK_SLOW_SECONDS=0",
                        self.image, "/usr/bin/sleep", "infinity"], check=True, capture_output=True)
        self.containers.append(name)
        return name

    def ssh_options(self):
        d = self.dir
        return ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={d}/known_hosts", "-o", "IdentitiesOnly=yes",
                "-i", f"{d}/client", "-p", str(self.port), "-l", self.user]

    def config(self, container, persist="0", **extra):
        tag = "".join(f"-{k}-{v}" for k, v in sorted(extra.items()))
        path = os.path.join(self.tmp, f"{container}-{persist}{tag}.yaml")
        lines = [f"host: 127.0.0.1", f"port: {self.port}", f"user: {self.user}",
                 f"identity_file: {self.dir}/client", f"known_hosts: {self.dir}/known_hosts",
                 f"container: {container}", "check_script: /staging/staging_check.py", "push: false",
                 f"connection_persist: {persist}"]
        lines += [f"{k}: {v}" for k, v in extra.items()]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def logins(self):
        with open(self.log, errors="replace") as f:
            return f.read().count("Accepted publickey")

    def processes(self, container):
        out = subprocess.run(["docker", "top", container, "-eo", "pid,args"], capture_output=True, text=True).stdout
        return [l for l in out.splitlines()[1:] if l.strip() and "sleep infinity" not in l]

    def stop(self):
        for name in self.containers:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        if getattr(self, "image", None):
            subprocess.run(["docker", "rmi", "-f", self.image], capture_output=True)
        if self.sshd:
            self.sshd.kill()
            self.sshd.wait()


# --- 2: a pass run over ssh + docker -----------------------------------------

def bench_remote_pass(tmp, staging):
    name = staging.container("pass")
    item = work_item(tmp, "ORCH-910")
    cfg = staging.config(name)
    env = clean_env()
    ours = [BIN, "run", item, "--repo", "bench", "--config", cfg, "--quiet"]
    # Without a master: the suite's command is the only ssh connection, as in the raw command.
    direct = [BIN, "run", item, "--repo", "bench", "--config", staging.config(name, connection_reuse="false"),
              "--quiet"]
    raw = ["ssh", *staging.ssh_options(), "--", "127.0.0.1",
           f"docker exec {name} python3 /staging/staging_check.py --work-item ORCH-910 --mode stub"]
    if timed(ours, env)[2] != 0 or timed(raw, env)[2] != 0:
        sys.exit("figure 2: the pass run over ssh did not pass")

    def wrapped():
        # The exact command stagerun would run (wrapper included), run without stagerun.
        out = subprocess.run([BIN, "run", item, "--repo", "bench", "--config", cfg, "--dry-run", "--json"],
                             capture_output=True, text=True, env=env, check=True)
        argv = json.loads(out.stdout)["argv"]
        # stagerun's own fresh-connection options, plus the benchmark's keys.
        return ["ssh", *staging.ssh_options(), *argv[1:]]

    log = os.path.join(item, "15-staging-log.md")

    def sample(cmd):
        # A run that adopted an earlier one's end never started the suite:
        # timing it would measure the adoption, not a run. Each sample must
        # pass and write its own log.
        if os.path.exists(log):
            os.remove(log)
        ms, _, code = timed(cmd, env)
        if code != 0:
            sys.exit(f"figure 2: a stagerun sample exited {code}: {' '.join(cmd)}")
        with open(log) as f:
            text = f.read()
        if "\nadopted: true\n" in text:
            sys.exit("figure 2: a stagerun sample adopted an earlier run instead of running the suite")
        if "\nadopted: false\n" not in text:
            sys.exit("figure 2: a stagerun sample's log does not say whether it adopted a run")
        return ms

    ours_pct, wrapper_pct, direct_pct, raw_ms = [], [], [], []
    for _ in range(RUNS):
        r = timed(raw, env)[0]
        s = sample(ours)
        # The receipt stagerun sends after the end: without it the wrapper
        # keeps the run's end for adoption, and the next sample adopts it.
        # Sent up front, it is read only at the end because the stub suite
        # ends before the follower starts listening (after 1 s): valid for
        # a suite under ~1 s, as this one is.
        w = timed(wrapped(), env, stdin_text="a\n")[0]
        d = sample(direct)
        raw_ms.append(r)
        ours_pct.append((s - r) / r * 100)
        wrapper_pct.append((w - r) / r * 100)
        direct_pct.append((d - r) / r * 100)
    base = statistics.median(raw_ms)
    figure("2a", "pass run over sshd+docker vs raw (added)", ours_pct, "%", base, "ms", "added <= 3 %",
           lambda v: v <= 3.0, f"with connection_reuse: false (no master, one connection) "
           f"{statistics.median(direct_pct):+.2f} %")
    figure("2b", "the wrapper's cost per attempt (added)", wrapper_pct, "%", base, "ms", "added <= 5 %",
           lambda v: v <= 5.0, "the wrapper's command run directly over ssh, against the raw command")


# --- 3: a three-invocation chain --------------------------------------------

def floor_commands(container, work_item_id):
    """What the chain asks of the staging host, typed by hand: preflight's
    engine and environment checks (docker version, the container's state,
    the interpreter, the check script, the lock folder), then the suite;
    gate reads a local file and asks nothing of the host."""
    sh = lambda script: f"docker exec {container} sh -c '{script}'"
    preflight = " && ".join([
        "docker version --format '{{.Server.Version}}' >/dev/null",
        f"docker inspect --type container --format '{{{{.State.Status}}}}' {container} >/dev/null",
        sh("command -v python3 >/dev/null"),
        sh("test -f /staging/staging_check.py"),
        sh("mkdir -p /tmp/stagerun && test -w /tmp/stagerun"),
    ])
    run = f"docker exec {container} python3 /staging/staging_check.py --work-item {work_item_id} --mode stub"
    return [preflight, run]


def bench_chain(tmp, staging):
    name = staging.container("pass")
    item = work_item(tmp, "ORCH-920")
    env = clean_env()
    runs = max(5, RUNS // 4)
    cfg = staging.config(name, "60s")
    control = os.path.join(tmp, "floor-master")

    def chain():
        before = staging.logins()
        start = time.perf_counter()
        codes = [
            timed([BIN, "preflight", "--repo", "bench", "--config", cfg], env)[2],
            timed([BIN, "run", item, "--repo", "bench", "--config", cfg, "--quiet"], env)[2],
            timed([BIN, "gate", item], env)[2],
        ]
        wall = (time.perf_counter() - start) * 1000
        if codes != [0, 0, 0]:
            sys.exit(f"figure 3: the chain exited {codes}")
        subprocess.run([BIN, "disconnect", "--repo", "bench", "--config", cfg], env=env, capture_output=True)
        time.sleep(0.2)  # sshd logs the login a moment after it accepts it
        return wall, staging.logins() - before

    def floor():
        # One handshake (the master, backgrounded once authenticated), the
        # same remote commands over it, one session each as typed.
        opts = [*staging.ssh_options(), "-S", control]
        start = time.perf_counter()
        codes = [timed(["ssh", *opts, "-M", "-o", "ControlPersist=60", "-f", "-N", "127.0.0.1"], env)[2]]
        for command in floor_commands(name, "ORCH-920"):
            codes.append(timed(["ssh", *opts, "--", "127.0.0.1", command], env)[2])
        wall = (time.perf_counter() - start) * 1000
        subprocess.run(["ssh", *opts, "-O", "exit", "127.0.0.1"], env=env, capture_output=True)
        if codes != [0, 0, 0]:
            sys.exit(f"figure 3: the hand-typed floor exited {codes}")
        return wall

    chains, floors = [], []
    for _ in range(runs):
        floors.append(floor())
        chains.append(chain())
    ratio = [c[0] / f for c, f in zip(chains, floors)]
    figure("3a", "chain preflight+run+gate (persist) vs floor", ratio, "x",
           statistics.median(floors), "ms", "<= 1.15x the floor", lambda v: v <= 1.15,
           f"wall {statistics.median(c[0] for c in chains):.0f} ms for the chain with connection_persist, "
           f"{statistics.median(floors):.0f} ms for one handshake and the same remote commands over one master")
    figure("3b", "ssh logins in the chain with persist", [c[1] for c in chains], "n", 1, "n",
           "1 handshake for the chain", lambda v: v == 1,
           "sshd's `Accepted publickey` lines per chain")


# --- 4: memory, throughput, kill latency -------------------------------------

FLOOD = r"""
line=$(printf '%099d' 0)
yes "$line" | head -c "$ERR_BYTES" >&2
yes "$line" | head -c "$OUT_BYTES"
echo "C1 PASS flood done"
"""


def bench_memory(tmp):
    item = work_item(tmp, "ORCH-930")
    script = os.path.join(tmp, "flood.sh")
    with open(script, "w") as f:
        f.write(FLOOD)
    runs = max(3, RUNS // 10)
    cmd = [BIN, "run", item, "--repo", "bench", "--transport", "local", "--no-push", "--python", "/bin/sh",
           "--check-script", script]

    def run(out_mib, err_mib):
        return timed(cmd, clean_env(OUT_BYTES=out_mib << 20, ERR_BYTES=err_mib << 20))

    small = [run(10, 0) for _ in range(runs)]
    out_big = [run(1024, 0) for _ in range(runs)]
    err_big = [run(0, 100) for _ in range(runs)]
    base = statistics.median(r[1] for r in small)
    flat = lambda v: v <= 32 and v <= base + 4
    figure("4a", "peak RSS, 1 GiB of stdout", [r[1] for r in out_big], "MiB", base, "MiB",
           "<= 32 MiB, flat vs a 10 MiB run", flat)
    figure("4b", "peak RSS, 100 MiB of stderr", [r[1] for r in err_big], "MiB", base, "MiB",
           "<= 32 MiB, flat vs a 10 MiB run", flat)
    env = clean_env(OUT_BYTES=1024 << 20, ERR_BYTES=0)
    ratios, cat_ms = [], []
    for _ in range(runs):
        c = timed(["sh", "-c", f"sh {script} | cat > /dev/null"], env)[0]
        s = timed(cmd, env)[0]
        cat_ms.append(c)
        ratios.append(c / s)
    figure("4c", "throughput vs cat, 1 GiB (ratio)", ratios, "x", statistics.median(cat_ms), "ms",
           ">= 0.5 of cat's", lambda v: v >= 0.5, "stagerun echoes the suite's output to /dev/null and scans every byte")


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def bench_kill_local(tmp):
    grace, timeout = 0.5, 1.0
    lat, survivors = [], 0
    for i in range(max(5, RUNS // 5)):
        item = work_item(tmp, f"ORCH-94{i}")
        pids = os.path.join(tmp, f"pids{i}")
        open(pids, "w").close()
        env = clean_env(STAGING_CHECK_SCENARIO="grandchild", STAGING_CHECK_PID_FILE=pids,
                        ORCH_STAGING_RUNNER_GRACE=grace)
        start = time.perf_counter()
        subprocess.run([BIN, "run", item, "--repo", "bench", "--transport", "local", "--no-push", "--quiet",
                        "--python", PY, "--check-script", SUITE, "--timeout", str(timeout), "--retries", "0"],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:  # until the last process of the suite is gone
            with open(pids) as f:
                left = [int(l.split()[1]) for l in f if l.strip() and alive(int(l.split()[1]))]
            if not left or time.perf_counter() - start > timeout + grace + 5:
                break
            time.sleep(0.001)
        survivors += len(left)
        lat.append((time.perf_counter() - start - timeout) * 1000)
    figure("4d", "kill latency, local: deadline -> last gone", lat, "ms", grace * 1000, "ms",
           "<= grace + 100 ms, 0 survivors", lambda v: v <= grace * 1000 + 100 and survivors == 0,
           f"{survivors} processes survived")


def bench_kill_container(tmp, staging):
    grace, timeout = 0.5, 2.0
    name = staging.container("grandchild")
    cfg = staging.config(name, infra_retries=0, grace=grace, timeout=timeout)
    lat, survivors = [], 0
    for i in range(max(5, RUNS // 5)):
        item = work_item(tmp, f"ORCH-95{i}")
        start = time.perf_counter()
        subprocess.run([BIN, "run", item, "--repo", "bench", "--config", cfg, "--quiet"],
                       env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lat.append((time.perf_counter() - start - timeout) * 1000)
        left = staging.processes(name)
        survivors += len(left)
    figure("4e", "kill latency, container: deadline -> exit", lat, "ms", grace * 1000, "ms",
           "<= grace + 100 ms, 0 survivors", lambda v: v <= grace * 1000 + 100 and survivors == 0,
           f"stagerun exits after the remote stop confirmed the group gone; "
           f"{survivors} processes left in the container (docker top)")


# --- 5: gate on a small and a huge log ----------------------------------------

def bench_gate(tmp):
    small = work_item(tmp, "ORCH-960")
    huge = work_item(tmp, "ORCH-961")
    subprocess.run([BIN, "run", small, "--repo", "bench", "--transport", "local", "--no-push", "--quiet",
                    "--python", PY, "--check-script", SUITE], env=clean_env(STAGING_CHECK_SCENARIO="pass"),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = os.path.join(small, "15-staging-log.md")
    with open(log, "a") as f:
        f.write("\n" + "padding to 10 KB of log\n" * ((10_000 - os.path.getsize(log)) // 24 + 1))
    shutil.copy(log, os.path.join(huge, "15-staging-log.md"))
    with open(os.path.join(huge, "15-staging-log.md"), "a") as f:
        chunk = ("stdout tail line " + "x" * 100 + "\n") * 8192
        while f.tell() < 300 << 20:
            f.write(chunk)
    ratios, rss, small_ms, small_rss = [], [], [], []
    for _ in range(RUNS):
        s = timed([BIN, "gate", small])
        h = timed([BIN, "gate", huge])
        if s[2] != 0 or h[2] != 0:
            sys.exit(f"figure 5: gate exited {s[2]} / {h[2]}")
        small_ms.append(s[0])
        small_rss.append(s[1])
        ratios.append(h[0] / s[0])
        rss.append(h[1])
    figure("5a", "gate, 300 MB log vs 10 KB log (time)", ratios, "x", statistics.median(small_ms), "ms",
           "<= 1.5x (bounded read)", lambda v: v <= 1.5)
    base = statistics.median(small_rss)
    figure("5b", "gate, 300 MB log (peak RSS)", rss, "MiB", base, "MiB", "<= 10 KB log's + 1 MiB",
           lambda v: v <= base + 1)


# --- the run -------------------------------------------------------------------

def linked(path):
    """How the measured binary was linked: `make build` links it statically
    and without PIE on Linux/glibc; `cargo build --release` does not, and
    figure 1 differs by ~0.7 ms between the two (docs/performance.md)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return "unknown"
    if head[:4] != b"\x7fELF":
        return "not ELF"
    number = lambda at, size: int.from_bytes(head[at:at + size], "little")
    kind = {2: "non-PIE", 3: "PIE"}.get(number(16, 2), "unknown type")
    # A PT_INTERP program header names the dynamic loader (ELF64 layout).
    phoff, phentsize, phnum = number(32, 8), number(54, 2), number(56, 2)
    dynamic = any(number(phoff + i * phentsize, 4) == 3 for i in range(phnum))
    return f"{'dynamic' if dynamic else 'static'}, {kind}"


def machine():
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    fs = first(["stat", "-f", "-c", "%T", os.path.join(ROOT, "target")])
    return {
        "linked": linked(BIN),
        "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "target_fs": fs,
        "ssh": subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip(),
        "docker": first(["docker", "version", "--format", "{{.Server.Version}}"]),
        "stagerun": first([BIN, "--version"]),
    }


def installed_copy(directory):
    """The binary as `make install` (or a release tarball) puts it: a copy
    written in one go. The linker's own output file may sit in the page
    cache in smaller pieces, which costs a trivial run ~20 more page faults
    (~0.3 ms, figure 1) depending on how it was written and read back."""
    global BIN
    os.makedirs(os.path.join(directory, "bin"))
    copy = os.path.join(directory, "bin", "stagerun")
    shutil.copy2(BIN, copy)
    BIN = copy


def main():
    global BIN
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} missing: run `make bench` (it builds release first)")
    built = BIN
    info = machine()
    print(f"stagerun bench: {RUNS} samples per figure (BENCH_RUNS); {info['cpu']}, {info['cores']} cores, "
          f"kernel {info['kernel']}, target on {info['target_fs']}; {BIN} {info['linked']}")
    print(f"{'id':<3} {'figure':<44} {'median':>13} {'[p25 .. p75]':>22}  {'baseline':>22}  {'goal':<30} result")
    os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stagerun-bench-", dir=os.path.join(ROOT, "target")) as tmp:
        installed_copy(tmp)
        print(f"    measured: a copy of {built} in the benchmark's folder, as installed", flush=True)
        if wanted("1"):
            bench_overhead(tmp)
        staging = Staging(tmp)
        why = staging.unavailable() if any(wanted(f) for f in "2347") else None
        try:
            if not why:
                staging.start()
            if wanted("2"):
                bench_remote_pass(tmp, staging) if not why else skipped("2", "pass run over sshd+docker", why)
            if wanted("3"):
                bench_chain(tmp, staging) if not why else skipped("3", "chain preflight+run+gate", why)
            if wanted("4"):
                bench_memory(tmp)
                bench_kill_local(tmp)
                bench_kill_container(tmp, staging) if not why else skipped("4e", "kill latency, container", why)
            if wanted("7"):
                api = {"figure": figure, "timed": timed, "clean_env": clean_env, "RUNS": RUNS, "BIN": BIN}
                reattach_bench.bench_reattach(tmp, staging, api) if not why else skipped("7", "reattach latency", why)
        finally:
            staging.stop()
        if wanted("5"):
            bench_gate(tmp)
        if wanted("6"):
            history_bench.bench_history(tmp, {"figure": figure, "timed": timed, "clean_env": clean_env, "RUNS": RUNS,
                                              "BIN": BIN, "PY": PY, "SUITE": SUITE})
    measured = [f for f in FIGURES if f["result"] != "SKIPPED"]
    missed = [f["id"] for f in measured if f["result"] == "MISSED"]
    print(f"{len(measured) - len(missed)} of {len(measured)} goals met"
          + (f"; missed: {', '.join(missed)}" if missed else "")
          + (f"; {len(FIGURES) - len(measured)} skipped" if len(FIGURES) > len(measured) else ""))
    out = os.path.join(ROOT, "target", "bench.json")
    with open(out, "w") as f:
        json.dump({"schema": "stagerun.bench/1", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "runs": RUNS, "machine": info, "figures": FIGURES}, f, indent=2)
    print(f"written: {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
