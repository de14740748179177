#!/usr/bin/python3
"""scripts/install-deps.sh's groups against what each purpose needs:

- run (scripts/demo.sh) has no test, training or benchmark package;
- test adds to run, train to test, deb and bench to run;
- deb holds every Build-Depends of debian/control outside the nocheck
  profile, test every one (so the package also builds with its tests);
- demo.sh installs run, test.sh test, build-deb.sh deb.

    test-deps.py --source-dir SRC
"""
import argparse
import os
import re
import subprocess
import sys

# Packages a demo user must not get: tests, training, benchmarks, packaging.
NOT_FOR_RUNNING = {"python3-torch", "python3-onnx", "python3-numpy", "python3-pil",
                   "python3-matplotlib", "nodejs", "npm", "debhelper"}
# Build-Depends names that are provided by another package.
PROVIDED_BY = {"debhelper-compat": "debhelper", "dh-sequence-gir": "gobject-introspection"}


def group(source_dir, name):
    result = subprocess.run(["bash", os.path.join(source_dir, "scripts", "install-deps.sh"),
                             "--list", name], capture_output=True, text=True, check=True)
    return result.stdout.split()


def build_depends(source_dir):
    """(always, nocheck only) package names of debian/control's Build-Depends."""
    with open(os.path.join(source_dir, "debian", "control"), encoding="utf-8") as control:
        text = control.read()
    field = re.search(r"^Build-Depends:(.*?)^\S", text, re.M | re.S).group(1)
    always, for_tests = set(), set()
    for entry in field.split(","):
        entry = entry.strip()
        if not entry:
            continue
        name = PROVIDED_BY.get(entry.split()[0], entry.split()[0])
        (for_tests if "<!nocheck>" in entry else always).add(name)
    return always, for_tests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    args = parser.parse_args()
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)
            print("FAIL:", message)

    groups = {name: group(args.source_dir, name) for name in ("run", "test", "train", "deb", "bench")}
    for name, packages in groups.items():
        print(f"{name}: {len(packages)} packages")
        check(len(packages) == len(set(packages)), f"{name} lists a package twice")
    run, test = set(groups["run"]), set(groups["test"])
    check(not run & NOT_FOR_RUNNING, f"run installs {sorted(run & NOT_FOR_RUNNING)}")
    check(run <= test, f"test lacks {sorted(run - test)} of run")
    check(test <= set(groups["train"]), f"train lacks {sorted(test - set(groups['train']))}")
    check("python3-matplotlib" in groups["train"], "train lacks python3-matplotlib")
    for name in ("deb", "bench"):
        check(run <= set(groups[name]), f"{name} lacks {sorted(run - set(groups[name]))} of run")

    always, for_tests = build_depends(args.source_dir)
    check(always <= set(groups["deb"]),
          f"deb lacks Build-Depends {sorted(always - set(groups['deb']))}")
    check(always | for_tests <= test,
          f"test lacks Build-Depends {sorted((always | for_tests) - test)}")

    for script, wanted in (("demo.sh", "run"), ("test.sh", "test"), ("build-deb.sh", "deb")):
        with open(os.path.join(args.source_dir, "scripts", script), encoding="utf-8") as text:
            code = [line for line in text if not line.lstrip().startswith("#")]
        calls = [call for line in code for call in re.findall(r"install-deps\.sh\s+([a-z]+)", line)]
        check(calls == [wanted], f"{script} installs {calls}, expected [{wanted!r}]")

    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("PASS: install-deps.sh groups fit their purposes and debian/control")
    return 0


if __name__ == "__main__":
    sys.exit(main())
