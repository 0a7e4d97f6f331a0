"""Figure 7 of `make bench`: what a dropped connection costs a run.

A suite in the bench's container prints a check line every 100 ms (each
stamped with the time it was printed) for 4 s. Two seconds in, every sshd
session process of the run is killed with SIGKILL, as a dropped connection
would end them. The suite goes on in the container; stagerun reconnects and
reads the spool from the last offset it saw.

  7a  reattach latency: from the sessions killed to the first line printed
      after the kill reaching stagerun's terminal output, against one ssh
      handshake (`ssh host true`) measured in the same run; goal: one
      handshake + 500 ms
  7b  the dropped run's wall time against the same run undropped (added)

Each dropped run must pass, with every tick line, and say one reattach
(its --json result), or the figure stops: a fast wrong answer is no figure.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

TICKS = 40

TICK_SUITE = f"""import sys, time
for i in range({TICKS}):
    print(f"C{{i + 1}} PASS tick {{time.time():.6f}}", flush=True)
    time.sleep(0.1)
"""


def session_pids(listener):
    """The sshd processes below the bench's listener (one per connection)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        parents[int(entry)] = (ppid, comm)

    def descends(pid):
        for _ in range(16):
            if pid not in parents:
                return False
            if parents[pid][0] == listener:
                return True
            pid = parents[pid][0]
        return False

    return [p for p, (_, comm) in parents.items() if comm == "sshd" and p != listener and descends(p)]


def container(tmp, staging):
    folder = os.path.join(tmp, "ticks")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "ticks.py"), "w") as f:
        f.write(TICK_SUITE)
    name = f"stagerun-bench-{os.getpid()}-ticks"
    subprocess.run(["docker", "run", "-d", "--name", name, "--network", "none", "-v", "/usr:/usr:ro",
                    "-v", f"{folder}:/ticks:ro", staging.image, "/usr/bin/sleep", "infinity"],
                   check=True, capture_output=True)
    staging.containers.append(name)
    return name


def config(tmp, staging, name):
    path = staging.config(name)
    with open(path) as f:
        text = f.read().replace("check_script: /staging/staging_check.py", "check_script: /ticks/ticks.py")
    out = os.path.join(tmp, "ticks.yaml")
    with open(out, "w") as f:
        f.write(text)
    return out


def one_run(argv, env, listener, drop_after):
    """Runs stagerun; when drop_after is a number, kills the sessions then.
    Returns (wall ms, exit code, result JSON, kill time, [(arrival, printed)])."""
    started = time.time()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []

    def read():
        for line in proc.stderr:
            parts = line.split()
            if len(parts) == 4 and parts[2] == "tick":
                lines.append((time.time(), float(parts[3])))

    reader = threading.Thread(target=read)
    reader.start()
    killed = None
    if drop_after is not None:
        while not lines and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(max(0.0, drop_after - (time.time() - started)))
        killed = time.time()
        for pid in session_pids(listener):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    out = proc.stdout.read()
    code = proc.wait()
    reader.join()
    wall = (time.time() - started) * 1000
    try:
        result = json.loads(out)
    except ValueError:
        result = {}
    return wall, code, result, killed, lines


def bench_reattach(tmp, staging, api):
    figure, timed, runs = api["figure"], api["timed"], min(api["RUNS"], 11)
    env = api["clean_env"]()
    name = container(tmp, staging)
    cfg = config(tmp, staging, name)
    items = os.path.join(tmp, "reattach")
    os.makedirs(items, exist_ok=True)
    listener = staging.sshd.pid
    handshake = ["ssh", *staging.ssh_options(), "--", "127.0.0.1", "true"]
    latency, added, shakes = [], [], []
    for i in range(runs):
        item = os.path.join(items, f"ORCH-97{i:02d}")
        os.makedirs(item)
        argv = [api["BIN"], "run", item, "--repo", "bench", "--config", cfg, "--json"]
        shakes.append(timed(handshake, env)[0])
        plain = one_run(argv, env, listener, None)
        dropped = one_run(argv, env, listener, 2.0)
        for what, (wall, code, result, killed, lines) in (("undropped", plain), ("dropped", dropped)):
            if code != 0 or len(lines) != TICKS:
                sys.exit(f"figure 7: the {what} run exited {code} with {len(lines)} of {TICKS} tick lines")
        wall, _, result, killed, lines = dropped
        reattaches = result.get("reattaches", 0)
        if reattaches < 1 or len(result.get("attempts", [])) != 1:
            sys.exit(f"figure 7: the dropped run did not reattach once in one attempt: {result.get('attempts')}")
        after = [arrived for arrived, printed in lines if printed > killed]
        if not after:
            sys.exit("figure 7: no line printed after the drop reached stagerun")
        latency.append((min(after) - killed) * 1000)
        added.append(wall - plain[0])
    shake = statistics.median(shakes)
    figure("7a", "reattach latency: drop -> output again", latency, "ms", shake, "ms (handshake)",
           "<= handshake + 500 ms", lambda v: v <= shake + 500,
           "sshd's session processes killed 2 s into a 4 s suite; the suite runs on")
    figure("7b", "a dropped run's wall time (added)", added, "ms", shake, "ms (handshake)",
           "<= handshake + 500 ms", lambda v: v <= shake + 500, "against the same run undropped, same sample")
