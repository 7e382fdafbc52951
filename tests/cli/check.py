#!/usr/bin/env python3
"""check.py BUILD - the `safeconv` command's one grammar (docs/cli.md), walked option by option.

For every subcommand: `--help` goes to stdout with exit 0 and nothing on stderr; every option
its --help lists is run with a good value (exit 0, and with --json: one JSON document on stdout
with the documented keys), with a bad value (exit 2, "safeconv CMD: --option: ..." on stderr),
without its value (exit 2, "needs a value"), and flags with "=x" (exit 2); an unknown option and
a stray argument are usage errors. An option in a --help text that this file has no sample value
for fails the check: a new option gets a line here. Standard library only; about a minute.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
TOOL = os.path.join(BUILD, "safeconv")
FAULT = os.path.join(BUILD, "libsafeconv_fault_vendor.so")
TMP = tempfile.mkdtemp(prefix="safeconv-cli-")
SUITE = os.path.join(TMP, "tiny.csv")
CACHE = os.path.join(TMP, "cache.sqlite")
with open(SUITE, "w") as f:
    f.write("# name,n,c,h,w,k,r,s,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups\n"
            "tiny_a,1,3,8,8,4,3,3,1,1,1,1,1,1,1\n"
            "tiny_b,1,4,6,6,4,1,1,1,1,0,0,1,1,2\n")

ENV = dict(os.environ, SAFECONV_CACHE_DIR=TMP, HOME=TMP)
ENV.pop("SAFECONV_VERBOSITY", None)
if os.path.exists(FAULT):  # probe through a vendor that answers (built by make test-c)
    ENV["SAFECONV_VENDOR_LIBRARY"] = FAULT
    ENV["SAFECONV_FAULT_RULES"] = "k=7:segv"

failures = []


def run(args):
    p = subprocess.run([TOOL] + args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=300)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


def fail(what):
    failures.append(what)
    print("FAIL " + what)


def has_gpu():
    rc, out, _ = run(["info", "--json"])
    return rc == 0 and json.loads(out)["best_device"] >= 0


GPU = has_gpu()

# Base arguments that make each command quick and valid here; the option under test replaces
# its own entry. Values: a good one, and a bad one (None: any text is accepted, e.g. a path).
BASE = {
    "version": {},
    "info": {},
    "verify": {"--count": "1", "--device": "cpu", "--seed": "1"},
    "bench": {"--suite": SUITE, "--device": "cpu", "--repeat": "1", "--min-time": "0"},
    "probe": {"--shape": "1,3,8,8,4,3,3", "--device": "cpu", "--watchdog": "20",
              "--repeat": "1", "--cache": CACHE, "--quiet": None},
    "cache": {"--cache": CACHE},
    "doctor": {},
}
POSITIONAL = {"cache": ["show"]}
SAMPLES = {
    "--count": ("2", "x"), "--seed": ("0x10", "-1"), "--replay": ("0x8297028c3f53807d", "z"),
    "--direction": ("forward", "sideways"), "--device": ("cpu", "gpu0"),
    "--layout": ("nhwc", "nchw4"), "--algo": ("cpu_reference", "fastest"),
    "--versus": ("cpu_reference", "slowest"), "--strategy": ("cpu", "fast"),
    "--workspace-limit": ("1048576", "lots"), "--large": ("50", "101"),
    "--channel-multiple": ("4", "0"), "--suite": (SUITE, None), "--batch": ("2", "0"),
    "--filter": ("tiny_a", None), "--repeat": ("2", "0"), "--min-time": ("0.01", "nan"),
    "--shape": ("1,3,8,8,4,3,3,1,1,1,1", "1,3,8,8,4,3,3,junk"), "--dtype": ("f32", "f64"),
    "--shape-class": ("3x3s1", "5x5"),
    "--watchdog": ("30", "inf"), "--slow": ("10", "-1"), "--tolerance": ("0.01", "x"),
    "--cache": (CACHE, None),
    # flags
    "--tune": (None, None), "--verbose": (None, None), "--json": (None, None),
    "--skip-unsupported": (None, None),
    "--seen": (None, None), "--force": (None, None), "--nondeterministic": (None, None),
    "--quiet": (None, None), "--help": (None, None),
}
# probe takes exactly one of these: testing one removes the others from the base.
EXCLUSIVE = {"probe": ("--suite", "--seen", "--shape")}
# Flags that are usage errors on this machine (GPU-only options without a GPU).
NEEDS_GPU = {("verify", "--tune"), ("bench", "--tune")}

# Top-level keys of each --json document (docs/cli.md); more may be added, none removed.
KEYS = {
    "version": {"version", "version_number", "kernel_set", "backends"},
    "info": {"version", "backends", "devices", "best_device"},
    "verify": {"count", "seed", "replay", "device", "directions", "dtype", "checks",
               "per_direction", "passed", "failed", "skipped", "error"},
    "bench": {"suite", "device", "layout", "dtype", "batch", "algo", "versus", "results",
              "timed", "failed"},
    "probe": {"device", "vendor", "watchdog_s", "slow_s", "results", "total", "outcomes",
              "not_probed"},
    "cache show": {"path", "persistent", "device", "rows", "total", "stale", "outcomes", "error"},
    "cache path": {"path"},
    "cache clear": {"path", "removed"},
    "doctor": {"version", "kernel_set", "devices", "backends", "vendor", "cache", "environment",
               "warnings", "hints", "verdict"},
}
ITEM_KEYS = {  # keys of the entries of the main array
    ("verify", "checks"): {"direction", "desc", "seed", "pass", "rel_err", "tolerance", "algo",
                           "message"},
    ("bench", "results"): {"shape", "direction", "desc", "algo", "ms", "gflops", "versus_algo",
                           "versus_ms", "speedup", "tuned", "error"},
    ("probe", "results"): {"name", "direction", "desc", "outcome", "vendor_ms", "safeconv_ms",
                           "auto", "cached", "detail"},
    ("cache show", "rows"): {"device", "arch", "vendor", "vendor_version", "kernel_set",
                             "direction", "desc", "outcome", "vendor_ms", "safeconv_ms", "auto",
                             "updated", "stale", "detail"},
    ("info", "devices"): {"index", "backend", "name", "arch", "multiprocessors", "warp_size",
                          "total_memory", "driver_version", "runtime_version"},
}


def args_of(cmd, base, opt=None, value=None, flag=False):
    d = dict(base)
    for other in EXCLUSIVE.get(cmd, ()):
        if opt in EXCLUSIVE.get(cmd, ()) and other != opt:
            d.pop(other, None)
    if opt:
        d[opt] = None if flag else value
    out = [cmd] + POSITIONAL.get(cmd, [])
    for k, v in d.items():
        out += [k] if v is None else [k, v]
    return out


def check_json(name, out):
    try:
        doc = json.loads(out)  # exactly one document: trailing text fails here
    except ValueError as e:
        fail("%s --json: not one JSON document (%s): %r" % (name, e, out[:300]))
        return None
    missing = KEYS[name] - set(doc)
    if missing:
        fail("%s --json: keys missing: %s" % (name, sorted(missing)))
    for (cmd, arr), keys in ITEM_KEYS.items():
        if cmd == name:
            for item in doc.get(arr) or []:
                if "error" in item and item.get("error") and cmd == "info":
                    continue
                if keys - set(item):
                    fail("%s --json: %s entry lacks %s" % (name, arr, sorted(keys - set(item))))
                    break
    return doc


def usage_error(name, args, rc, err, mention):
    prefix = "safeconv %s: " % name.split()[0]
    if rc != 2:
        fail("%s: exit %d, want 2 (usage error): %s" % (" ".join(args), rc, err.strip()))
    elif not err.startswith(prefix):
        fail("%s: stderr does not start with %r: %r" % (" ".join(args), prefix, err[:200]))
    elif mention and mention not in err:
        fail("%s: message does not name %s: %r" % (" ".join(args), mention, err[:200]))


def options_of(cmd):
    rc, out, err = run([cmd, "--help"])
    if rc != 0 or err or not out.startswith("usage: safeconv " + cmd):
        fail("%s --help: exit %d, stderr %r, stdout %r" % (cmd, rc, err, out[:80]))
    return sorted(set(re.findall(r"(--[a-z][a-z-]*)", out))), out


def walk(cmd):
    opts, help_text = options_of(cmd)
    base = BASE[cmd]
    for opt in opts:
        if opt not in SAMPLES:
            fail("%s --help lists %s, which tests/cli/check.py has no sample value for"
                 % (cmd, opt))
            continue
        if opt in ("--help", "--json"):
            continue
        good, bad = SAMPLES[opt]
        flag = good is None
        args = args_of(cmd, base, opt, good, flag)
        if (cmd, opt) in NEEDS_GPU and GPU:  # run it on GPU 0
            args = args_of(cmd, dict(base, **{"--device": "0"}), opt, good, flag)
        rc, out, err = run(args + ["--json"])
        if (cmd, opt) in NEEDS_GPU and not GPU:
            usage_error(cmd, args, rc, err, opt)
        elif rc != 0:
            fail("%s: exit %d: %s" % (" ".join(args + ["--json"]), rc, err.strip()[-300:]))
        else:
            check_json(" ".join([cmd] + POSITIONAL.get(cmd, [])), out)
        if flag:
            a = args_of(cmd, base) + [opt + "=x"]
            rc, out, err = run(a)
            usage_error(cmd, a, rc, err, opt)
            continue
        a = args_of(cmd, base) + [opt]  # the value missing at the end
        rc, out, err = run(a)
        usage_error(cmd, a, rc, err, opt)
        if "needs a value" not in err:
            fail("%s: %r" % (" ".join(a), err))
        if bad is not None:
            a = args_of(cmd, base, opt, bad)
            rc, out, err = run(a)
            usage_error(cmd, a, rc, err, opt)
    for extra in (["--no-such-option"], ["stray"]):
        a = args_of(cmd, base) + extra
        rc, out, err = run(a)
        usage_error(cmd, a, rc, err, extra[0])
    return help_text


def main():
    rc, out, err = run(["--help"])
    if rc != 0 or not out.startswith("usage: safeconv") or err:
        fail("safeconv --help: exit %d" % rc)
    rc, out, err = run([])
    if rc != 2 or out:
        fail("safeconv (no command): exit %d, want 2 and nothing on stdout" % rc)
    rc, out, err = run(["frobnicate"])
    if rc != 2 or not err.startswith("safeconv: unknown command 'frobnicate'"):
        fail("safeconv frobnicate: exit %d %r" % (rc, err))
    rc, out, err = run(["help", "verify"])
    if rc != 0 or not out.startswith("usage: safeconv verify"):
        fail("safeconv help verify: exit %d" % rc)
    commands = re.findall(r"^  ([a-z]+) ", run(["--help"])[1], re.M)
    if set(commands) != set(BASE):
        fail("safeconv --help lists %s; this check knows %s" % (commands, sorted(BASE)))
    helps = {cmd: walk(cmd) for cmd in commands}
    # A plain run (no --json) of each command works too.
    for cmd in commands:
        a = args_of(cmd, BASE[cmd])
        rc, out, err = run(a)
        if rc != 0:
            fail("%s: exit %d: %s" % (" ".join(a), rc, err.strip()[-300:]))
    # cache's other subcommands, and rows in show after the probes above (the probes write rows
    # only through a vendor: without the fault plugin, which make test-c builds, say so).
    if not os.path.exists(FAULT):
        print("note: %s missing (make fault-vendor): the cache-row checks are not run" % FAULT)
    for sub in ("path", "show", "clear"):
        rc, out, err = run(["cache", sub, "--cache", CACHE, "--json"])
        if rc != 0:
            fail("cache %s --json: exit %d %s" % (sub, rc, err))
            continue
        doc = check_json("cache " + sub, out)
        if not os.path.exists(FAULT):
            continue
        if doc and sub == "show" and not doc["rows"]:
            fail("cache show --json: no rows after the probes")
        if doc and sub == "clear" and doc["removed"] < 1:
            fail("cache clear --json: removed %r" % doc["removed"])
    rc, out, err = run(["cache", "--cache", CACHE])
    usage_error("cache", ["cache"], rc, err, "path, show or clear")
    # probe: --help lists the outcomes the totals line counts, in its order.
    try:
        m = re.search(r"Outcomes:([^.]*)\.", helps["probe"])
        listed = m.group(1).replace(",", " ").split() if m else []
        rc, out, err = run(args_of("probe", BASE["probe"]))
        counted = re.findall(r" ([a-z-]+) \d+", out.splitlines()[-1].split(":", 1)[1])
        if not listed or listed != counted:
            fail("probe --help lists outcomes %s, its totals count %s" % (listed, counted))
        rc, out, err = run(args_of("probe", BASE["probe"]) + ["--json"])
        doc = json.loads(out)
        if set(doc["outcomes"]) - {"seen", "unknown"} != set(listed):
            fail("probe --json outcomes %s, --help lists %s" % (sorted(doc["outcomes"]), listed))
        # verify --json: a check's seed replays it (seeds are strings "0x...").
        rc, out, err = run(["verify", "--count", "1", "--device", "cpu", "--seed", "3",
                            "--verbose", "--json"])
        seed = json.loads(out)["checks"][0]["seed"]
        rc, out, err = run(["verify", "--replay", seed, "--device", "cpu", "--json"])
        if rc != 0 or json.loads(out)["replay"] != seed:
            fail("verify --replay %s: exit %d" % (seed, rc))
        # verify's replay hint names every option that shapes the drawn layer: a failure
        # (a GPU algorithm forced on the CPU fails every check) replayed as the hint says draws
        # the same layer (--large is not the CPU's default here, so a hint without it would
        # draw another).
        first = ["verify", "--device", "cpu", "--count", "3", "--seed", "11", "--large", "60",
                 "--shape-class", "stem", "--layout", "nhwc", "--dtype", "bf16",
                 "--direction", "forward", "--algo", "gpu_winograd"]
        rc, out, err = run(first)
        fails = re.findall(r"^FAIL +\S+ +(.*?)  err .* seed (0x[0-9a-f]+)", out, re.M)
        hint = re.search(r"^replay one with: safeconv verify --replay SEED(.*) \(add", out, re.M)
        if rc != 1 or len(fails) != 3 or not hint:
            fail("verify with a forced GPU algorithm on the CPU: exit %d, %d failures, hint %s"
                 % (rc, len(fails), bool(hint)))
        else:
            for layer, seed in fails:
                rc, out, err = run(["verify", "--replay", seed, "--direction", "forward"]
                                   + hint.group(1).split())
                again = re.findall(r"^FAIL +\S+ +(.*?)  err", out, re.M)
                if again != [layer]:
                    fail("verify's replay hint%s on seed %s drew %s, the failure was %s"
                         % (hint.group(1), seed, again, layer))
    except (ValueError, KeyError, IndexError) as e:
        fail("probe outcomes / verify replay: %r" % e)
    if failures:
        print("cli check: %d FAILED" % len(failures))
        return 1
    print("cli check: ok (%d commands, GPU %s)" % (len(commands), "yes" if GPU else "no"))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        import shutil
        shutil.rmtree(TMP, ignore_errors=True)
