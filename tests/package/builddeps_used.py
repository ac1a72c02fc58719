#!/usr/bin/env python3
"""builddeps_used.py CONTROL TRACE_DIR: are debian/control's Build-Depends
exactly what the build used?

TRACE_DIR holds `strace -ff -z -e trace=openat,execve` of the whole
dpkg-buildpackage run. Every file it opened or executed that a package owns
must come from a package that Build-Depends (with build-essential and the
Essential set, which every Debian build may assume) brings in through
Depends and Pre-Depends; and every package Build-Depends names must have
had a file of its own used. A dependency installed on this machine for some
other reason (the test suite's) would let a build pass here and fail on a
clean builder: this is what says so, without building a chroot.
Prints one line per problem; exit 1 when there is any.
"""
import glob
import os
import re
import subprocess
import sys


def parse_relations(text):
    """Package names of a relation field, every alternative, build profiles
    and arch qualifiers stripped. [(alternatives...)] per clause."""
    clauses = []
    for clause in text.split(","):
        clause = re.sub(r"<[^>]*>", "", clause).strip()
        if not clause:
            continue
        alts = []
        for alt in clause.split("|"):
            name = re.sub(r"\(.*?\)|\[.*?\]", "", alt).strip().split(":")[0]
            if name:
                alts.append(name)
        clauses.append(alts)
    return clauses


def build_depends(control):
    text = open(control, encoding="utf-8").read()
    m = re.search(r"^Build-Depends:(.*?)(?=^\S)", text, re.M | re.S)
    if not m:
        sys.exit(f"{control}: no Build-Depends")
    body = "\n".join(l for l in m.group(1).splitlines() if not l.lstrip().startswith("#"))
    return parse_relations(body)


def installed():
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Essential}\t"
         "${Provides}\t${Depends}\t${Pre-Depends}\n"],
        check=True, capture_output=True, text=True).stdout
    pkgs, provides = {}, {}
    for line in out.splitlines():
        status, name, essential, prov, dep, predep = line.split("\t")
        if not status.startswith("ii"):
            continue
        pkgs[name] = (essential == "yes", parse_relations(dep) + parse_relations(predep))
        for alts in parse_relations(prov):
            for p in alts:
                provides.setdefault(p, set()).add(name)
    return pkgs, provides


def resolve(name, pkgs, provides):
    found = set()
    if name in pkgs:
        found.add(name)
    found |= provides.get(name, set())
    return found


def closure(roots, pkgs, provides):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for alts in pkgs[p][1]:
            for a in alts:
                todo.extend(resolve(a, pkgs, provides) - seen)
    return seen


def owners():
    """Path -> package, from dpkg's file lists, under both spellings of a
    merged-/usr path (/lib/x and /usr/lib/x are one file)."""
    owner = {}
    for lst in glob.glob("/var/lib/dpkg/info/*.list"):
        pkg = os.path.basename(lst)[:-5].split(":")[0]
        with open(lst, encoding="utf-8", errors="replace") as f:
            for path in f:
                path = path.rstrip("\n")
                if os.path.isdir(path) and not os.path.islink(path):
                    continue
                owner.setdefault(path, pkg)
    return owner


def spellings(path):
    yield path
    for top in ("/lib", "/bin", "/sbin", "/lib64"):
        if path.startswith(top + "/"):
            yield "/usr" + path
        if path.startswith("/usr" + top + "/"):
            yield path[4:]


# Files a build reads when they are there and does without when they are
# not: a clean builder lacks them and builds the same. Anything else the
# build opens must be declared.
READ_IF_PRESENT = {
    "libc6-i386": "dpkg-shlibdeps looks at every libc.so.6 on the library path",
    "libfakeroot": "ld reads every /etc/ld.so.conf.d file for its search path",
    "libfile-fcntllock-perl": "dpkg-dev locks with it when installed, else with flock",
    "liblocale-gettext-perl": "debhelper and dpkg translate messages with it when installed",
    "libnss-systemd": "user and group lookups go through /etc/nsswitch.conf's modules",
    "locales": "setlocale reads /etc/locale.alias when present",
    "tzdata": "localtime reads /usr/share/zoneinfo when present",
}

CALL = re.compile(r'^(?:openat\((?:AT_FDCWD|\d+), |execve\()"((?:[^"\\]|\\.)*)"')


def traced_paths(trace_dir):
    paths = set()
    for f in glob.glob(os.path.join(trace_dir, "*")):
        with open(f, encoding="utf-8", errors="replace") as t:
            for line in t:
                m = CALL.match(line)
                if m and m.group(1).startswith("/"):
                    paths.add(m.group(1))
    return paths


def main():
    control, trace_dir = sys.argv[1], sys.argv[2]
    pkgs, provides = installed()
    direct = build_depends(control)
    roots = {p for p, (ess, _) in pkgs.items() if ess} | resolve("build-essential", pkgs, provides)
    problems = []
    named = {}
    for alts in direct:
        got = set()
        for a in alts:
            got |= resolve(a, pkgs, provides)
        if not got:
            problems.append(f"Build-Depends names {' | '.join(alts)}, which is not installed")
        named[" | ".join(alts)] = got
        roots |= got
    allowed = closure(roots, pkgs, provides)
    owner = owners()
    used = {}
    for path in traced_paths(trace_dir):
        for candidate in {path, os.path.realpath(path)}:
            for s in spellings(candidate):
                if s in owner:
                    used.setdefault(owner[s], s)
                    break
    for pkg, path in sorted(used.items()):
        if pkg not in allowed and pkg not in READ_IF_PRESENT:
            problems.append(f"the build used {path} from {pkg}, which Build-Depends does not bring in")
    for clause, got in named.items():
        if got and not got & used.keys():
            problems.append(f"Build-Depends names {clause}, but the build used no file of it")
    for p in problems:
        print(p)
    print(f"builddeps: {len(used)} packages used, {len(named)} named, {len(problems)} problems",
          file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
