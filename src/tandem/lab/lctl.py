"""A stand-in for Lustre's `lctl`, for lab tests only: the lab machine has no Lustre.

This is not lctl. It imitates three answers of the real one, about the "targets" that
are mounted in the caller's mount namespace: ext4 (or ldiskfs) file systems whose
label is a Lustre target name (FSNAME-OSTxxxx, FSNAME-MDTxxxx, MGS), which is how
mkfs.lustre labels a real ldiskfs target and how the lab formats its stand-ins.

- `lctl get_param [-n] health_check` prints `healthy`, or, while the marker file
  STATE/health exists, its first line (`NOT HEALTHY` if the file is empty). The real
  file says `healthy`, `NOT HEALTHY` or `LBUG` for the whole node.
- `lctl get_param [-n] obdfilter.NAME.recovery_status` (an OST) and
  `mdt.NAME.recovery_status` (an MDT), glob patterns allowed as in the real lctl: the
  text of STATE/recovery/NAME if that file exists, else `status: INACTIVE` (no client
  ever connected, which is what a new target says). Without -n, a value is preceded by
  `PARAM=` (and a newline when it spans lines), as the real lctl prints it.
- `lctl dl` lists one osd and one target device per mounted target, `UP`.

A parameter that matches nothing gets the real tool's error and exit status 2. While
the marker STATE/hang exists, every command first sleeps as many seconds as it holds
(an hour if empty): a Lustre server that hangs. STATE is $TANDEM_LCTL_DIR, else
/run/tandem/lctl, which is private to each lab node. Anything else is refused.

Run as `python -m tandem.lab.lctl ARGS...`; lab tests install a two-line `lctl`
script that runs it into a node's PATH.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tandem.hpc.lustre.mmp import MmpError, read_superblock
from tandem.hpc.lustre.recovery import TARGET_RE, recovery_param, target_kind
from tandem.resources.mounts import mounts

DEFAULT_STATE = "/run/tandem/lctl"
STAND_IN_TYPES = ("ext4", "ldiskfs")
HANG_DEFAULT_S = 3600.0
_DEVICE_TYPE = {"OST": "obdfilter", "MDT": "mdt", "MGS": "mgs"}


def state_dir() -> Path:
    return Path(os.environ.get("TANDEM_LCTL_DIR", DEFAULT_STATE))


def mounted_targets() -> list[str]:
    """Names of the stand-in targets mounted in this mount namespace, in mount order."""
    found: list[str] = []
    for mount in mounts():
        if mount.fstype not in STAND_IN_TYPES or not mount.source.startswith("/dev/"):
            continue
        try:
            label = read_superblock(mount.source).label
        except (MmpError, OSError):
            continue
        if TARGET_RE.match(label) and label not in found:
            found.append(label)
    return found


def parameters(state: Path) -> dict[str, str]:
    """Every parameter this stand-in knows now, with its value."""
    marker = state / "health"
    if marker.exists():
        lines = marker.read_text().splitlines()
        health = lines[0].strip() if lines and lines[0].strip() else "NOT HEALTHY"
    else:
        health = "healthy"
    values = {"health_check": health}
    for name in mounted_targets():
        param = recovery_param(name)
        if param is None:
            continue
        text = state / "recovery" / name
        values[param] = (text.read_text().rstrip("\n") if text.exists()
                         else "status: INACTIVE")
    return values


def get_param(args: Sequence[str], state: Path) -> int:
    bare = "-n" in args
    patterns = [a for a in args if not a.startswith("-")]
    if not patterns:
        print("get_param: no parameter given", file=sys.stderr)
        return 2
    known = parameters(state)
    status = 0
    for pattern in patterns:
        hits = [name for name in known if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            print(f"error: get_param: param_path '{pattern}': No such file or directory",
                  file=sys.stderr)
            status = 2
        for name in hits:
            value = known[name]
            if bare:
                print(value)
            else:
                print(f"{name}=" + ("\n" if "\n" in value else "") + value)
    return status


def device_list() -> int:
    index = 0
    for name in mounted_targets():
        kind = target_kind(name)
        for dev_type, dev_name, refs in (("osd-ldiskfs", f"{name}-osd", 4),
                                         (_DEVICE_TYPE[kind], name, 5)):
            print(f"{index:3d} UP {dev_type} {dev_name} {dev_name}_UUID {refs}")
            index += 1
    return 0


def _hang(state: Path) -> None:
    marker = state / "hang"
    if marker.exists():
        text = marker.read_text().strip()
        time.sleep(float(text) if text else HANG_DEFAULT_S)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    state = state_dir()
    _hang(state)
    if args[:1] == ["get_param"]:
        return get_param(args[1:], state)
    if args[:1] in (["dl"], ["device_list"]):
        return device_list()
    print(f"lctl (tandem lab stand-in): unsupported command {' '.join(args)!r}; only "
          f"get_param health_check / *.recovery_status and dl are imitated", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
